import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { FakeDepServer } from '../../src/clients/dep/fakeServer.js';
import { dbNow } from '../../src/db/dialect.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { makePkg, uploadPkg } from '../helpers/bootstrapPkg.js';
import { connectAccount, mac, type ConnectedAccount } from '../helpers/dep.js';
import { runCronJob } from '../helpers/fleetd.js';
import { mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect } from '../helpers/testServer.js';

const dep = await FakeDepServer.start();
const apns = await startFakeApns();
afterAll(async () => {
  await dep.close();
  await apns.fake.close();
});

const v1 = '/api/v1/fleet';

describeEachDialect(
  'ADE setup experience end to end',
  (server) => {
    let admin: string;
    let token: string;

    const services = () => server().app.services;
    const db = () => services().database.db;
    const enrollUrl = (extra = '') => `${server().url}/api/mdm/apple/enroll?token=${token}${extra}`;
    const hold = (uuid: string) =>
      db()
        .selectFrom('host_mdm_apple_awaiting_configuration')
        .selectAll()
        .where('host_uuid', '=', uuid)
        .executeTakeFirst();
    const hostsWithSerial = (serial: string) =>
      db().selectFrom('hosts').selectAll().where('hardware_serial', '=', serial).execute();
    const bootstrapRow = (uuid: string) =>
      db()
        .selectFrom('host_mdm_apple_bootstrap_packages')
        .selectAll()
        .where('host_uuid', '=', uuid)
        .executeTakeFirst();

    /** A team with a profile, a bootstrap package, and an ABM token whose Macs land in it. */
    async function setupTeam(name: string, opts: { pkg?: boolean } = {}) {
      const team = await createTeam(server(), admin, name);
      const ident = `com.example.${randomUUID().slice(0, 8)}`;
      const up = await uploadProfile(
        server(),
        admin,
        { name: 'dock.mobileconfig', bytes: mobileconfig(ident, `Dock ${name}`) },
        { team_id: String(team) },
      );
      expect(up.status).toBe(200);
      const pkg = makePkg({ heapBytes: 1_500_000 });
      if (opts.pkg !== false) {
        const r = await uploadPkg(
          server(),
          admin,
          { name: `${name}.pkg`, bytes: pkg },
          { team_id: String(team) },
        );
        expect(r.status).toBe(200);
      }
      const acct = await connectAccount(server(), admin, dep, { macos: team });
      return { team, ident, pkg, acct };
    }

    /** A Mac assigned in ABM and synced: the pending host the device will become. */
    async function pendingMac(acct: ConnectedAccount) {
      const d = mac();
      dep.addDevices(acct.credentials.consumer_key, [d]);
      expect((await services().appleDep.sync.syncToken(acct.tokenId)).ok).toBe(true);
      const [placeholder] = await hostsWithSerial(d.serial_number);
      expect(placeholder).toMatchObject({ uuid: '', platform: 'darwin' });
      return { serial: d.serial_number, placeholderId: placeholder.id };
    }

    /** The profile manager's pass, then the device's session, a few times (each step is a request). */
    async function converge(device: SimulatedAppleDevice, rounds = 3) {
      for (let i = 0; i < rounds; i++) {
        await services().profileManager.tick();
        await device.connect();
      }
    }

    beforeAll(async () => {
      admin = await setupAdmin(server());
      await services().appConfig.patch({ server_settings: { server_url: server().url } });
      await installPushCertificate(services());
      token = await services().appleDep.automaticEnrollmentToken();
    });

    it('ABM token → sync → pending host → ADE enrollment → profiles and bootstrap package → DeviceConfigured', async () => {
      const { team, ident, pkg, acct } = await setupTeam('Story');
      const { serial, placeholderId } = await pendingMac(acct);

      const device = new SimulatedAppleDevice({ serverUrl: server().url, serial });
      await device.adeEnroll(enrollUrl());
      expect(device.awaitingConfiguration).toBe(true);

      // The pending host became the device: same row, the device's UDID, MDM on from ADE.
      const hosts = await hostsWithSerial(serial);
      expect(hosts).toHaveLength(1);
      expect(hosts[0]).toMatchObject({ id: placeholderId, uuid: device.udid, team_id: team });
      const listed = await api(server(), 'GET', `${v1}/hosts/${placeholderId}`, { token: admin });
      expect(listed.body.host.mdm).toMatchObject({
        enrollment_status: 'On (automatic)',
        connected_to_fleet: true,
      });
      const acts = await api(server(), 'GET', `${v1}/hosts/${placeholderId}/activities`, { token: admin });
      expect(acts.body.activities.find((a: { type: string }) => a.type === 'mdm_enrolled')).toMatchObject({
        details: { host_serial: serial, installed_from_dep: true, mdm_platform: 'apple' },
      });

      // Held in Setup Assistant with the bootstrap package queued; nothing settled yet.
      expect(await hold(device.udid)).toMatchObject({
        awaiting_configuration: expect.anything(),
        team_id: team,
        release_command_uuid: null,
        bootstrap_command_uuid: expect.any(String),
      });
      expect(Number((await hold(device.udid))!.awaiting_configuration)).toBe(1);
      expect((await bootstrapRow(device.udid))?.status).toBe('pending');
      const summary = () => api(server(), 'GET', `${v1}/bootstrap/summary?team_id=${team}`, { token: admin });
      expect((await summary()).body).toEqual({ installed: 0, pending: 1, failed: 0 });
      await runCronJob(server(), 'apple_mdm_dep_release_devices');
      expect((await hold(device.udid))!.release_command_uuid).toBeNull();

      // The device takes the team's profile and downloads, checks and installs the package.
      await converge(device);
      expect(device.profiles.has(ident)).toBe(true);
      expect(device.installedPackages).toEqual([
        expect.objectContaining({ size: pkg.length, sha256: createHash('sha256').update(pkg).digest('hex') }),
      ]);
      expect(device.installedPackages[0].url).toMatch(/\/api\/latest\/fleet\/mdm\/bootstrap\?token=/);
      expect((await bootstrapRow(device.udid))?.status).toBe('installed');
      expect(device.awaitingConfiguration).toBe(true);

      // Everything settled: the release job sends DeviceConfigured and the device leaves the hold.
      await runCronJob(server(), 'apple_mdm_dep_release_devices');
      expect((await hold(device.udid))!.release_reason).toBe('completed');
      await device.connect();
      expect(device.received.at(-1)?.requestType).toBe('DeviceConfigured');
      expect(device.awaitingConfiguration).toBe(false);
      const done = (await hold(device.udid))!;
      expect(Number(done.awaiting_configuration)).toBe(0);
      expect(done.configured_at).not.toBeNull();
      expect(await services().appleAde.setup.releaseDevices()).toEqual({ released: 0, timedOut: 0 });

      // What the admin sees.
      expect((await summary()).body).toEqual({ installed: 1, pending: 0, failed: 0 });
      const detail = await api(server(), 'GET', `${v1}/hosts/${placeholderId}`, { token: admin });
      expect(detail.body.host.mdm.macos_setup).toEqual({
        bootstrap_package_status: 'installed',
        detail: '',
        bootstrap_package_name: 'Story.pkg',
      });
      const filtered = await api(server(), 'GET', `${v1}/hosts?team_id=${team}&bootstrap_package=installed`, {
        token: admin,
      });
      expect(filtered.body.hosts.map((h: { id: number }) => h.id)).toEqual([placeholderId]);
    });

    it('releases a device that never finishes once the setup timeout has passed', async () => {
      const { acct } = await setupTeam('Silent');
      const { serial } = await pendingMac(acct);
      const device = new SimulatedAppleDevice({ serverUrl: server().url, serial });
      await device.adeEnroll(enrollUrl());
      // The device never checks in again. Not yet timed out: still held.
      expect(await services().appleAde.setup.releaseDevices()).toEqual({ released: 0, timedOut: 0 });
      // Time passes (the hold started longer ago than the timeout).
      const timeout = server().config.appleSetupReleaseTimeoutSeconds;
      await db()
        .updateTable('host_mdm_apple_awaiting_configuration')
        .set({ started_at: dbNow(-(timeout + 60) * 1000) })
        .where('host_uuid', '=', device.udid)
        .execute();
      expect(await services().appleAde.setup.releaseDevices()).toEqual({ released: 1, timedOut: 1 });
      expect((await hold(device.udid))!.release_reason).toBe('timeout');
      const warned = server().logLines!.find(
        (l) => l.host_uuid === device.udid && String(l.msg).includes('released after the setup timeout'),
      );
      expect(warned).toMatchObject({ timeout_seconds: timeout });
      // When it does come back it gets DeviceConfigured (with what was still queued) and leaves.
      await device.connect();
      expect(device.received.map((c) => c.requestType)).toContain('DeviceConfigured');
      expect(device.awaitingConfiguration).toBe(false);
      expect(await services().appleAde.setup.releaseDevices()).toEqual({ released: 0, timedOut: 0 });
    });

    it('leaves the release to the admin when the team releases devices manually', async () => {
      const { team, acct } = await setupTeam('Manual', { pkg: false });
      const patch = await api(server(), 'PATCH', `${v1}/teams/${team}`, {
        token: admin,
        body: { mdm: { macos_setup: { enable_release_device_manually: true } } },
      });
      expect(patch.status).toBe(200);
      const { serial } = await pendingMac(acct);
      const device = new SimulatedAppleDevice({ serverUrl: server().url, serial });
      await device.adeEnroll(enrollUrl());
      await converge(device, 2);
      expect((await hold(device.udid))!.bootstrap_command_uuid).toBeNull();
      await db()
        .updateTable('host_mdm_apple_awaiting_configuration')
        .set({ started_at: dbNow(-7 * 86400_000) })
        .where('host_uuid', '=', device.udid)
        .execute();
      expect(await services().appleAde.setup.releaseDevices()).toEqual({ released: 0, timedOut: 0 });
      expect(device.awaitingConfiguration).toBe(true);
      // The admin sends DeviceConfigured (Fleet's manual release) and the device goes on.
      const cmd = Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>CommandUUID</key><string>${randomUUID()}</string><key>Command</key><dict><key>RequestType</key><string>DeviceConfigured</string></dict></dict></plist>`,
      );
      const run = await api(server(), 'POST', `${v1}/commands/run`, {
        token: admin,
        body: { command: cmd.toString('base64'), host_uuids: [device.udid] },
      });
      expect(run.status).toBe(200);
      await device.connect();
      expect(device.awaitingConfiguration).toBe(false);
      expect(Number((await hold(device.udid))!.awaiting_configuration)).toBe(0);
    });

    it("configures the end user's account and records a failed bootstrap package with its detail", async () => {
      const { team, acct } = await setupTeam('SSO');
      await db()
        .updateTable('teams')
        .set({
          config: JSON.stringify({
            mdm: { macos_setup: { enable_end_user_authentication: true, lock_end_user_info: true } },
          }),
        })
        .where('id', '=', team)
        .execute();
      const account = randomUUID();
      await db()
        .insertInto('mdm_idp_accounts')
        .values({
          uuid: account,
          username: 'jdoe',
          fullname: 'Jane Doe',
          email: `jdoe-${account}@example.com`,
          created_at: dbNow(),
          updated_at: dbNow(),
        })
        .execute();
      const { serial, placeholderId } = await pendingMac(acct);
      const device = new SimulatedAppleDevice({ serverUrl: server().url, serial });
      device.forcedAnswers.set('InstallEnterpriseApplication', 'Error');
      // After SSO the page downloads the profile with the account and the machine info in the query.
      await device.adeEnroll(enrollUrl(`&enrollment_reference=${account}`), { via: 'query' });
      expect(device.checkInUrl).toContain(`enroll_reference=${account}`);
      const hm = await db()
        .selectFrom('host_mdm')
        .selectAll()
        .where('host_id', '=', placeholderId)
        .executeTakeFirst();
      expect(hm?.fleet_enroll_ref).toBe(account);
      await converge(device);
      expect(device.accountConfiguration).toEqual({ fullName: 'Jane Doe', userName: 'jdoe', locked: true });
      const row = await bootstrapRow(device.udid);
      expect(row).toMatchObject({ status: 'failed', detail: 'MCMDMErrorDomain (12345): Simulated failure' });
      // Failed is final: the device is released all the same.
      expect(await services().appleAde.setup.releaseDevices()).toEqual({ released: 1, timedOut: 0 });
      await device.connect();
      expect(device.awaitingConfiguration).toBe(false);
      const detail = await api(server(), 'GET', `${v1}/hosts/${placeholderId}`, { token: admin });
      expect(detail.body.host.mdm.macos_setup).toEqual({
        bootstrap_package_status: 'failed',
        detail: 'MCMDMErrorDomain (12345): Simulated failure',
        bootstrap_package_name: 'SSO.pkg',
      });
      expect(
        (await api(server(), 'GET', `${v1}/bootstrap/summary?team_id=${team}`, { token: admin })).body,
      ).toEqual({ installed: 0, pending: 0, failed: 1 });
      // No log line carries a bootstrap download token.
      const meta = await api(server(), 'GET', `${v1}/bootstrap/${team}/metadata`, { token: admin });
      expect(JSON.stringify(server().logLines)).not.toContain(meta.body.token);
    });

    it('forgets the hold and the bootstrap record when the host is deleted', async () => {
      const { acct } = await setupTeam('Deleted');
      const { serial, placeholderId } = await pendingMac(acct);
      const device = new SimulatedAppleDevice({ serverUrl: server().url, serial });
      await device.adeEnroll(enrollUrl());
      expect(await hold(device.udid)).toBeDefined();
      expect((await api(server(), 'DELETE', `${v1}/hosts/${placeholderId}`, { token: admin })).status).toBe(
        200,
      );
      expect(await hold(device.udid)).toBeUndefined();
      expect(await bootstrapRow(device.udid)).toBeUndefined();
    });
  },
  { appleDepBaseUrl: dep.url, logLevel: 'info', ...apns.overrides },
);
