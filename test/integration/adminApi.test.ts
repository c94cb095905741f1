import { beforeAll, expect, it } from 'vitest';
import { sessionKeyHash } from '../../src/admin/userStore.js';
import { api, setupAdmin } from '../helpers/api.js';
import { apiUser, createTeam } from '../helpers/adminFixtures.js';
import { describeEachDialect } from '../helpers/testServer.js';

const v1 = '/api/v1/fleet';

describeEachDialect('admin API: users, teams, secrets, labels, hosts, activities, config', (server) => {
  let admin = '';
  let teamA = 0;
  let teamB = 0;
  const hostIds: number[] = [];
  const events: string[] = [];

  beforeAll(async () => {
    admin = await setupAdmin(server());
    const { hostStore, hostEvents } = server().app.services;
    hostEvents.add({
      hostsDeleted: async (hosts) => void events.push(`deleted:${hosts.map((h) => h.uuid).join(',')}`),
      hostsTransferred: async (ids, team) => void events.push(`transferred:${ids.join(',')}->${team}`),
      labelMembershipChanged: async (labels, hosts) =>
        void events.push(`membership:${labels.join(',')}:${hosts.join(',')}`),
      labelsCreated: async (labels) => void events.push(`labelsCreated:${labels.join(',')}`),
      labelsDeleted: async (labels) => void events.push(`labelsDeleted:${labels.join(',')}`),
    });
    for (let i = 1; i <= 5; i++) {
      hostIds.push(
        await hostStore.create({
          uuid: `UUID-${i}`,
          hardware_serial: `SERIAL-${i}`,
          platform: i % 2 ? 'darwin' : 'windows',
          hostname: `host-${i}.example.com`,
          computer_name: `Host ${i}`,
        }),
      );
    }
    await hostStore.upsertHostMdm(hostIds[0], {
      enrolled: true,
      server_url: 'https://mdm.example.com',
      installed_from_dep: false,
      is_personal_enrollment: false,
      mdm_name: 'Fleet',
    });
    await hostStore.upsertHostMdm(hostIds[1], {
      enrolled: false,
      server_url: '',
      installed_from_dep: true,
      is_personal_enrollment: false,
      mdm_name: '',
    });
  });

  /** Team A and Team B (holding the secret b-secret), as the first test makes them. */
  async function teams(): Promise<void> {
    if (teamA) return;
    teamA = await createTeam(server(), admin, 'Team A');
    const b = await api(server(), 'POST', `${v1}/fleets`, {
      token: admin,
      body: { name: 'Team B', description: 'b', secrets: [{ secret: 'b-secret' }] },
    });
    teamB = b.body.team.id;
  }

  /** Makes each kind of activity the earlier tests make, unless it is in the log already. */
  async function everyKindOfActivity(): Promise<void> {
    const all = await api(server(), 'GET', `${v1}/activities?per_page=1000`, { token: admin });
    const has = new Set(all.body.activities.map((a: any) => a.type));
    const missing = (...types: string[]) => types.some((t) => !has.has(t));
    await teams();
    if (missing('created_team', 'deleted_team'))
      await api(server(), 'DELETE', `${v1}/teams/${await createTeam(server(), admin, 'Brief')}`, {
        token: admin,
      });
    if (missing('created_user', 'deleted_user', 'changed_user_global_role')) {
      const u = await apiUser(server(), admin, 'Brief', { global_role: 'observer' });
      await api(server(), 'PATCH', `${v1}/users/${u.id}`, {
        token: admin,
        body: { global_role: 'maintainer' },
      });
      await api(server(), 'DELETE', `${v1}/users/${u.id}`, { token: admin });
    }
    if (missing('created_label', 'deleted_label')) {
      const l = await api(server(), 'POST', `${v1}/labels`, {
        token: admin,
        body: { name: 'Brief', hosts: [] },
      });
      await api(server(), 'DELETE', `${v1}/labels/id/${l.body.label.id}`, { token: admin });
    }
    if (missing('transferred_hosts'))
      await api(server(), 'POST', `${v1}/hosts/transfer`, {
        token: admin,
        body: { team_id: teamB, hosts: [hostIds[1]] },
      });
    if (missing('deleted_host')) await api(server(), 'DELETE', `${v1}/hosts/${hostIds[4]}`, { token: admin });
    if (missing('edited_enroll_secrets'))
      await api(server(), 'POST', `${v1}/spec/enroll_secret`, {
        token: admin,
        body: { spec: { secrets: [{ secret: 'global-1' }] } },
      });
  }

  it('creates, lists, edits and deletes teams under /teams and /fleets', async () => {
    teamA = await createTeam(server(), admin, 'Team A');
    const created = await api(server(), 'POST', `${v1}/fleets`, {
      token: admin,
      body: { name: 'Team B', description: 'b', secrets: [{ secret: 'b-secret' }] },
    });
    expect(created.status).toBe(200);
    teamB = created.body.team.id;
    expect(created.body.team).toMatchObject({
      name: 'Team B',
      description: 'b',
      host_count: 0,
      user_count: 0,
      secrets: [{ secret: 'b-secret', team_id: teamB }],
    });
    expect(created.body.team.mdm.macos_updates).toEqual({ minimum_version: null, deadline: null });
    const list = await api(server(), 'GET', `${v1}/teams?order_key=name&order_direction=desc`, {
      token: admin,
    });
    expect(list.body.teams.map((t: any) => t.name)).toEqual(['Team B', 'Team A']);
    const patched = await api(server(), 'PATCH', `${v1}/teams/${teamA}`, {
      token: admin,
      body: {
        description: 'first',
        mdm: { enable_disk_encryption: true, macos_updates: { minimum_version: '15.1' } },
      },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.team.mdm).toMatchObject({
      enable_disk_encryption: true,
      macos_updates: { minimum_version: '15.1', deadline: null },
    });
    const got = await api(server(), 'GET', `/api/latest/fleet/fleets/${teamA}`, { token: admin });
    expect(got.body.team.description).toBe('first');
    const temp = await createTeam(server(), admin, 'Temp');
    expect((await api(server(), 'DELETE', `${v1}/teams/${temp}`, { token: admin })).status).toBe(200);
    expect((await api(server(), 'GET', `${v1}/teams/${temp}`, { token: admin })).status).toBe(404);
  });

  it('replaces team and global enroll secrets; a secret is unique across scopes', async () => {
    await teams();
    const put = await api(server(), 'PATCH', `${v1}/teams/${teamA}/secrets`, {
      token: admin,
      body: { secrets: [{ secret: 'a-1' }, { secret: 'a-2' }] },
    });
    expect(put.status).toBe(200);
    expect(put.body.secrets.map((s: any) => s.secret).sort()).toEqual(['a-1', 'a-2']);
    const g = await api(server(), 'POST', `${v1}/spec/enroll_secret`, {
      token: admin,
      body: { spec: { secrets: [{ secret: 'global-1' }] } },
    });
    expect(g.status).toBe(200);
    const read = await api(server(), 'GET', `${v1}/spec/enroll_secret`, { token: admin });
    expect(read.body.spec.secrets).toMatchObject([{ secret: 'global-1' }]);
    // Fleet's EnrollSecret.team_id is omitempty: a global secret has none.
    expect(read.body.spec.secrets[0]).not.toHaveProperty('team_id');
    expect(read.body.spec.secrets[0].created_at).toMatch(/Z$/);
    const dup = await api(server(), 'PATCH', `${v1}/teams/${teamB}/secrets`, {
      token: admin,
      body: { secrets: [{ secret: 'a-1' }] },
    });
    expect(dup.status).toBe(409);
    expect(
      (await api(server(), 'GET', `${v1}/teams/${teamB}/secrets`, { token: admin })).body.secrets.map(
        (s: any) => s.secret,
      ),
    ).toEqual(['b-secret']);
    expect(await server().app.services.enrollSecrets.teamForSecret('a-2')).toEqual({ teamId: teamA });
  });

  it('manages users: create (global or team roles), api-only tokens, edit, delete, last admin kept', async () => {
    await teams();
    const both = await api(server(), 'POST', `${v1}/users/admin`, {
      token: admin,
      body: {
        name: 'X',
        email: 'x@example.com',
        password: 'long-password-1!',
        global_role: 'admin',
        teams: [{ id: teamA, role: 'observer' }],
      },
    });
    expect(both.status).toBe(422);
    const u = await api(server(), 'POST', `${v1}/users/admin`, {
      token: admin,
      body: {
        name: 'Tina',
        email: 'tina@example.com',
        password: 'long-password-1!',
        teams: [{ id: teamA, role: 'maintainer' }],
      },
    });
    expect(u.status).toBe(200);
    expect(u.body.user).toMatchObject({
      email: 'tina@example.com',
      global_role: null,
      teams: [{ id: teamA, role: 'maintainer', name: 'Team A' }],
    });
    expect(u.body.user).not.toHaveProperty('password');
    expect(u.body).not.toHaveProperty('token');
    const bot = await api(server(), 'POST', `${v1}/users/admin`, {
      token: admin,
      body: {
        name: 'Bot',
        email: 'bot@example.com',
        password: 'long-password-1!',
        global_role: 'observer',
        api_only: true,
      },
    });
    expect(bot.body.token).toBeTruthy();
    const me = await api(server(), 'GET', `${v1}/me`, { token: bot.body.token });
    expect(me.body.user).toMatchObject({ email: 'bot@example.com', api_only: true, global_role: 'observer' });
    // API-only tokens never expire.
    await server()
      .app.services.database.db.updateTable('sessions')
      .set({ accessed_at: '2001-01-01 00:00:00.000' })
      .where('key', '=', sessionKeyHash(bot.body.token))
      .execute();
    expect((await api(server(), 'GET', `${v1}/me`, { token: bot.body.token })).status).toBe(200);

    const list = await api(server(), 'GET', `${v1}/users?query=tina`, { token: admin });
    expect(list.body.users.map((x: any) => x.email)).toEqual(['tina@example.com']);
    const byTeam = await api(server(), 'GET', `${v1}/users?fleet_id=${teamA}`, { token: admin });
    expect(byTeam.body.users.map((x: any) => x.email)).toEqual(['tina@example.com']);
    const paged = await api(server(), 'GET', `${v1}/users?order_key=email&per_page=2&page=0`, {
      token: admin,
    });
    expect(paged.body.users.map((x: any) => x.email)).toEqual(['admin@example.com', 'bot@example.com']);

    const promoted = await api(server(), 'PATCH', `${v1}/users/${u.body.user.id}`, {
      token: admin,
      body: { global_role: 'maintainer' },
    });
    expect(promoted.body.user).toMatchObject({ global_role: 'maintainer', teams: [] });
    const adminId = (await api(server(), 'GET', `${v1}/me`, { token: admin })).body.user.id;
    const demote = await api(server(), 'PATCH', `${v1}/users/${adminId}`, {
      token: admin,
      body: { global_role: 'observer' },
    });
    expect(demote.status).toBe(409);
    expect((await api(server(), 'DELETE', `${v1}/users/${adminId}`, { token: admin })).status).toBe(409);

    // Self-service: a user edits their own name and password (old password required).
    const login = await api(server(), 'POST', `${v1}/login`, {
      body: { email: 'tina@example.com', password: 'long-password-1!' },
    });
    const tina = login.body.token;
    const wrongOld = await api(server(), 'PATCH', `${v1}/users/${u.body.user.id}`, {
      token: tina,
      body: { password: 'new-password-22!', old_password: 'nope' },
    });
    expect(wrongOld.status).toBe(401);
    const self = await api(server(), 'PATCH', `${v1}/users/${u.body.user.id}`, {
      token: tina,
      body: { name: 'Tina T', password: 'new-password-22!', old_password: 'long-password-1!' },
    });
    expect(self.status).toBe(200);
    expect(self.body.user.name).toBe('Tina T');
    const selfRole = await api(server(), 'PATCH', `${v1}/users/${u.body.user.id}`, {
      token: tina,
      body: { global_role: 'admin' },
    });
    expect(selfRole.status).toBe(403);

    expect(
      (await api(server(), 'DELETE', `${v1}/users/${u.body.user.id}/sessions`, { token: admin })).status,
    ).toBe(200);
    expect((await api(server(), 'GET', `${v1}/me`, { token: tina })).status).toBe(401);
    expect((await api(server(), 'DELETE', `${v1}/users/${u.body.user.id}`, { token: admin })).status).toBe(
      200,
    );
    expect((await api(server(), 'GET', `${v1}/users/${u.body.user.id}`, { token: admin })).status).toBe(404);
  });

  it('adds and removes team users', async () => {
    await teams();
    const obs = await apiUser(server(), admin, 'Obs', { teams: [{ id: teamB, role: 'observer' }] });
    const add = await api(server(), 'PATCH', `${v1}/teams/${teamA}/users`, {
      token: admin,
      body: { users: [{ id: obs.id, role: 'admin' }] },
    });
    expect(add.status).toBe(200);
    expect(add.body.team.user_count).toBe(1);
    const after = await api(server(), 'GET', `${v1}/users/${obs.id}`, { token: admin });
    expect(after.body.user.teams.map((t: any) => [t.id, t.role])).toEqual([
      [teamA, 'admin'],
      [teamB, 'observer'],
    ]);
    const del = await api(server(), 'DELETE', `${v1}/teams/${teamA}/users`, {
      token: admin,
      body: { users: [{ id: obs.id }] },
    });
    expect(del.body.team.user_count).toBe(0);
  });

  it('lists hosts with paging, ordering, search and filters', async () => {
    const all = await api(server(), 'GET', `${v1}/hosts`, { token: admin });
    expect(all.status).toBe(200);
    expect(all.body.hosts).toHaveLength(5);
    expect(all.body.hosts[0]).toMatchObject({
      uuid: 'UUID-1',
      hardware_serial: 'SERIAL-1',
      team_id: null,
      display_name: 'Host 1',
    });
    const page1 = await api(
      server(),
      'GET',
      `${v1}/hosts?page=1&per_page=2&order_key=hostname&order_direction=desc`,
      { token: admin },
    );
    expect(page1.body.hosts.map((h: any) => h.hostname)).toEqual([
      'host-3.example.com',
      'host-2.example.com',
    ]);
    const search = await api(server(), 'GET', `${v1}/hosts?query=SERIAL-4`, { token: admin });
    expect(search.body.hosts.map((h: any) => h.id)).toEqual([hostIds[3]]);
    const win = await api(server(), 'GET', `${v1}/hosts/count?platform=windows`, { token: admin });
    expect(win.body.count).toBe(2);
    const manual = await api(server(), 'GET', `${v1}/hosts?mdm_enrollment_status=manual`, { token: admin });
    expect(manual.body.hosts.map((h: any) => h.id)).toEqual([hostIds[0]]);
    const pending = await api(server(), 'GET', `${v1}/hosts/count?mdm_enrollment_status=pending`, {
      token: admin,
    });
    expect(pending.body.count).toBe(1);
    const off = await api(server(), 'GET', `${v1}/hosts/count?mdm_enrollment_status=unenrolled`, {
      token: admin,
    });
    expect(off.body.count).toBe(3);
    const macLabel = (await api(server(), 'GET', `${v1}/labels/summary`, { token: admin })).body.labels.find(
      (l: any) => l.name === 'macOS',
    );
    const byLabel = await api(server(), 'GET', `${v1}/hosts?label_id=${macLabel.id}`, { token: admin });
    expect(byLabel.body.hosts.map((h: any) => h.platform)).toEqual(['darwin', 'darwin', 'darwin']);
  });

  it('shows host detail with labels and the mdm object, also by identifier', async () => {
    const d = await api(server(), 'GET', `${v1}/hosts/${hostIds[0]}`, { token: admin });
    expect(d.status).toBe(200);
    expect(d.body.host.mdm).toMatchObject({
      enrollment_status: 'On (manual)',
      server_url: 'https://mdm.example.com',
      name: 'Fleet',
    });
    expect(d.body.host.mdm).toHaveProperty('profiles');
    expect(d.body.host.labels.map((l: any) => l.name).sort()).toEqual(['All Hosts', 'macOS']);
    const p = await api(server(), 'GET', `${v1}/hosts/${hostIds[1]}`, { token: admin });
    expect(p.body.host.mdm.enrollment_status).toBe('Pending');
    const none = await api(server(), 'GET', `${v1}/hosts/${hostIds[2]}`, { token: admin });
    expect(none.body.host.mdm.enrollment_status).toBeNull();
    const byIdent = await api(server(), 'GET', `${v1}/hosts/identifier/SERIAL-3`, { token: admin });
    expect(byIdent.body.host.id).toBe(hostIds[2]);
    expect((await api(server(), 'GET', `${v1}/hosts/identifier/nope`, { token: admin })).status).toBe(404);
  });

  it('transfers hosts to a team and back to No team, with events and activities', async () => {
    await teams();
    events.length = 0;
    const t = await api(server(), 'POST', `${v1}/hosts/transfer`, {
      token: admin,
      body: { team_id: teamA, hosts: [hostIds[0], hostIds[1]] },
    });
    expect(t.status).toBe(200);
    expect(events).toContain(`transferred:${hostIds[0]},${hostIds[1]}->${teamA}`);
    const inA = await api(server(), 'GET', `${v1}/hosts?team_id=${teamA}`, { token: admin });
    expect(inA.body.hosts.map((h: any) => h.team_name)).toEqual(['Team A', 'Team A']);
    const noTeam = await api(server(), 'GET', `${v1}/hosts/count?team_id=0`, { token: admin });
    expect(noTeam.body.count).toBe(3);
    const teamJson = await api(server(), 'GET', `${v1}/teams/${teamA}`, { token: admin });
    expect(teamJson.body.team.host_count).toBe(2);
    await api(server(), 'POST', `${v1}/hosts/transfer`, {
      token: admin,
      body: { fleet_id: teamB, hosts: [hostIds[1]] },
    });
    const acts = await api(server(), 'GET', `${v1}/hosts/${hostIds[1]}/activities`, { token: admin });
    expect(acts.body.activities.map((a: any) => a.type)).toEqual(['transferred_hosts', 'transferred_hosts']);
    expect(acts.body.activities[0].details).toMatchObject({
      team_id: teamB,
      team_name: 'Team B',
      host_ids: [hostIds[1]],
    });
  });

  it('creates, edits and deletes labels (dynamic and manual) and membership of hosts', async () => {
    events.length = 0;
    const dyn = await api(server(), 'POST', `${v1}/labels`, {
      token: admin,
      body: { name: 'Has Chrome', query: 'SELECT 1 FROM apps', platform: 'darwin' },
    });
    expect(dyn.status).toBe(200);
    expect(dyn.body.label).toMatchObject({
      label_type: 'regular',
      label_membership_type: 'dynamic',
      query: 'SELECT 1 FROM apps',
      host_ids: null,
    });
    expect(events).toContain(`labelsCreated:${dyn.body.label.id}`);
    const man = await api(server(), 'POST', `${v1}/labels`, {
      token: admin,
      body: { name: 'VIP', hosts: ['SERIAL-1', 'host-2.example.com'] },
    });
    expect(man.body.label).toMatchObject({
      label_membership_type: 'manual',
      host_count: 2,
      host_ids: [hostIds[0], hostIds[1]],
    });
    const vip = man.body.label.id;
    const states = await server().app.services.labelStore.membershipStates(hostIds[2]);
    expect(states.find((s) => s.labelId === dyn.body.label.id)!.isMember).toBeNull();
    expect(states.find((s) => s.labelId === vip)!.isMember).toBe(false);

    const edited = await api(server(), 'PATCH', `${v1}/labels/${vip}`, {
      token: admin,
      body: { hosts: ['UUID-3'], description: 'very' },
    });
    expect(edited.body.label).toMatchObject({ host_ids: [hostIds[2]], description: 'very' });
    expect(events).toContain(`membership:${vip}:${hostIds[0]},${hostIds[1]},${hostIds[2]}`);
    const immut = await api(server(), 'PATCH', `${v1}/labels/${dyn.body.label.id}`, {
      token: admin,
      body: { query: 'SELECT 2' },
    });
    expect(immut.status).toBe(422);

    expect(
      (
        await api(server(), 'POST', `${v1}/hosts/${hostIds[4]}/labels`, {
          token: admin,
          body: { labels: ['VIP'] },
        })
      ).status,
    ).toBe(200);
    const vipHosts = await api(server(), 'GET', `${v1}/labels/${vip}/hosts`, { token: admin });
    expect(vipHosts.body.hosts.map((h: any) => h.id)).toEqual([hostIds[2], hostIds[4]]);
    expect(
      (
        await api(server(), 'DELETE', `${v1}/hosts/${hostIds[4]}/labels`, {
          token: admin,
          body: { labels: ['VIP'] },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await api(server(), 'POST', `${v1}/hosts/${hostIds[4]}/labels`, {
          token: admin,
          body: { labels: ['Has Chrome'] },
        })
      ).status,
    ).toBe(422);

    const list = await api(server(), 'GET', `${v1}/labels?include_host_counts=true`, { token: admin });
    expect(list.body.labels.find((l: any) => l.name === 'All Hosts')).toMatchObject({
      label_type: 'builtin',
      host_count: 5,
    });
    const allHosts = list.body.labels.find((l: any) => l.name === 'All Hosts');
    expect((await api(server(), 'DELETE', `${v1}/labels/All%20Hosts`, { token: admin })).status).toBe(422);
    expect(
      (await api(server(), 'PATCH', `${v1}/labels/${allHosts.id}`, { token: admin, body: { name: 'x' } }))
        .status,
    ).toBe(422);

    expect((await api(server(), 'DELETE', `${v1}/labels/Has%20Chrome`, { token: admin })).status).toBe(200);
    expect((await api(server(), 'DELETE', `${v1}/labels/id/${vip}`, { token: admin })).status).toBe(200);
    expect(events).toContain(`labelsDeleted:${vip}`);
    expect((await api(server(), 'GET', `${v1}/labels/${vip}`, { token: admin })).status).toBe(404);
  });

  it('deletes hosts one by one and in bulk, emitting hostsDeleted', async () => {
    events.length = 0;
    expect((await api(server(), 'DELETE', `${v1}/hosts/${hostIds[4]}`, { token: admin })).status).toBe(200);
    expect(events).toEqual(['deleted:UUID-5']);
    const bulk = await api(server(), 'POST', `${v1}/hosts/delete`, {
      token: admin,
      body: { ids: [hostIds[2], hostIds[3]] },
    });
    expect(bulk.status).toBe(200);
    expect(events[1]).toBe('deleted:UUID-3,UUID-4');
    expect((await api(server(), 'GET', `${v1}/hosts/count`, { token: admin })).body.count).toBe(2);
    expect(await server().app.services.hostStore.getHostMdm(hostIds[2])).toBeUndefined();
  });

  it('deleting a team moves its hosts to No team and drops its secrets', async () => {
    // Team A holds the first host (the transfer test leaves it there).
    await teams();
    if ((await server().app.services.hostStore.getById(hostIds[0]))!.team_id !== teamA)
      await api(server(), 'POST', `${v1}/hosts/transfer`, {
        token: admin,
        body: { team_id: teamA, hosts: [hostIds[0]] },
      });
    events.length = 0;
    expect((await api(server(), 'DELETE', `${v1}/teams/${teamA}`, { token: admin })).status).toBe(200);
    expect(events).toEqual([`transferred:${hostIds[0]}->null`]);
    expect((await server().app.services.hostStore.getById(hostIds[0]))!.team_id).toBeNull();
    expect(await server().app.services.enrollSecrets.teamForSecret('a-1')).toBeUndefined();
  });

  it('reads and patches the config, with dry_run, and lists activities newest first with paging', async () => {
    await everyKindOfActivity();
    const cfg = await api(server(), 'GET', `${v1}/config`, { token: admin });
    expect(cfg.body.org_info.org_name).toBe('Acme');
    const dry = await api(server(), 'PATCH', `${v1}/config?dry_run=true`, {
      token: admin,
      body: { org_info: { org_name: 'Dry' } },
    });
    expect(dry.status).toBe(200);
    expect(dry.body.org_info.org_name).toBe('Dry');
    expect((await api(server(), 'GET', `${v1}/config`, { token: admin })).body.org_info.org_name).toBe(
      'Acme',
    );
    const patched = await api(server(), 'PATCH', `${v1}/config`, {
      token: admin,
      body: {
        server_settings: { server_url: 'https://mdm.acme.test' },
        mdm: { windows_enabled_and_configured: true },
      },
    });
    expect(patched.body).toMatchObject({
      server_settings: { server_url: 'https://mdm.acme.test' },
      mdm: { windows_enabled_and_configured: true },
    });
    expect(await server().app.services.appConfig.serverUrl()).toBe('https://mdm.acme.test');

    const first = await api(server(), 'GET', `${v1}/activities?page=0&per_page=2`, { token: admin });
    expect(first.body.activities.map((a: any) => a.type)).toEqual([
      'enabled_windows_mdm',
      'edited_app_config',
    ]);
    expect(first.body.meta).toEqual({ has_next_results: true, has_previous_results: false });
    expect(first.body.activities[0]).toMatchObject({
      actor_full_name: 'Admin',
      actor_email: 'admin@example.com',
    });
    const second = await api(server(), 'GET', `${v1}/activities?page=1&per_page=2`, { token: admin });
    expect(second.body.meta.has_previous_results).toBe(true);
    expect(second.body.activities[0].id).toBeLessThan(first.body.activities[1].id);
    const all = await api(server(), 'GET', `${v1}/activities`, { token: admin });
    const types = new Set(all.body.activities.map((a: any) => a.type));
    for (const t of [
      'created_team',
      'deleted_team',
      'created_user',
      'deleted_user',
      'changed_user_global_role',
      'created_label',
      'deleted_label',
      'transferred_hosts',
      'deleted_host',
      'edited_enroll_secrets',
      'edited_app_config',
    ]) {
      expect(types).toContain(t);
    }
  });
});
