import { randomUUID } from 'node:crypto';
import { beforeAll, beforeEach, expect, it } from 'vitest';
import { fromDbTime } from '../../src/db/dialect.js';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api } from '../helpers/api.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { installPushCertificate } from '../helpers/apns.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const secret = 'orbit-config-secret';

describeEachDialect('orbit config', (server) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = server();
    const s = srv.app.services;
    await s.enrollSecrets.replace(null, null, [secret]);
    await s.appConfig.patch({ server_settings: { server_url: srv.url } });
    await installPushCertificate(s, { topic: testTopic });
  });

  const s = () => srv.app.services;
  const db = () => srv.app.services.database.db;

  /** Switches back to a known baseline before each test (each test sets what it needs). */
  beforeEach(async () => {
    await s().appConfig.patch({
      mdm: {
        enabled_and_configured: false,
        windows_enabled_and_configured: false,
        windows_migration_enabled: false,
        enable_disk_encryption: false,
        macos_migration: { enable: false, mode: '', webhook_url: '' },
      },
    });
    s().windows.invalidateEnabled();
    s().orbit.now = Date.now;
  });

  const setMdm = async (mdm: Record<string, unknown>) => {
    await s().appConfig.patch({ mdm });
    s().windows.invalidateEnabled();
  };

  async function enrollOrbit(
    fields: Record<string, string> = {},
  ): Promise<{ key: string; hostId: number; uuid: string }> {
    const uuid = fields.hardware_uuid ?? randomUUID().toUpperCase();
    const res = await api(srv, 'POST', '/api/fleet/orbit/enroll', {
      body: { enroll_secret: secret, hardware_uuid: uuid, platform: 'darwin', ...fields },
    });
    expect(res.status).toBe(200);
    const host = await s().hostStore.findByOrbitNodeKey(res.body.orbit_node_key);
    return { key: res.body.orbit_node_key, hostId: host!.id, uuid };
  }

  async function config(key: string, capabilities?: string) {
    const res = await api(srv, 'POST', '/api/fleet/orbit/config', {
      body: { orbit_node_key: key },
      headers: capabilities === undefined ? {} : { 'X-Fleet-Capabilities': capabilities },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-fleet-capabilities')).toBe(
      'orbit_endpoints,token_rotation,end_user_email,escrow_buddy',
    );
    return res.body;
  }

  it('agent options: the global ones, or the team’s when it has its own; only what is set is sent', async () => {
    const { key, hostId } = await enrollOrbit();
    // Fleet's default agent options set none of orbit's keys: only notifications are sent.
    expect(await config(key)).toEqual({ notifications: {} });

    await s().appConfig.patch({
      agent_options: {
        config: { options: { distributed_interval: 10 } },
        script_execution_timeout: 600,
        command_line_flags: { verbose: true, disable_watchdog: false },
        update_channels: { orbit: 'edge', osqueryd: 'stable' },
        extensions: {
          mac_ext: { platform: 'macos', channel: 'stable' },
          mac_labelled: { platform: 'macos', channel: 'edge', labels: ['macOS', 'All Hosts'] },
          mac_other_label: { platform: 'macos', channel: 'edge', labels: ['No Such Label'] },
          linux_ext: { platform: 'linux', channel: 'stable' },
          win_ext: { platform: 'windows', channel: 'stable' },
        },
      },
    });
    const body = await config(key);
    expect(body).toEqual({
      script_execution_timeout: 600,
      command_line_startup_flags: { verbose: true, disable_watchdog: false },
      extensions: {
        mac_ext: { platform: 'macos', channel: 'stable' },
        mac_labelled: { platform: 'macos', channel: 'edge' },
      },
      notifications: {},
      update_channels: { orbit: 'edge', osqueryd: 'stable', desktop: '' },
    });
    expect(Object.keys(body)).toEqual([
      'script_execution_timeout',
      'command_line_startup_flags',
      'extensions',
      'notifications',
      'update_channels',
    ]);

    // Linux and Windows extensions follow the CPU type osquery reported (Fleet's mapping).
    const linux = await enrollOrbit({ platform: 'ubuntu' });
    expect((await config(linux.key)).extensions).toBeUndefined();
    await db().updateTable('hosts').set({ cpu_type: 'x86_64' }).where('id', '=', linux.hostId).execute();
    expect((await config(linux.key)).extensions).toEqual({
      linux_ext: { platform: 'linux', channel: 'stable' },
    });
    const win = await enrollOrbit({ platform: 'windows' });
    expect((await config(win.key)).extensions).toEqual({
      win_ext: { platform: 'windows', channel: 'stable' },
    });
    await db().updateTable('hosts').set({ cpu_type: 'arm64' }).where('id', '=', win.hostId).execute();
    expect((await config(win.key)).extensions).toBeUndefined();

    // A team with its own agent options uses them; the global ones no longer apply.
    const teamId = await s().teamStore.create({
      name: `agent-options-${randomUUID().slice(0, 6)}`,
      description: '',
      config: { agent_options: { command_line_flags: { team_flag: 1 } } },
    });
    await db().updateTable('hosts').set({ team_id: teamId }).where('id', '=', hostId).execute();
    expect(await config(key)).toEqual({ command_line_startup_flags: { team_flag: 1 }, notifications: {} });
    // A team without agent options falls back to the global ones.
    const plain = await s().teamStore.create({
      name: `plain-${randomUUID().slice(0, 6)}`,
      description: '',
      config: {},
    });
    await db().updateTable('hosts').set({ team_id: plain }).where('id', '=', hostId).execute();
    expect((await config(key)).script_execution_timeout).toBe(600);
    await s().appConfig.patch({ agent_options: { config: {} } });
  });

  it('Windows: enrollment while Windows MDM is on and the PC is in no MDM; unenrollment once it is off', async () => {
    const pc = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret: secret, keyBits: 1024 });
    await pc.orbitEnroll();
    expect((await pc.orbitConfig()).notifications).toEqual({});
    await setMdm({ windows_enabled_and_configured: true });
    const cfg = await pc.orbitConfig();
    expect(cfg.notifications).toEqual({
      needs_programmatic_windows_mdm_enrollment: true,
      windows_mdm_discovery_endpoint: `${srv.url}/api/mdm/microsoft/discovery`,
    });
    await pc.enrollProgrammatically(cfg.notifications.windows_mdm_discovery_endpoint as string);
    expect((await pc.orbitConfig()).notifications).toEqual({});
    await setMdm({ windows_enabled_and_configured: false });
    expect((await pc.orbitConfig()).notifications).toEqual({
      needs_programmatic_windows_mdm_unenrollment: true,
    });
    // A Windows Server is never asked to enroll.
    const server = await enrollOrbit({ platform: 'windows' });
    await s().hostStore.upsertHostMdm(server.hostId, {
      enrolled: false,
      server_url: '',
      installed_from_dep: false,
      is_personal_enrollment: false,
      mdm_name: '',
    });
    await db().updateTable('host_mdm').set({ is_server: 1 }).where('host_id', '=', server.hostId).execute();
    await setMdm({ windows_enabled_and_configured: true });
    expect((await config(server.key)).notifications).toEqual({});
  });

  it('Windows migration: a PC in another MDM is asked to migrate and its critical-query window opens once', async () => {
    const pc = await enrollOrbit({ platform: 'windows' });
    await s().hostStore.upsertHostMdm(pc.hostId, {
      enrolled: true,
      server_url: 'https://manage.microsoft.com/',
      installed_from_dep: false,
      is_personal_enrollment: false,
      mdm_name: 'Intune',
    });
    await setMdm({ windows_enabled_and_configured: true });
    expect((await config(pc.key)).notifications).toEqual({});
    const until = async () =>
      (
        await db()
          .selectFrom('hosts')
          .select('refetch_critical_queries_until')
          .where('id', '=', pc.hostId)
          .executeTakeFirstOrThrow()
      ).refetch_critical_queries_until;
    expect(await until()).toBeNull();

    await setMdm({ windows_enabled_and_configured: true, windows_migration_enabled: true });
    const t0 = Date.UTC(2030, 0, 1, 12, 0, 0);
    s().orbit.now = () => t0;
    expect((await config(pc.key)).notifications).toEqual({ needs_mdm_migration: true });
    expect(fromDbTime(await until())?.getTime()).toBe(t0 + 3 * 60 * 1000);
    // Asked again later: still migrating, the window is not moved.
    s().orbit.now = () => t0 + 60_000;
    expect((await config(pc.key)).notifications).toEqual({ needs_mdm_migration: true });
    expect(fromDbTime(await until())?.getTime()).toBe(t0 + 3 * 60 * 1000);
  });

  it('macOS manual migration: Apple MDM on, migration enabled, a recent Mac enrolled by hand elsewhere', async () => {
    const mac = await enrollOrbit();
    const setMac = async (
      osVersion: string,
      mdm: { enrolled?: boolean; dep?: boolean; name?: string } = {},
    ) => {
      await db().updateTable('hosts').set({ os_version: osVersion }).where('id', '=', mac.hostId).execute();
      await s().hostStore.upsertHostMdm(mac.hostId, {
        enrolled: mdm.enrolled ?? true,
        server_url: 'https://acme.jamfcloud.com/',
        installed_from_dep: mdm.dep ?? false,
        is_personal_enrollment: false,
        mdm_name: mdm.name ?? 'Jamf',
      });
    };
    await setMac('macOS 15.1');
    // Migration needs Apple MDM on and migration enabled.
    expect((await config(mac.key)).notifications).toEqual({});
    await setMdm({ enabled_and_configured: true });
    expect((await config(mac.key)).notifications).toEqual({});
    await setMdm({
      enabled_and_configured: true,
      macos_migration: { enable: true, mode: 'voluntary', webhook_url: '' },
    });
    expect((await config(mac.key)).notifications).toEqual({ needs_mdm_migration: true });

    // Fleet's version test: strictly greater than 14.0.0.
    for (const [v, eligible] of [
      ['macOS 14.0', false],
      ['macOS 14.0.0', false],
      ['macOS 14.1', true],
      ['macOS 13.6.1', false],
      ['macOS 26.0.1', true],
      ['Windows 11', false],
      ['macOS', false],
    ] as const) {
      await setMac(v);
      expect((await config(mac.key)).notifications, v).toEqual(eligible ? { needs_mdm_migration: true } : {});
    }
    // Enrolled through ADE, not enrolled at all, or already on "Fleet" and connected: no migration.
    await setMac('macOS 15.1', { dep: true });
    expect((await config(mac.key)).notifications).toEqual({});
    await setMac('macOS 15.1', { enrolled: false });
    expect((await config(mac.key)).notifications).toEqual({});
    // Reported as Fleet but not connected to us (no device channel): still eligible, as in Fleet.
    await setMac('macOS 15.1', { name: 'Fleet' });
    expect((await config(mac.key)).notifications).toEqual({ needs_mdm_migration: true });
  });

  it('ADE: a Mac ABM assigns to this server is asked to renew its enrollment profile, and to migrate once our profile is assigned', async () => {
    const mac = await enrollOrbit();
    await db().updateTable('hosts').set({ os_version: 'macOS 15.1' }).where('id', '=', mac.hostId).execute();
    const setMdm2 = (enrolled: boolean, name: string) =>
      s().hostStore.upsertHostMdm(mac.hostId, {
        enrolled,
        server_url: name === 'Fleet' ? srv.url : 'https://acme.jamfcloud.com/',
        installed_from_dep: false,
        is_personal_enrollment: false,
        mdm_name: name,
      });
    await setMdm({ enabled_and_configured: true });
    await setMdm2(false, '');
    // Not assigned in ABM: nothing to renew.
    expect((await config(mac.key)).notifications).toEqual({});
    const now = new Date().toISOString().replace('T', ' ').replace('Z', '');
    await db()
      .insertInto('host_dep_assignments')
      .values({
        host_id: mac.hostId,
        added_at: now,
        assign_profile_response: 'FAILED',
        response_updated_at: now,
      })
      .execute();
    expect((await config(mac.key)).notifications).toEqual({ renew_enrollment_profile: true });

    // Enrolled in another MDM: DEP migration needs migration enabled and our ADE profile assigned.
    await setMdm2(true, 'Jamf');
    await setMdm({
      enabled_and_configured: true,
      macos_migration: { enable: true, mode: 'forced', webhook_url: '' },
    });
    expect((await config(mac.key)).notifications).toEqual({});
    await db()
      .updateTable('host_dep_assignments')
      .set({ assign_profile_response: 'SUCCESS' })
      .where('host_id', '=', mac.hostId)
      .execute();
    expect((await config(mac.key)).notifications).toEqual({ needs_mdm_migration: true });

    // ABM no longer assigns it (soft-deleted): neither notification.
    await db()
      .updateTable('host_dep_assignments')
      .set({ deleted_at: now })
      .where('host_id', '=', mac.hostId)
      .execute();
    await setMdm2(false, '');
    expect((await config(mac.key)).notifications).toEqual({});
  });

  it('a Mac connected to Flotilla’s MDM is not asked to migrate; disk encryption adds its notifications, read with the client capabilities', async () => {
    const device = await enrolledDevice(srv, { osVersion: '15.1' });
    const mac = await enrollOrbit({ hardware_uuid: device.udid, hardware_serial: device.serial });
    await setMdm({
      enabled_and_configured: true,
      macos_migration: { enable: true, mode: 'forced', webhook_url: '' },
    });
    const host = await s().hostStore.getById(mac.hostId);
    expect(host?.mdm).toMatchObject({ enrolled: true, mdm_name: 'Fleet' });
    expect((await config(mac.key, 'escrow_buddy,setup_experience')).notifications).toEqual({});

    // FileVault on with nothing escrowed: the key is "not decryptable", so a fleetd that has
    // Escrow Buddy is asked to rotate it; one without the capability is not.
    await setMdm({ enabled_and_configured: true, enable_disk_encryption: true });
    await s().diskEncryption.escrowFileVaultKey(host!, '');
    expect((await config(mac.key)).notifications).toEqual({});
    expect((await config(mac.key, 'setup_experience')).notifications).toEqual({});
    expect((await config(mac.key, 'setup_experience, escrow_buddy')).notifications).toEqual({
      rotate_disk_encryption_key: true,
    });
  });

  it('Windows with disk encryption on: BitLocker is enforced until a key is escrowed', async () => {
    const pc = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret: secret, keyBits: 1024 });
    await pc.orbitEnroll();
    await setMdm({ windows_enabled_and_configured: true });
    await pc.enrollProgrammatically(
      (await pc.orbitConfig()).notifications.windows_mdm_discovery_endpoint as string,
    );
    const host = await s().hostStore.findByUuid(pc.hardwareUuid);
    await db().updateTable('hosts').set({ disk_encryption_enabled: 0 }).where('id', '=', host!.id).execute();
    expect((await pc.orbitConfig()).notifications).toEqual({});
    await setMdm({ windows_enabled_and_configured: true, enable_disk_encryption: true });
    expect((await pc.orbitConfig()).notifications).toEqual({ enforce_bitlocker_encryption: true });
    // The PC encrypts and escrows its recovery password through orbit.
    await db().updateTable('hosts').set({ disk_encryption_enabled: 1 }).where('id', '=', host!.id).execute();
    const key = '123456-234567-345678-456789-567890-678901-789012-890123';
    const res = await api(srv, 'POST', '/api/fleet/orbit/disk_encryption_key', {
      body: {
        orbit_node_key: pc.orbitNodeKey,
        encryption_key: Buffer.from(key).toString('base64'),
        client_error: '',
      },
    });
    expect([res.status, res.text]).toEqual([204, '']);
    expect((await pc.orbitConfig()).notifications).toEqual({});
    const row = await db()
      .selectFrom('host_disk_encryption_keys')
      .selectAll()
      .where('host_id', '=', host!.id)
      .executeTakeFirstOrThrow();
    expect(Number(row.decryptable)).toBe(1);
    expect(row.base64_encrypted).not.toContain(key);
    expect(Buffer.from(row.base64_encrypted, 'base64').toString('latin1')).not.toContain(key);
  });
});
