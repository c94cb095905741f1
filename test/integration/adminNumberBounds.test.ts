import { beforeAll, expect, it } from 'vitest';
import { api, setupAdmin } from '../helpers/api.js';
import { createTeam, snapshot } from '../helpers/adminFixtures.js';
import { describeEachDialect } from '../helpers/testServer.js';

const v1 = '/api/latest/fleet';

/** Values that are not a whole number in range, each as the client would type it. */
const badValues = ['1e308', '99999999999999999999', '2e+21', '-1', '1.5', 'abc', '0x10'];

const reasons: Record<string, string> = {
  page: 'page must be an integer from 0 to 1000000',
  per_page: 'per_page must be an integer from 1 to 1000000',
  team_id: 'team_id must be an integer from 0 to 2147483647',
  label_id: 'label_id must be an integer from 1 to 2147483647',
  id: 'id must be an integer from 1 to 2147483647',
};

interface Ctx {
  host: number;
  label: number;
  team: number;
}

interface Endpoint {
  method: string;
  /** The request path with the bad value `v` (already URL-encoded) in place. */
  path: (v: string, c: Ctx) => string;
  /** The parameter the 400 must name. */
  field: keyof typeof reasons;
  body?: unknown;
}

const endpoints: Endpoint[] = [
  { method: 'GET', path: (v) => `/hosts?page=${v}`, field: 'page' },
  { method: 'GET', path: (v) => `/hosts?page=0&per_page=${v}`, field: 'per_page' },
  { method: 'GET', path: (v) => `/hosts?team_id=${v}`, field: 'team_id' },
  { method: 'GET', path: (v) => `/hosts?fleet_id=${v}`, field: 'team_id' },
  { method: 'GET', path: (v) => `/hosts?label_id=${v}`, field: 'label_id' },
  { method: 'GET', path: (v) => `/hosts/count?team_id=${v}`, field: 'team_id' },
  { method: 'GET', path: (v) => `/hosts/count?per_page=${v}`, field: 'per_page' },
  { method: 'GET', path: (v) => `/labels?page=${v}`, field: 'page' },
  { method: 'GET', path: (v, c) => `/labels/${c.label}/hosts?page=${v}`, field: 'page' },
  { method: 'GET', path: (v) => `/users?page=${v}`, field: 'page' },
  { method: 'GET', path: (v) => `/users?team_id=${v}`, field: 'team_id' },
  { method: 'GET', path: (v) => `/teams?page=${v}`, field: 'page' },
  { method: 'GET', path: (v) => `/fleets?per_page=${v}`, field: 'per_page' },
  { method: 'GET', path: (v) => `/activities?page=${v}`, field: 'page' },
  { method: 'GET', path: (v) => `/activities?per_page=${v}`, field: 'per_page' },
  { method: 'GET', path: (v, c) => `/hosts/${c.host}/activities?page=${v}`, field: 'page' },
  { method: 'GET', path: (v) => `/commands?page=${v}`, field: 'page' },
  { method: 'GET', path: (v) => `/commands?per_page=${v}`, field: 'per_page' },
  { method: 'GET', path: (v) => `/configuration_profiles?page=${v}`, field: 'page' },
  { method: 'GET', path: (v) => `/configuration_profiles?team_id=${v}`, field: 'team_id' },
  { method: 'GET', path: (v) => `/configuration_profiles/summary?team_id=${v}`, field: 'team_id' },
  {
    method: 'POST',
    path: (v) => `/configuration_profiles/batch?team_id=${v}`,
    field: 'team_id',
    body: { profiles: [] },
  },
  { method: 'GET', path: (v) => `/hosts/${v}`, field: 'id' },
  { method: 'DELETE', path: (v) => `/hosts/${v}`, field: 'id' },
  { method: 'GET', path: (v) => `/hosts/${v}/activities`, field: 'id' },
  { method: 'POST', path: (v) => `/hosts/${v}/labels`, field: 'id', body: { labels: ['x'] } },
  { method: 'POST', path: (v) => `/hosts/${v}/refetch`, field: 'id' },
  { method: 'POST', path: (v) => `/hosts/${v}/lock`, field: 'id' },
  { method: 'POST', path: (v) => `/hosts/${v}/unlock`, field: 'id' },
  { method: 'POST', path: (v) => `/hosts/${v}/wipe`, field: 'id' },
  { method: 'POST', path: (v) => `/hosts/${v}/configuration_profiles/a-profile/resend`, field: 'id' },
  { method: 'GET', path: (v) => `/labels/${v}`, field: 'id' },
  { method: 'DELETE', path: (v) => `/labels/id/${v}`, field: 'id' },
  { method: 'GET', path: (v) => `/users/${v}`, field: 'id' },
  { method: 'DELETE', path: (v) => `/users/${v}/sessions`, field: 'id' },
  { method: 'GET', path: (v) => `/teams/${v}`, field: 'id' },
  { method: 'PATCH', path: (v) => `/teams/${v}`, field: 'id', body: { description: 'x' } },
];

describeEachDialect('numbers from the query string and the path are bounded', (server) => {
  let admin = '';
  const ctx: Ctx = { host: 0, label: 0, team: 0 };

  // An admin, a team, a host and a label.
  beforeAll(async () => {
    const srv = server();
    admin = await setupAdmin(srv);
    ctx.team = await createTeam(srv, admin, 'Bounds');
    ctx.host = await srv.app.services.hostStore.create({ uuid: 'BOUNDS-1', platform: 'darwin' });
    const label = await api(srv, 'POST', `${v1}/labels`, {
      token: admin,
      body: { name: 'Bounds label', hosts: ['BOUNDS-1'] },
    });
    expect(label.status).toBe(200);
    ctx.label = label.body.label.id;
  });

  it('answers every bad number on every endpoint with 400 and the field named, changing nothing', async () => {
    const before = await snapshot(server());
    for (const e of endpoints) {
      for (const bad of badValues) {
        const path = e.path(encodeURIComponent(bad), ctx);
        const res = await api(server(), e.method, v1 + path, { token: admin, body: e.body });
        const what = `${e.method} ${path}`;
        expect(res.status, what).toBe(400);
        expect(res.body, what).toEqual({
          message: 'Bad request',
          errors: [{ name: e.field, reason: reasons[e.field] }],
          uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        });
      }
    }
    expect(await snapshot(server())).toEqual(before);
  });

  it('refuses values just past each bound', async () => {
    const cases: [string, keyof typeof reasons][] = [
      ['/hosts?page=1000001', 'page'],
      ['/hosts?per_page=1000001', 'per_page'],
      ['/hosts?per_page=0', 'per_page'],
      ['/hosts?team_id=2147483648', 'team_id'],
      ['/hosts?label_id=0', 'label_id'],
      ['/hosts?label_id=2147483648', 'label_id'],
      ['/hosts/2147483648', 'id'],
      ['/hosts/0', 'id'],
      ['/hosts?page=%201', 'page'],
      ['/hosts?page=%2B1', 'page'],
      ['/hosts?page=1&page=2', 'page'],
    ];
    for (const [path, field] of cases) {
      const res = await api(server(), 'GET', v1 + path, { token: admin });
      expect(res.status, path).toBe(400);
      expect(res.body.errors, path).toEqual([{ name: field, reason: reasons[field] }]);
    }
  });

  it('serves the largest values that are in range', async () => {
    const max = 'page=1000000&per_page=1000000';
    for (const path of [
      `/hosts?${max}`,
      `/hosts?${max}&team_id=2147483647&label_id=2147483647`,
      `/hosts/count?team_id=2147483647`,
      `/labels?${max}`,
      `/labels/${ctx.label}/hosts?${max}`,
      `/users?${max}&team_id=2147483647`,
      `/teams?${max}`,
      `/activities?${max}`,
      `/hosts/${ctx.host}/activities?${max}`,
      `/commands?${max}`,
      `/configuration_profiles?${max}`,
    ]) {
      const res = await api(server(), 'GET', v1 + path, { token: admin });
      expect(res.status, `${path}: ${res.text}`).toBe(200);
      const list = Object.values(res.body as Record<string, unknown>).find(Array.isArray);
      if (list) expect(list, path).toEqual([]);
    }
    const hosts = await api(server(), 'GET', `${v1}/hosts?page=0&per_page=1000000&team_id=0`, {
      token: admin,
    });
    expect(hosts.body.hosts.map((h: { id: number }) => h.id)).toEqual([ctx.host]);
    // Leading zeros are still decimal; an empty value counts as absent.
    expect(
      (await api(server(), 'GET', `${v1}/hosts/${'0'.repeat(5)}${ctx.host}`, { token: admin })).status,
    ).toBe(200);
    expect((await api(server(), 'GET', `${v1}/hosts?page=&per_page=`, { token: admin })).status).toBe(200);
    for (const path of [
      '/hosts/2147483647',
      '/labels/2147483647',
      '/users/2147483647',
      '/teams/2147483647',
    ]) {
      expect((await api(server(), 'GET', v1 + path, { token: admin })).status, path).toBe(404);
    }
  });
});
