import { beforeAll, expect, it } from 'vitest';
import { api, setupAdmin } from '../helpers/api.js';
import { apiUser, createTeam, snapshot } from '../helpers/adminFixtures.js';
import { describeEachDialect } from '../helpers/testServer.js';

const v1 = '/api/latest/fleet';

type Who =
  | 'admin'
  | 'maintainer'
  | 'observer'
  | 'observer_plus'
  | 'gitops'
  | 'teamAdmin'
  | 'teamMaintainer'
  | 'teamObserver';
const everyone: Who[] = [
  'admin',
  'maintainer',
  'observer',
  'observer_plus',
  'gitops',
  'teamAdmin',
  'teamMaintainer',
  'teamObserver',
];

interface Case {
  name: string;
  method: string;
  path: (ctx: Ctx, who: Who) => string;
  body?: (ctx: Ctx, who: Who) => unknown;
  allowed: Who[];
  /** Writes are checked to change nothing when refused. */
  write?: boolean;
}

interface Ctx {
  team1: number;
  team2: number;
  host1: number;
  host2: number;
  hostNoTeam: number;
}

/**
 * Who may do what: global roles act everywhere, team roles only in their team (team 1 here).
 * Each row lists the callers that get a 2xx; every other caller must get a 403.
 */
/** Global roles that may read everything. */
const globalReaders: Who[] = ['admin', 'maintainer', 'observer', 'observer_plus'];
/** Everyone who may read team 1's objects: the global readers plus team 1's own roles. */
const everyReaderOfTeam1: Who[] = [...globalReaders, 'teamAdmin', 'teamMaintainer', 'teamObserver'];

const cases: Case[] = [
  {
    name: 'read a host in team 1',
    method: 'GET',
    path: (c) => `/hosts/${c.host1}`,
    allowed: everyReaderOfTeam1,
  },
  {
    name: 'read a host in team 2',
    method: 'GET',
    path: (c) => `/hosts/${c.host2}`,
    allowed: globalReaders,
  },
  {
    name: 'read a No-team host',
    method: 'GET',
    path: (c) => `/hosts/${c.hostNoTeam}`,
    allowed: globalReaders,
  },
  {
    name: 'list hosts of team 2',
    method: 'GET',
    path: (c) => `/hosts?team_id=${c.team2}`,
    allowed: globalReaders,
  },
  {
    name: 'read activities of a team-1 host',
    method: 'GET',
    path: (c) => `/hosts/${c.host1}/activities`,
    allowed: everyReaderOfTeam1,
  },
  {
    name: 'transfer a team-1 host within team 1',
    method: 'POST',
    path: () => '/hosts/transfer',
    body: (c) => ({ team_id: c.team1, hosts: [c.host1] }),
    allowed: ['admin', 'maintainer', 'gitops', 'teamAdmin', 'teamMaintainer'],
    write: true,
  },
  {
    name: 'transfer a team-2 host within team 2',
    method: 'POST',
    path: () => '/hosts/transfer',
    body: (c) => ({ team_id: c.team2, hosts: [c.host2] }),
    allowed: ['admin', 'maintainer', 'gitops'],
    write: true,
  },
  {
    name: 'create a global user',
    method: 'POST',
    path: () => '/users/admin',
    body: (_c, who) => ({
      name: `g-${who}`,
      email: `g-${who}@example.com`,
      password: 'long-password-1!',
      global_role: 'observer',
    }),
    allowed: ['admin'],
    write: true,
  },
  {
    name: 'create a team-1 user',
    method: 'POST',
    path: () => '/users/admin',
    body: (c, who) => ({
      name: `t-${who}`,
      email: `t-${who}@example.com`,
      password: 'long-password-1!',
      teams: [{ id: c.team1, role: 'observer' }],
    }),
    allowed: ['admin', 'teamAdmin'],
    write: true,
  },
  {
    name: 'create a team-2 user',
    method: 'POST',
    path: () => '/users/admin',
    body: (c, who) => ({
      name: `u-${who}`,
      email: `u-${who}@example.com`,
      password: 'long-password-1!',
      teams: [{ id: c.team2, role: 'observer' }],
    }),
    allowed: ['admin'],
    write: true,
  },
  {
    name: 'list users',
    method: 'GET',
    path: () => '/users',
    allowed: everyReaderOfTeam1,
  },
  {
    name: 'list users of team 2',
    method: 'GET',
    path: (c) => `/users?team_id=${c.team2}`,
    allowed: globalReaders,
  },
  {
    name: 'write the config',
    method: 'PATCH',
    path: () => '/config',
    body: () => ({ org_info: { org_name: 'Changed' } }),
    allowed: ['admin', 'gitops'],
    write: true,
  },
  { name: 'read the config', method: 'GET', path: () => '/config', allowed: everyone },
  {
    name: 'create a label',
    method: 'POST',
    path: () => '/labels',
    body: (_c, who) => ({ name: `label-${who}`, query: 'SELECT 1' }),
    allowed: ['admin', 'maintainer', 'gitops'],
    write: true,
  },
  {
    name: 'list labels',
    method: 'GET',
    path: () => '/labels',
    allowed: everyReaderOfTeam1,
  },
  {
    name: 'read team 1',
    method: 'GET',
    path: (c) => `/teams/${c.team1}`,
    allowed: everyReaderOfTeam1,
  },
  {
    name: 'read team 2',
    method: 'GET',
    path: (c) => `/fleets/${c.team2}`,
    allowed: globalReaders,
  },
  {
    name: 'edit team 1',
    method: 'PATCH',
    path: (c) => `/teams/${c.team1}`,
    body: (_c, who) => ({ description: `edited by ${who}` }),
    allowed: ['admin', 'gitops', 'teamAdmin'],
    write: true,
  },
  {
    name: 'edit team 2',
    method: 'PATCH',
    path: (c) => `/teams/${c.team2}`,
    body: () => ({ description: 'x' }),
    allowed: ['admin', 'gitops'],
    write: true,
  },
  {
    name: 'create a team',
    method: 'POST',
    path: () => '/teams',
    body: (_c, who) => ({ name: `team-${who}` }),
    allowed: ['admin', 'gitops'],
    write: true,
  },
  {
    name: 'read team-1 enroll secrets',
    method: 'GET',
    path: (c) => `/teams/${c.team1}/secrets`,
    allowed: ['admin', 'maintainer', 'teamAdmin', 'teamMaintainer'],
  },
  {
    name: 'replace team-1 enroll secrets',
    method: 'PATCH',
    path: (c) => `/teams/${c.team1}/secrets`,
    body: (_c, who) => ({ secrets: [{ secret: `s-${who}` }] }),
    allowed: ['admin', 'maintainer', 'gitops', 'teamAdmin', 'teamMaintainer'],
    write: true,
  },
  {
    name: 'read global enroll secrets',
    method: 'GET',
    path: () => '/spec/enroll_secret',
    allowed: ['admin', 'maintainer'],
  },
  {
    name: 'replace global enroll secrets',
    method: 'POST',
    path: () => '/spec/enroll_secret',
    body: (_c, who) => ({ spec: { secrets: [{ secret: `global-${who}` }] } }),
    allowed: ['admin', 'maintainer', 'gitops'],
    write: true,
  },
  {
    name: 'read the activity feed',
    method: 'GET',
    path: () => '/activities',
    allowed: globalReaders,
  },
];

describeEachDialect('admin API role matrix', (server) => {
  const tokens = {} as Record<Who, string>;
  const ctx = {} as Ctx;

  beforeAll(async () => {
    const srv = server();
    tokens.admin = await setupAdmin(srv);
    ctx.team1 = await createTeam(srv, tokens.admin, 'One');
    ctx.team2 = await createTeam(srv, tokens.admin, 'Two');
    const { hostStore } = srv.app.services;
    ctx.host1 = await hostStore.create({ uuid: 'H1', platform: 'darwin', team_id: ctx.team1 });
    ctx.host2 = await hostStore.create({ uuid: 'H2', platform: 'darwin', team_id: ctx.team2 });
    ctx.hostNoTeam = await hostStore.create({ uuid: 'H0', platform: 'windows' });
    for (const role of ['maintainer', 'observer', 'observer_plus', 'gitops'] as const) {
      tokens[role] = (await apiUser(srv, tokens.admin, role, { global_role: role })).token;
    }
    tokens.teamAdmin = (
      await apiUser(srv, tokens.admin, 'ta', { teams: [{ id: ctx.team1, role: 'admin' }] })
    ).token;
    tokens.teamMaintainer = (
      await apiUser(srv, tokens.admin, 'tm', { teams: [{ id: ctx.team1, role: 'maintainer' }] })
    ).token;
    tokens.teamObserver = (
      await apiUser(srv, tokens.admin, 'to', { teams: [{ id: ctx.team1, role: 'observer' }] })
    ).token;
  });

  for (const c of cases) {
    it(`${c.name}: allowed for ${c.allowed.join(', ') || 'nobody'}`, async () => {
      const outcomes: string[] = [];
      for (const who of everyone) {
        const before = c.write ? await snapshot(server()) : undefined;
        const res = await api(server(), c.method, v1 + c.path(ctx, who), {
          token: tokens[who],
          body: c.body?.(ctx, who),
        });
        const expected = c.allowed.includes(who) ? 200 : 403;
        outcomes.push(`${who}:${res.status}`);
        expect(res.status, `${who} → ${res.status} ${res.text}`).toBe(expected);
        if (expected === 403) {
          expect(res.body.message).toBe('forbidden');
          if (before) expect(await snapshot(server()), `${who} changed stored state`).toEqual(before);
        }
      }
      expect(outcomes).toHaveLength(everyone.length);
    });
  }

  it('team users see only their own team in lists', async () => {
    const hosts = await api(server(), 'GET', `${v1}/hosts`, { token: tokens.teamObserver });
    expect(hosts.body.hosts.map((h: any) => h.id)).toEqual([ctx.host1]);
    const count = await api(server(), 'GET', `${v1}/hosts/count`, { token: tokens.teamMaintainer });
    expect(count.body.count).toBe(1);
    const teams = await api(server(), 'GET', `${v1}/teams`, { token: tokens.teamObserver });
    expect(teams.body.teams.map((t: any) => t.id)).toEqual([ctx.team1]);
    expect(teams.body.teams[0].secrets).toEqual([]);
    const users = await api(server(), 'GET', `${v1}/users`, { token: tokens.teamObserver });
    expect(users.body.users.every((u: any) => u.teams.some((t: any) => t.id === ctx.team1))).toBe(true);
    const all = await api(server(), 'GET', `${v1}/hosts`, { token: tokens.observer });
    expect(all.body.hosts).toHaveLength(3);
  });

  it('a team admin cannot delete a team or a user outside the team, nor delete the team-2 host', async () => {
    const before = await snapshot(server());
    expect(
      (await api(server(), 'DELETE', `${v1}/teams/${ctx.team1}`, { token: tokens.teamAdmin })).status,
    ).toBe(403);
    const adminId = (await api(server(), 'GET', `${v1}/me`, { token: tokens.admin })).body.user.id;
    expect(
      (await api(server(), 'DELETE', `${v1}/users/${adminId}`, { token: tokens.teamAdmin })).status,
    ).toBe(403);
    expect(
      (await api(server(), 'DELETE', `${v1}/hosts/${ctx.host2}`, { token: tokens.teamAdmin })).status,
    ).toBe(403);
    expect(
      (
        await api(server(), 'POST', `${v1}/hosts/delete`, {
          token: tokens.teamMaintainer,
          body: { ids: [ctx.host1, ctx.host2] },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await api(server(), 'PATCH', `${v1}/teams/${ctx.team2}/users`, {
          token: tokens.teamAdmin,
          body: { users: [{ id: adminId, role: 'observer' }] },
        })
      ).status,
    ).toBe(403);
    expect(await snapshot(server())).toEqual(before);
  });
});
