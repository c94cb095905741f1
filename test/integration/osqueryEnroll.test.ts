import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { enrollAgent, enrollBody, hostRow, macEnrollVector, osquery } from '../helpers/osqueryAgent.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const secret = 'osquery-enroll-global-secret';
const teamSecret = 'osquery-enroll-team-secret';

async function hostsWithUuid(srv: TestServer, uuid: string) {
  return srv.app.services.database.db.selectFrom('hosts').selectAll().where('uuid', '=', uuid).execute();
}

describeEachDialect('osquery enroll: Fleet shapes, host matching, team from the secret', (server) => {
  let admin = '';
  let teamId = 0;

  beforeAll(async () => {
    const srv = server();
    admin = await setupAdmin(srv);
    const s = srv.app.services;
    await s.enrollSecrets.replace(null, null, [secret]);
    teamId = await s.teamStore.create({ name: 'Osquery team', description: '', config: {} });
    await s.enrollSecrets.replace(null, teamId, [teamSecret]);
  });

  it('enrolls the vector agent: a 24-character node key and the vitals it sent', async () => {
    const srv = server();
    const body = structuredClone(macEnrollVector);
    body.enroll_secret = secret;
    const res = await osquery(srv, 'enroll', body);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['node_key']);
    expect(res.body.node_key).toHaveLength(24);
    const [host] = await hostsWithUuid(srv, '8F1A2B3C-4D5E-4F60-8A7B-9C0D1E2F3A4B');
    expect(host).toMatchObject({
      osquery_host_id: '8F1A2B3C-4D5E-4F60-8A7B-9C0D1E2F3A4B',
      hostname: 'example-mbp',
      computer_name: 'example-mbp',
      platform: 'darwin',
      platform_like: 'darwin',
      build: '23B92',
      os_version: 'Mac OS X 14.1.2',
      osquery_version: '4.6.0',
      cpu_brand: 'Intel(R) Core(TM) i7-4770HQ CPU @ 2.20GHz',
      cpu_type: 'x86_64h',
      cpu_subtype: 'Intel x86-64h Haswell',
      hardware_vendor: 'Apple Inc.',
      hardware_model: 'MacBookPro11,4',
      hardware_version: '1.0',
      hardware_serial: 'C02EXAMPLE01',
      team_id: null,
    });
    expect(Number(host.memory)).toBe(17179869184);
    expect(Number(host.cpu_physical_cores)).toBe(4);
    expect(Number(host.cpu_logical_cores)).toBe(8);
    expect(Boolean(Number(host.refetch_requested))).toBe(true);
    expect(host.seen_time).not.toBeNull();

    // The admin API shows the vitals with Fleet's field names.
    const detail = await api(srv, 'GET', `/api/latest/fleet/hosts/${host.id}`, { token: admin });
    expect(detail.status).toBe(200);
    expect(detail.body.host).toMatchObject({
      hostname: 'example-mbp',
      osquery_version: '4.6.0',
      memory: 17179869184,
      cpu_brand: 'Intel(R) Core(TM) i7-4770HQ CPU @ 2.20GHz',
      cpu_physical_cores: 4,
      platform_like: 'darwin',
      status: 'online',
    });
    const list = await api(srv, 'GET', `/api/latest/fleet/hosts?query=example-mbp`, { token: admin });
    expect(list.body.hosts[0]).toMatchObject({
      id: Number(host.id),
      osquery_version: '4.6.0',
      build: '23B92',
    });
    // A built-in label follows from the reported platform.
    const macos = await srv.app.services.database.db
      .selectFrom('label_membership')
      .innerJoin('labels', 'labels.id', 'label_membership.label_id')
      .select('label_membership.is_member')
      .where('labels.name', '=', 'macOS')
      .where('label_membership.host_id', '=', Number(host.id))
      .executeTakeFirst();
    expect(Number(macos?.is_member)).toBe(1);
  });

  it('enrolling again keeps the host, hands out a new key and retires the old one', async () => {
    const srv = server();
    const uuid = randomUUID().toUpperCase();
    const first = await enrollAgent(srv, secret, { uuid });
    const second = await enrollAgent(srv, secret, { uuid });
    expect(second.hostId).toBe(first.hostId);
    expect(second.nodeKey).not.toBe(first.nodeKey);
    expect(await hostsWithUuid(srv, uuid)).toHaveLength(1);
    const old = await osquery(srv, 'config', { node_key: first.nodeKey });
    expect(old.status).toBe(401);
    expect(old.body.node_invalid).toBe(true);
    expect((await osquery(srv, 'config', { node_key: second.nodeKey })).status).toBe(200);
  });

  it('matches the host orbit created (same hardware UUID): no duplicate', async () => {
    const srv = server();
    const uuid = randomUUID().toUpperCase();
    const orbit = await api(srv, 'POST', '/api/fleet/orbit/enroll', {
      body: { enroll_secret: secret, hardware_uuid: uuid, hardware_serial: 'ORBIT0001', platform: 'darwin' },
    });
    expect(orbit.status).toBe(200);
    const [created] = await hostsWithUuid(srv, uuid);
    const agent = await enrollAgent(srv, secret, { uuid, serial: 'ORBIT0001' });
    expect(agent.hostId).toBe(Number(created.id));
    expect(await hostsWithUuid(srv, uuid)).toHaveLength(1);
    const row = await hostRow(srv, agent.hostId);
    expect(row.osquery_host_id).toBe(uuid);
    expect(row.orbit_node_key).toBe(created.orbit_node_key);
    // First osquery enrollment of an existing host: everything is fetched at once.
    expect(Boolean(Number(row.refetch_requested))).toBe(true);
  });

  it('matches the host Apple MDM created (UDID = hardware UUID): no duplicate', async () => {
    const srv = server();
    const mac = await enrolledDevice(srv);
    const [created] = await hostsWithUuid(srv, mac.udid);
    expect(created).toBeDefined();
    const agent = await enrollAgent(srv, secret, { uuid: mac.udid });
    expect(agent.hostId).toBe(Number(created.id));
    expect(await hostsWithUuid(srv, mac.udid)).toHaveLength(1);
  });

  it('matches an ADE placeholder by serial and fills in its UUID', async () => {
    const srv = server();
    const serial = `PLACEHOLDER${Date.now() % 100000}`;
    const placeholderId = await srv.app.services.hostStore.create({
      uuid: '',
      hardware_serial: serial,
      platform: 'darwin',
    });
    const uuid = randomUUID().toUpperCase();
    const agent = await enrollAgent(srv, secret, { uuid, serial });
    expect(agent.hostId).toBe(placeholderId);
    expect((await hostRow(srv, placeholderId)).uuid).toBe(uuid);
  });

  it('a serial alone never merges two machines that both ran osquery', async () => {
    const srv = server();
    const a = await enrollAgent(srv, secret, { serial: 'VM-SHARED-SERIAL' });
    const b = await enrollAgent(srv, secret, { serial: 'VM-SHARED-SERIAL' });
    expect(b.hostId).not.toBe(a.hostId);
  });

  it('the team comes from the secret, also when an existing host enrolls again', async () => {
    const srv = server();
    const uuid = randomUUID().toUpperCase();
    const agent = await enrollAgent(srv, teamSecret, { uuid });
    expect(Number((await hostRow(srv, agent.hostId)).team_id)).toBe(teamId);
    await enrollAgent(srv, secret, { uuid });
    expect((await hostRow(srv, agent.hostId)).team_id).toBeNull();
  });

  it('refuses a wrong secret with Fleet answer and creates nothing', async () => {
    const srv = server();
    const before = await srv.app.services.database.db
      .selectFrom('hosts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const res = await osquery(srv, 'enroll', enrollBody('not-a-secret'));
    expect(res.status).toBe(401);
    expect(res.body).toEqual({
      error: 'enroll failed: no matching secret found: EnrollSecret was not found in the datastore',
      node_invalid: true,
      uuid: expect.any(String),
    });
    const after = await srv.app.services.database.db
      .selectFrom('hosts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });
});
