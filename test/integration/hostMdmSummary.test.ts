import { beforeAll, expect, it } from 'vitest';
import { apiUser, createTeam } from '../helpers/adminFixtures.js';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

type MdmState = { enrolled: boolean; dep: boolean; personal: boolean; url: string; name: string } | null;

async function host(srv: TestServer, uuid: string, teamId: number | null, platform: string, mdm: MdmState) {
  const store = srv.app.services.hostStore;
  const id = await store.create({ uuid, hardware_serial: uuid, platform, hostname: uuid, team_id: teamId });
  if (mdm) {
    await store.upsertHostMdm(id, {
      enrolled: mdm.enrolled,
      installed_from_dep: mdm.dep,
      is_personal_enrollment: mdm.personal,
      server_url: mdm.url,
      mdm_name: mdm.name,
    });
  }
  return id;
}

describeEachDialect("Fleet's host MDM summary and per-host MDM object", (server) => {
  let admin: string;
  let teamObserver: string;
  let teamId: number;
  const ids: Record<string, number> = {};
  const ours = { url: 'https://mdm.example/mdm/apple/mdm', name: 'Fleet' };

  beforeAll(async () => {
    const srv = server();
    admin = await setupAdmin(srv);
    teamId = await createTeam(srv, admin, 'Summary Team');
    teamObserver = (await apiUser(srv, admin, 'Team watcher', { teams: [{ id: teamId, role: 'observer' }] }))
      .token;
    ids.manual = await host(srv, 'SUM-MANUAL', null, 'darwin', {
      enrolled: true,
      dep: false,
      personal: false,
      ...ours,
    });
    ids.ade = await host(srv, 'SUM-ADE', teamId, 'darwin', {
      enrolled: true,
      dep: true,
      personal: false,
      ...ours,
    });
    ids.byod = await host(srv, 'SUM-BYOD', teamId, 'ios', {
      enrolled: true,
      dep: false,
      personal: true,
      ...ours,
    });
    ids.pending = await host(srv, 'SUM-PENDING', null, 'darwin', {
      enrolled: false,
      dep: true,
      personal: false,
      ...ours,
    });
    ids.off = await host(srv, 'SUM-OFF', teamId, 'windows', {
      enrolled: false,
      dep: false,
      personal: false,
      url: '',
      name: '',
    });
    ids.other = await host(srv, 'SUM-OTHER', null, 'darwin', {
      enrolled: true,
      dep: false,
      personal: false,
      url: 'https://other.example/mdm',
      name: 'Other MDM',
    });
    ids.none = await host(srv, 'SUM-NONE', null, 'linux', null);
  });

  const summary = (token: string, query = '') =>
    api(server(), 'GET', `/api/latest/fleet/hosts/summary/mdm${query}`, { token });

  it('counts every host the caller may see by enrollment state and by MDM solution', async () => {
    const res = await summary(admin);
    expect(res.status).toBe(200);
    expect(res.body.counts_updated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(res.body.mobile_device_management_enrollment_status).toEqual({
      enrolled_manual_hosts_count: 2,
      enrolled_automated_hosts_count: 1,
      enrolled_personal_hosts_count: 1,
      pending_hosts_count: 1,
      unenrolled_hosts_count: 1,
      hosts_count: 6,
    });
    expect(res.body.mobile_device_management_solution).toEqual([
      { id: expect.any(Number), name: 'Fleet', server_url: ours.url, hosts_count: 3 },
      { id: expect.any(Number), name: 'Other MDM', server_url: 'https://other.example/mdm', hosts_count: 1 },
    ]);
  });

  it('narrows by team and platform, and a team role sees only its team', async () => {
    const team = await summary(admin, `?team_id=${teamId}&unknown=1`);
    expect(team.body.mobile_device_management_enrollment_status).toMatchObject({
      enrolled_automated_hosts_count: 1,
      enrolled_personal_hosts_count: 1,
      unenrolled_hosts_count: 1,
      hosts_count: 3,
    });
    const ios = await summary(admin, '?platform=ios');
    expect(ios.body.mobile_device_management_enrollment_status.hosts_count).toBe(1);
    const watcher = await summary(teamObserver);
    expect(watcher.status).toBe(200);
    expect(watcher.body.mobile_device_management_enrollment_status.hosts_count).toBe(3);
    const otherTeam = await summary(teamObserver, '?team_id=0');
    expect(otherTeam.status).toBe(403);
    const bad = await summary(admin, '?team_id=abc');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].name).toBe('team_id');
  });

  it("answers a host's MDM object like Fleet, and 404 when the host has none", async () => {
    const get = (id: number, token = admin) =>
      api(server(), 'GET', `/api/latest/fleet/hosts/${id}/mdm`, { token });
    const ade = await get(ids.ade);
    expect(ade.status).toBe(200);
    expect(ade.body).toEqual({
      enrollment_status: 'On (automatic)',
      server_url: ours.url,
      name: 'Fleet',
      id: expect.any(Number),
    });
    expect((await get(ids.pending)).body.enrollment_status).toBe('Pending');
    expect((await get(ids.byod)).body.enrollment_status).toBe('On (personal)');
    expect((await get(ids.off)).body).toEqual({ enrollment_status: 'Off', server_url: '', name: '' });
    const none = await get(ids.none);
    expect(none.status).toBe(404);
    expect(none.body.message).toBe('Resource Not Found');
    expect((await get(ids.manual, teamObserver)).status).toBe(403);
    expect((await get(999999)).status).toBe(404);
  });
});
