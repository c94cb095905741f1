import { beforeAll, expect, it } from 'vitest';
import { sessionKeyHash } from '../../src/admin/userStore.js';
import { api, setupAdmin } from '../helpers/api.js';
import { apiUser, createTeam, snapshot } from '../helpers/adminFixtures.js';
import { describeEachDialect } from '../helpers/testServer.js';

const v1 = '/api/v1/fleet';

interface BadCase {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  rawBody?: string;
  token?: 'admin' | 'teamMaintainer' | 'expired';
  status: number;
  message?: string;
}

describeEachDialect('admin API bad input changes nothing', (server) => {
  const tokens: Record<string, string> = {};
  let team1 = 0;
  let team2 = 0;
  let host2 = 0;

  beforeAll(async () => {
    tokens.admin = await setupAdmin(server());
    team1 = await createTeam(server(), tokens.admin, 'Existing');
    team2 = await createTeam(server(), tokens.admin, 'Other');
    const { hostStore } = server().app.services;
    await hostStore.create({ uuid: 'BAD-1', platform: 'darwin', team_id: team1 });
    host2 = await hostStore.create({ uuid: 'BAD-2', platform: 'darwin', team_id: team2 });
    await api(server(), 'POST', `${v1}/labels`, {
      token: tokens.admin,
      body: { name: 'Taken', query: 'SELECT 1' },
    });
    await api(server(), 'PATCH', `${v1}/teams/${team2}/secrets`, {
      token: tokens.admin,
      body: { secrets: [{ secret: 'in-use' }] },
    });
    tokens.teamMaintainer = (
      await apiUser(server(), tokens.admin, 'tm', { teams: [{ id: team1, role: 'maintainer' }] })
    ).token;
    const login = await api(server(), 'POST', `${v1}/login`, {
      body: { email: 'admin@example.com', password: 'admin-password-1!' },
    });
    tokens.expired = login.body.token;
    await server()
      .app.services.database.db.updateTable('sessions')
      .set({ accessed_at: '2020-01-01 00:00:00.000' })
      .where('key', '=', sessionKeyHash(tokens.expired))
      .execute();
  });

  const cases = (): BadCase[] => [
    {
      name: 'malformed JSON',
      method: 'POST',
      path: '/teams',
      rawBody: '{"name":',
      status: 400,
      message: 'Bad request',
    },
    {
      name: 'unknown field next to a bad known one on team create',
      method: 'POST',
      path: '/teams',
      body: { name: '', color: 'red' },
      status: 422,
      message: 'Validation Failed',
    },
    {
      name: 'unknown config key',
      method: 'PATCH',
      path: '/config',
      body: { org_info: { org_name: 'x' }, nonsense: true },
      status: 400,
    },
    {
      name: 'unknown nested config key',
      method: 'PATCH',
      path: '/config',
      body: { mdm: { apple_server_url: '', frobnicate: 1 } },
      status: 400,
    },
    {
      name: 'wrong type',
      method: 'PATCH',
      path: `/teams/${team1}`,
      body: { name: 42 },
      status: 422,
      message: 'Validation Failed',
    },
    {
      name: 'unknown role',
      method: 'POST',
      path: '/users/admin',
      body: { name: 'U', email: 'u@example.com', password: 'long-password-1!', global_role: 'king' },
      status: 422,
    },
    {
      name: 'weak password',
      method: 'POST',
      path: '/users/admin',
      body: { name: 'U', email: 'u@example.com', password: 'short', global_role: 'observer' },
      status: 422,
    },
    {
      name: 'both global and team roles',
      method: 'POST',
      path: '/users/admin',
      body: {
        name: 'U',
        email: 'u@example.com',
        password: 'long-password-1!',
        global_role: 'observer',
        teams: [{ id: team1, role: 'observer' }],
      },
      status: 422,
    },
    {
      name: 'duplicate user email',
      method: 'POST',
      path: '/users/admin',
      body: { name: 'U', email: 'admin@example.com', password: 'long-password-1!', global_role: 'observer' },
      status: 409,
      message: 'Resource Already Exists',
    },
    {
      name: 'duplicate team name',
      method: 'POST',
      path: '/teams',
      body: { name: 'Existing' },
      status: 409,
      message: 'Resource Already Exists',
    },
    {
      name: 'duplicate label name',
      method: 'POST',
      path: '/labels',
      body: { name: 'Taken', query: 'SELECT 2' },
      status: 409,
    },
    {
      name: 'label with query and hosts',
      method: 'POST',
      path: '/labels',
      body: { name: 'Both', query: 'SELECT 2', hosts: ['BAD-1'] },
      status: 422,
    },
    {
      name: 'manual label with an unknown host',
      method: 'POST',
      path: '/labels',
      body: { name: 'Ghost', hosts: ['BAD-1', 'NOPE'] },
      status: 422,
    },
    {
      name: 'enroll secret used by another team',
      method: 'PATCH',
      path: `/teams/${team1}/secrets`,
      body: { secrets: [{ secret: 'fresh' }, { secret: 'in-use' }] },
      status: 409,
    },
    {
      name: 'global enroll secret used by a team',
      method: 'POST',
      path: '/spec/enroll_secret',
      body: { spec: { secrets: [{ secret: 'in-use' }] } },
      status: 409,
    },
    {
      name: 'unknown host',
      method: 'GET',
      path: '/hosts/999999',
      status: 404,
      message: 'Resource Not Found',
    },
    { name: 'delete unknown host', method: 'DELETE', path: '/hosts/999999', status: 404 },
    {
      name: 'bulk delete with one unknown host',
      method: 'POST',
      path: '/hosts/delete',
      body: { ids: [host2, 999999] },
      status: 404,
    },
    {
      name: 'transfer to unknown team',
      method: 'POST',
      path: '/hosts/transfer',
      body: { team_id: 999999, hosts: [host2] },
      status: 404,
    },
    {
      name: 'transfer an unknown host',
      method: 'POST',
      path: '/hosts/transfer',
      body: { team_id: team1, hosts: [host2, 999999] },
      status: 404,
    },
    { name: 'unknown team', method: 'PATCH', path: '/teams/999999', body: { description: 'x' }, status: 404 },
    { name: 'delete unknown team', method: 'DELETE', path: '/teams/999999', status: 404 },
    { name: 'unknown user', method: 'DELETE', path: '/users/999999', status: 404 },
    { name: 'unknown label', method: 'DELETE', path: '/labels/id/999999', status: 404 },
    { name: 'unknown label name', method: 'DELETE', path: '/labels/Nope', status: 404 },
    { name: 'non-numeric id', method: 'GET', path: '/hosts/abc', status: 400 },
    { name: 'bad paging', method: 'GET', path: '/hosts?page=-1', status: 400 },
    { name: 'direction without key', method: 'GET', path: '/hosts?order_direction=desc', status: 400 },
    { name: 'unknown order key', method: 'GET', path: '/hosts?order_key=password', status: 400 },
    {
      name: 'bad host list filter value',
      method: 'GET',
      path: '/hosts?mdm_enrollment_status=bogus',
      status: 400,
    },
    {
      name: 'team maintainer transfers into another team',
      method: 'POST',
      path: '/hosts/transfer',
      body: { team_id: team2, hosts: [1] },
      token: 'teamMaintainer',
      status: 403,
    },
    {
      name: 'team maintainer deletes another team host',
      method: 'DELETE',
      path: `/hosts/${host2}`,
      token: 'teamMaintainer',
      status: 403,
    },
    {
      name: 'team maintainer edits a global label',
      method: 'POST',
      path: '/labels',
      body: { name: 'Mine', query: 'SELECT 1' },
      token: 'teamMaintainer',
      status: 403,
    },
    {
      name: 'expired session',
      method: 'POST',
      path: '/teams',
      body: { name: 'Late' },
      token: 'expired',
      status: 401,
      message: 'Authentication Failed',
    },
    { name: 'no token', method: 'DELETE', path: `/hosts/${host2}`, status: 401 },
  ];

  it("answers each bad request with Fleet's error body and the right status, storing nothing", async () => {
    for (const c of cases()) {
      const before = await snapshot(server());
      const token = c.name === 'no token' ? undefined : tokens[c.token ?? 'admin'];
      const res = await api(server(), c.method, v1 + c.path, {
        token,
        body: c.body,
        rawBody: c.rawBody,
        headers: c.rawBody ? { 'content-type': 'application/json' } : undefined,
      });
      expect(res.status, `${c.name}: ${res.text}`).toBe(c.status);
      expect(res.body, c.name).toMatchObject({
        message: expect.any(String),
        errors: [{ name: expect.any(String), reason: expect.any(String) }],
      });
      if (c.message) expect(res.body.message, c.name).toBe(c.message);
      expect(await snapshot(server()), `${c.name} changed stored state`).toEqual(before);
    }
  });

  it("ignores body keys an endpoint does not know, as Fleet's JSON decoding does (config excepted)", async () => {
    const team = await api(server(), 'POST', `${v1}/teams`, {
      token: tokens.admin,
      body: { name: 'Lenient', color: 'red' },
    });
    expect(team.status, team.text).toBe(200);
    expect(team.body.team).not.toHaveProperty('color');
    const user = await api(server(), 'POST', `${v1}/users/admin`, {
      token: tokens.admin,
      body: {
        name: 'U',
        email: 'lenient@example.com',
        password: 'long-password-1!',
        global_role: 'observer',
        shoe: 1,
      },
    });
    expect(user.status, user.text).toBe(200);
    expect(user.body.user).not.toHaveProperty('shoe');
    const patch = await api(server(), 'PATCH', `${v1}/teams/${team1}`, {
      token: tokens.admin,
      body: { description: 'still checked', host_ids: [host2], mdm: { frobnicate: 1 } },
    });
    expect(patch.status, patch.text).toBe(200);
    expect(patch.body.team.description).toBe('still checked');
    expect(patch.body.team.mdm).not.toHaveProperty('frobnicate');
    // host_ids moves no host: Fleet's PATCH /teams/:id has no such key (POST /hosts/transfer does it).
    expect((await server().app.services.hostStore.getById(host2))?.team_id).toBe(team2);
  });

  it('refuses an oversize body with 413 and stores nothing', async () => {
    const before = await snapshot(server());
    const huge = JSON.stringify({ name: 'Big', description: 'x'.repeat(server().config.maxBodyBytes + 10) });
    const res = await api(server(), 'POST', `${v1}/teams`, {
      token: tokens.admin,
      rawBody: huge,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expect(res.body.errors[0].reason).toContain('max size limit');
    expect(await snapshot(server())).toEqual(before);
  });

  it('refuses removing the last global admin, and a label edit of a built-in, storing nothing', async () => {
    const before = await snapshot(server());
    const me = await api(server(), 'GET', `${v1}/me`, { token: tokens.admin });
    expect(
      (
        await api(server(), 'PATCH', `${v1}/users/${me.body.user.id}`, {
          token: tokens.admin,
          body: { global_role: 'maintainer' },
        })
      ).status,
    ).toBe(409);
    expect(
      (await api(server(), 'DELETE', `${v1}/users/${me.body.user.id}`, { token: tokens.admin })).status,
    ).toBe(409);
    expect((await api(server(), 'DELETE', `${v1}/labels/macOS`, { token: tokens.admin })).status).toBe(422);
    expect(await snapshot(server())).toEqual(before);
  });
});
