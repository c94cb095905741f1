import { beforeAll, expect, it } from 'vitest';
import { adminPassword, api } from '../helpers/api.js';
import { apiUser, createTeam, snapshot } from '../helpers/adminFixtures.js';
import { describeEachDialect } from '../helpers/testServer.js';

const v1 = '/api/v1/fleet';

/**
 * Answers and bodies where Flotilla follows what Fleet's server does: setup's enroll secret and
 * answer, a new team's secret, /me settings, whole team objects in users and invites, team users,
 * host and label fields, and POST /hosts/delete by filter.
 */
describeEachDialect('admin API follows Fleet (setup, teams, users, hosts, labels)', (server) => {
  let admin = '';
  let setupAnswer: any;

  beforeAll(async () => {
    const res = await api(server(), 'POST', '/api/v1/setup', {
      body: {
        // `admin.admin` is in Fleet's docs example; Fleet ignores it, and so does Flotilla.
        admin: { admin: true, email: 'admin@example.com', name: 'Admin', password: adminPassword },
        org_info: { org_name: 'Acme', org_logo_url: 'https://acme.test/logo.png' },
      },
    });
    expect(res.status, res.text).toBe(200);
    setupAnswer = res.body;
    admin = res.body.token;
  });

  it('setup creates a global enroll secret and answers with the whole org info', async () => {
    expect(setupAnswer).toMatchObject({
      org_info: {
        org_name: 'Acme',
        org_logo_url: 'https://acme.test/logo.png',
        org_logo_url_light_background: '',
        contact_url: expect.any(String),
      },
      osquery_enroll_secret: null,
    });
    const secrets = await api(server(), 'GET', `${v1}/spec/enroll_secret`, { token: admin });
    expect(secrets.body.spec.secrets).toHaveLength(1);
    const [secret] = secrets.body.spec.secrets;
    expect(Buffer.from(secret.secret, 'base64')).toHaveLength(24);
    expect(secret).not.toHaveProperty('team_id');
    expect(await server().app.services.enrollSecrets.teamForSecret(secret.secret)).toEqual({ teamId: null });

    // fleetctl's dry run is a query parameter: nothing changes.
    const dry = await api(server(), 'POST', `${v1}/spec/enroll_secret?dry_run=true`, {
      token: admin,
      body: { spec: { secrets: [{ secret: 'dry-only' }] } },
    });
    expect(dry.status).toBe(200);
    expect(await server().app.services.enrollSecrets.teamForSecret('dry-only')).toBeUndefined();

    const before = await snapshot(server());
    const again = await api(server(), 'POST', '/api/v1/setup', {
      body: { admin: { email: 'other@example.com', name: 'Other', password: adminPassword } },
    });
    expect(again.status).toBe(409);
    expect(await snapshot(server())).toEqual(before);
  });

  it('gives a new team one random enroll secret unless the request names its secrets', async () => {
    const plain = await api(server(), 'POST', `${v1}/teams`, { token: admin, body: { name: 'Plain' } });
    expect(plain.body.team.secrets).toEqual([
      { secret: expect.any(String), created_at: expect.stringMatching(/Z$/), team_id: plain.body.team.id },
    ]);
    const named = await api(server(), 'POST', `${v1}/teams`, {
      token: admin,
      body: { name: 'Named', secrets: [{ secret: 'named-secret' }] },
    });
    expect(named.body.team.secrets.map((s: any) => s.secret)).toEqual(['named-secret']);
    const none = await api(server(), 'POST', `${v1}/teams`, {
      token: admin,
      body: { name: 'None', secrets: [] },
    });
    expect(none.body.team.secrets).toEqual([]);
  });

  it('sends /me settings only when include_ui_settings is true', async () => {
    const plain = await api(server(), 'GET', `${v1}/me`, { token: admin });
    expect(plain.body).not.toHaveProperty('settings');
    const asked = await api(server(), 'GET', `${v1}/me?include_ui_settings=true`, { token: admin });
    expect(asked.body.settings).toEqual({ hidden_host_columns: [] });
    expect((await api(server(), 'GET', `${v1}/me?include_ui_settings=maybe`, { token: admin })).status).toBe(
      400,
    );
  });

  it('shows whole team objects with counts in users, and team users in team answers', async () => {
    const team = await createTeam(server(), admin, 'Members');
    const hostId = await server().app.services.hostStore.create({
      uuid: 'PARITY-T',
      platform: 'darwin',
      team_id: team,
    });
    const a = await apiUser(server(), admin, 'Member A', { teams: [{ id: team, role: 'observer' }] });
    const b = await apiUser(server(), admin, 'Member B', { teams: [{ id: team, role: 'maintainer' }] });

    const users = await api(server(), 'GET', `${v1}/users?team_id=${team}`, { token: admin });
    expect(users.body.users).toHaveLength(2);
    for (const u of users.body.users) {
      expect(u.teams).toEqual([
        expect.objectContaining({
          id: team,
          name: 'Members',
          description: '',
          created_at: expect.stringMatching(/Z$/),
          user_count: 2,
          host_count: 1,
          mdm: expect.any(Object),
          host_expiry_settings: expect.any(Object),
          role: u.id === a.id ? 'observer' : 'maintainer',
        }),
      ]);
      expect(u.teams[0]).not.toHaveProperty('secrets');
    }
    const me = await api(server(), 'GET', `${v1}/me`, { token: a.token });
    expect(me.body.user.teams[0]).toMatchObject({ id: team, user_count: 2, role: 'observer' });

    const elsewhere = await createTeam(server(), admin, 'Elsewhere');
    const c = await apiUser(server(), admin, 'Member C', { teams: [{ id: elsewhere, role: 'observer' }] });
    const added = await api(server(), 'PATCH', `${v1}/teams/${team}/users`, {
      token: admin,
      body: { users: [{ id: c.id, role: 'admin' }] },
    });
    expect(added.status, added.text).toBe(200);
    const byId = new Map(added.body.team.users.map((u: any) => [u.id, u]));
    expect([...byId.keys()].sort()).toEqual([a.id, b.id, c.id].sort());
    expect(byId.get(c.id)).toMatchObject({ name: 'Member C', role: 'admin', teams: null, api_only: true });
    const removed = await api(server(), 'DELETE', `${v1}/teams/${team}/users`, {
      token: admin,
      body: { users: [{ id: a.id }, { id: b.id }, { id: c.id }] },
    });
    expect(removed.body.team).not.toHaveProperty('users');
    expect(removed.body.team.user_count).toBe(0);
    await api(server(), 'DELETE', `${v1}/hosts/${hostId}`, { token: admin });
  });

  it("sends Fleet's host fields and label fields", async () => {
    const id = await server().app.services.hostStore.create({
      uuid: 'PARITY-H',
      platform: 'darwin',
      hostname: 'parity.example.com',
      computer_name: 'Parity',
    });
    const list = await api(server(), 'GET', `${v1}/hosts?query=PARITY-H`, { token: admin });
    const [h] = list.body.hosts;
    expect(h).toMatchObject({ display_text: 'parity.example.com', display_name: 'Parity' });
    expect(h.seen_time).toBe(h.created_at);
    expect(h).not.toHaveProperty('osquery_host_id');
    const detail = await api(server(), 'GET', `${v1}/hosts/${id}`, { token: admin });
    const allHosts = detail.body.host.labels.find((l: any) => l.name === 'All Hosts');
    expect(allHosts).toMatchObject({
      created_at: expect.stringMatching(/Z$/),
      updated_at: expect.stringMatching(/Z$/),
      author_id: null,
    });
    expect(allHosts).not.toHaveProperty('host_count');

    const label = await api(server(), 'POST', `${v1}/labels`, {
      token: admin,
      body: { name: 'Parity empty', query: 'SELECT 1', platform: 'darwin' },
    });
    expect(label.body.label.count).toBe(0);
    expect(label.body.label).not.toHaveProperty('host_count');
    const patched = await api(server(), 'PATCH', `${v1}/labels/${label.body.label.id}`, {
      token: admin,
      body: { description: 'now described', platform: 'windows' },
    });
    expect(patched.status, patched.text).toBe(200);
    // Fleet's label edit has no platform: the key is ignored.
    expect(patched.body.label).toMatchObject({ description: 'now described', platform: 'darwin' });
    const labels = await api(server(), 'GET', `${v1}/labels`, { token: admin });
    const all = labels.body.labels.find((l: any) => l.name === 'All Hosts');
    expect(all.count).toBeGreaterThan(0);
    expect(all.host_count).toBe(all.count);
    await api(server(), 'DELETE', `${v1}/hosts/${id}`, { token: admin });
  });

  it("deletes hosts by filter within the caller's teams, and refuses ids with filters", async () => {
    const { hostStore } = server().app.services;
    const t1 = await createTeam(server(), admin, 'Filter 1');
    const t2 = await createTeam(server(), admin, 'Filter 2');
    const make = (uuid: string, team_id: number | null, hostname = uuid) =>
      hostStore.create({ uuid, platform: 'darwin', team_id, hostname });
    const keep1 = await make('F1-KEEP', t1, 'keep-me');
    const drop1 = await make('F1-DROP', t1, 'drop-me');
    const other = await make('F2-ONE', t2, 'drop-me-too');
    const maintainer = await apiUser(server(), admin, 'Filter maintainer', {
      teams: [{ id: t1, role: 'maintainer' }],
    });
    const observer = await apiUser(server(), admin, 'Filter observer', { global_role: 'observer' });
    const del = (token: string, body: unknown) =>
      api(server(), 'POST', `${v1}/hosts/delete`, { token, body });

    const before = await snapshot(server());
    for (const [body, reason] of [
      [
        { ids: [keep1], filters: { team_id: t1 } },
        'Cannot specify a list of ids and filters at the same time',
      ],
      [{}, 'list of ids or filters must be specified'],
      [{ ids: [] }, 'list of ids or filters must be specified'],
      [{ filters: { colour: 'blue' } }, 'unknown filter key: colour'],
      [{ filters: { team_id: 'one' } }, 'team_id must be a number'],
      [{ filters: { status: 'asleep' } }, 'status must be one of: new, online, offline, missing'],
      [{ filters: { query: '' } }, 'query must not be empty'],
    ] as const) {
      const res = await del(admin, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.errors[0].reason).toBe(reason);
    }
    // A team maintainer may not name another team; an observer may not delete.
    expect((await del(maintainer.token, { filters: { team_id: t2 } })).status).toBe(403);
    expect((await del(observer.token, { filters: { query: 'drop-me' } })).status).toBe(403);
    expect(await snapshot(server())).toEqual(before);

    // The maintainer's filter only ever reaches their own team's hosts.
    expect((await del(maintainer.token, { filters: { query: 'drop-me' } })).status).toBe(200);
    expect(await hostStore.getById(drop1)).toBeUndefined();
    expect(await hostStore.getById(other)).toBeDefined();
    expect(await hostStore.getById(keep1)).toBeDefined();
    // `ids` with empty filters is a delete by ids, as in Fleet.
    expect((await del(admin, { ids: [other], filters: {} })).status).toBe(200);
    expect(await hostStore.getById(other)).toBeUndefined();
    expect((await del(admin, { filters: { team_id: t1, status: 'online' } })).status).toBe(200);
    expect(await hostStore.getById(keep1)).toBeUndefined();
  });
});
