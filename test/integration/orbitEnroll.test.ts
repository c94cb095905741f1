import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const vector = JSON.parse(
  readFileSync(new URL('../vectors/orbit/orbit_enroll_request.json', import.meta.url), 'utf8'),
) as Record<string, string>;
const globalSecret = 'orbit-enroll-global-secret';

describeEachDialect('orbit enroll', (server) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = server();
    await srv.app.services.enrollSecrets.replace(null, null, [globalSecret]);
    await srv.app.services.appConfig.patch({ server_settings: { server_url: srv.url } });
  });

  const db = () => srv.app.services.database.db;
  const hostCount = async () =>
    Number((await sql<{ n: number }>`select count(*) as n from hosts`.execute(db())).rows[0].n);
  const setAppleMdm = (on: boolean) =>
    srv.app.services.appConfig.patch({ mdm: { enabled_and_configured: on } });
  const enroll = (body: Record<string, unknown>) => api(srv, 'POST', '/api/fleet/orbit/enroll', { body });
  const config = (key: string) =>
    api(srv, 'POST', '/api/fleet/orbit/config', { body: { orbit_node_key: key } });
  const team = async (name: string) => {
    const id = await srv.app.services.teamStore.create({ name, description: '', config: {} });
    const secret = `${name}-secret`;
    await srv.app.services.enrollSecrets.replace(null, id, [secret]);
    return { id, secret };
  };

  it("enrolls a new device: Fleet's node key, the secret's team, fleet_enrolled, capabilities header", async () => {
    const t = await team('orbit-new');
    const uuid = randomUUID().toUpperCase();
    const res = await enroll({
      ...vector,
      enroll_secret: t.secret,
      hardware_uuid: uuid,
      extra_field: 'ignored',
    });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['orbit_node_key']);
    // Fleet's node key: 24 random bytes, standard base64.
    expect(res.body.orbit_node_key).toMatch(/^[A-Za-z0-9+/]{32}$/);
    expect(res.headers.get('x-fleet-capabilities')).toBe(
      'orbit_endpoints,token_rotation,end_user_email,escrow_buddy',
    );

    const host = await db()
      .selectFrom('hosts')
      .selectAll()
      .where('uuid', '=', uuid)
      .executeTakeFirstOrThrow();
    expect(host).toMatchObject({
      osquery_host_id: uuid,
      orbit_node_key: res.body.orbit_node_key,
      hardware_serial: vector.hardware_serial,
      hostname: vector.hostname,
      computer_name: vector.computer_name,
      hardware_model: vector.hardware_model,
      platform: 'darwin',
      team_id: t.id,
    });
    expect(Boolean(Number(host.refetch_requested))).toBe(true);
    const labels = await db()
      .selectFrom('label_membership')
      .innerJoin('labels', 'labels.id', 'label_membership.label_id')
      .select(['labels.name', 'label_membership.is_member'])
      .where('label_membership.host_id', '=', host.id)
      .where('label_membership.is_member', '=', 1)
      .execute();
    expect(labels.map((l) => l.name).sort()).toEqual(['All Hosts', 'macOS']);

    const acts = await srv.app.services.activities.list({ hostId: host.id, type: 'fleet_enrolled' });
    expect(acts).toHaveLength(1);
    expect(JSON.parse(String(acts[0].details))).toEqual({
      host_id: host.id,
      host_serial: vector.hardware_serial,
      host_display_name: vector.computer_name,
    });
    const linked = await db()
      .selectFrom('host_activities')
      .select('host_id')
      .where('host_id', '=', host.id)
      .execute();
    expect(linked).toHaveLength(1);

    // The key authenticates; a new enrollment replaces it.
    expect((await config(res.body.orbit_node_key)).status).toBe(200);
    const again = await enroll({ ...vector, enroll_secret: t.secret, hardware_uuid: uuid });
    expect(again.body.orbit_node_key).not.toBe(res.body.orbit_node_key);
    expect((await config(res.body.orbit_node_key)).status).toBe(401);
    expect((await config(again.body.orbit_node_key)).status).toBe(200);
  });

  it('matches an MDM-only Mac (created by Apple check-in) by its UDID: no second host', async () => {
    const mac = await enrolledDevice(srv);
    const before = await srv.app.services.hostStore.findByUuid(mac.udid);
    expect(before?.osquery_host_id).toBeNull();
    const count = await hostCount();
    const res = await enroll({
      ...vector,
      enroll_secret: globalSecret,
      hardware_uuid: mac.udid,
      hardware_serial: mac.serial,
      computer_name: 'Renamed by orbit',
    });
    expect(res.status).toBe(200);
    expect(await hostCount()).toBe(count);
    const after = await srv.app.services.hostStore.findByUuid(mac.udid);
    expect(after?.id).toBe(before!.id);
    expect(after?.osquery_host_id).toBe(mac.udid);
    // What the host already knew stays; MDM enrollment is untouched.
    expect(after?.computer_name).toBe(before!.computer_name || 'Renamed by orbit');
    expect(after?.mdm?.enrolled).toBe(true);
  });

  it('matches by serial only with Apple MDM on, only Apple hosts, never for Windows', async () => {
    const hs = srv.app.services.hostStore;
    // A host known only by its serial (as an ADE placeholder is), and a Windows one.
    const macSerial = `SER${randomUUID().slice(0, 8)}`;
    const placeholder = await hs.create({ uuid: '', hardware_serial: macSerial, platform: 'darwin' });
    const winSerial = `WIN${randomUUID().slice(0, 8)}`;
    const winHost = await hs.create({ uuid: randomUUID(), hardware_serial: winSerial, platform: 'windows' });

    await setAppleMdm(false);
    let count = await hostCount();
    const off = await enroll({
      ...vector,
      enroll_secret: globalSecret,
      hardware_uuid: randomUUID(),
      hardware_serial: macSerial,
    });
    expect(off.status).toBe(200);
    expect(await hostCount()).toBe(count + 1);
    await db().deleteFrom('hosts').where('orbit_node_key', '=', off.body.orbit_node_key).execute();

    await setAppleMdm(true);
    count = await hostCount();
    const uuid = randomUUID().toUpperCase();
    const on = await enroll({
      ...vector,
      enroll_secret: globalSecret,
      hardware_uuid: uuid,
      hardware_serial: macSerial,
    });
    expect(on.status).toBe(200);
    expect(await hostCount()).toBe(count);
    const matched = await hs.getById(placeholder);
    expect(matched).toMatchObject({ uuid, osquery_host_id: uuid, hardware_serial: macSerial });

    // A Windows device never matches by serial, even an Apple-looking serial match.
    const win = await enroll({
      ...vector,
      enroll_secret: globalSecret,
      platform: 'windows',
      hardware_uuid: randomUUID(),
      hardware_serial: winSerial,
    });
    expect(win.status).toBe(200);
    expect(await hostCount()).toBe(count + 1);
    expect((await hs.getById(winHost))?.osquery_host_id).toBeNull();
    // With an osquery identifier (duplicate-UUID VMs) the serial is not used either.
    const vm = await enroll({
      ...vector,
      enroll_secret: globalSecret,
      hardware_uuid: uuid,
      hardware_serial: macSerial,
      osquery_identifier: `instance-${randomUUID()}`,
    });
    expect(vm.status).toBe(200);
    expect(await hostCount()).toBe(count + 2);
    await setAppleMdm(false);
  });

  it('a Windows host enrolled in MDM re-enrolls into the same host and moves to the new secret’s team', async () => {
    const s = srv.app.services;
    await s.appConfig.patch({ mdm: { windows_enabled_and_configured: true } });
    s.windows.invalidateEnabled();
    const pc = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret: globalSecret, keyBits: 1024 });
    await pc.orbitEnroll();
    const cfg = await pc.orbitConfig();
    await pc.enrollProgrammatically(cfg.notifications.windows_mdm_discovery_endpoint as string);
    const host = await s.hostStore.findByUuid(pc.hardwareUuid);
    expect(host?.mdm?.enrolled).toBe(true);
    expect(host?.team_id).toBeNull();

    const moved: [number[], number | null][] = [];
    s.hostEvents.add({ hostsTransferred: async (ids, teamId) => void moved.push([ids, teamId]) });
    const t = await team('orbit-windows');
    const count = await hostCount();
    const res = await enroll({
      enroll_secret: t.secret,
      hardware_uuid: pc.hardwareUuid,
      hardware_serial: pc.hardwareSerial,
      platform: 'windows',
      hostname: 'DESKTOP-NEW',
    });
    expect(res.status).toBe(200);
    expect(await hostCount()).toBe(count);
    const after = await s.hostStore.findByUuid(pc.hardwareUuid);
    expect(after?.id).toBe(host!.id);
    expect(after?.team_id).toBe(t.id);
    expect(after?.mdm?.enrolled).toBe(true);
    expect(moved).toContainEqual([[host!.id], t.id]);
    // The PC's old node key is gone.
    expect((await config(pc.orbitNodeKey!)).status).toBe(401);
    await s.appConfig.patch({ mdm: { windows_enabled_and_configured: false } });
    s.windows.invalidateEnabled();
  });

  it('concurrent enrollments of one new device make one host', async () => {
    const uuid = randomUUID().toUpperCase();
    const count = await hostCount();
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        enroll({ ...vector, enroll_secret: globalSecret, hardware_uuid: uuid, hardware_serial: '' }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(await hostCount()).toBe(count + 1);
    const host = await srv.app.services.hostStore.findByUuid(uuid);
    // The last enrollment's key is the one that works.
    const ok = await Promise.all(results.map(async (r) => (await config(r.body.orbit_node_key)).status));
    expect(ok.filter((st) => st === 200)).toHaveLength(1);
    expect(host).toBeDefined();
  });

  it('ping: no credentials, the server capabilities in the header', async () => {
    const res = await fetch(`${srv.url}/api/fleet/orbit/ping`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-fleet-capabilities')).toBe(
      'orbit_endpoints,token_rotation,end_user_email,escrow_buddy',
    );
    const device = await fetch(`${srv.url}/api/fleet/device/ping`, { method: 'HEAD' });
    expect(device.status).toBe(200);
    // Fleet sends no device capabilities unless error reporting is on.
    expect(device.headers.get('x-fleet-capabilities')).toBeNull();
  });
});
