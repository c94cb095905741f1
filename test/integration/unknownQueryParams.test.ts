import { beforeAll, expect, it } from 'vitest';
import { api, setupAdmin } from '../helpers/api.js';
import { createTeam, snapshot } from '../helpers/adminFixtures.js';
import { describeEachDialect } from '../helpers/testServer.js';

const v1 = '/api/v1/fleet';

interface Ctx {
  host: number;
  label: number;
  team: number;
  user: number;
}

/** Read endpoints of the admin API, each with the query it is called with (maybe none). */
const reads: ((c: Ctx) => string)[] = [
  () => '/hosts',
  () => '/hosts?per_page=5&order_key=hostname',
  () => '/hosts/count',
  (c) => `/hosts/count?team_id=${c.team}`,
  (c) => `/hosts/${c.host}`,
  (c) => `/hosts/${c.host}/activities`,
  () => '/labels',
  () => '/labels?include_host_counts=false',
  () => '/labels/summary',
  (c) => `/labels/${c.label}`,
  (c) => `/labels/${c.label}/hosts`,
  () => '/users',
  (c) => `/users/${c.user}`,
  () => '/me',
  () => '/teams',
  (c) => `/teams/${c.team}`,
  () => '/fleets',
  () => '/activities',
  () => '/activities?order_key=id&order_direction=desc',
  () => '/configuration_profiles',
  () => '/configuration_profiles/summary',
  () => '/commands',
  () => '/commands/results?command_uuid=nope',
  () => '/config',
  () => '/cron',
];

/** Known parameters with a bad value: still a 400 naming the parameter. */
const badValues: [path: (c: Ctx) => string, name: string][] = [
  [() => '/hosts?per_page=abc&colour=blue', 'per_page'],
  [() => '/hosts/count?label_id=0&colour=blue', 'label_id'],
  [() => '/hosts?mdm_enrollment_status=sideways&colour=blue', 'mdm_enrollment_status'],
  [() => '/hosts?order_key=password&colour=blue', 'order_key'],
  [(c) => `/labels/${c.label}/hosts?page=-1&colour=blue`, 'page'],
  [() => '/labels?include_host_counts=maybe&colour=blue', 'include_host_counts'],
  [() => '/users?team_id=abc&colour=blue', 'team_id'],
  [() => '/teams?order_key=secret&colour=blue', 'order_key'],
  [() => '/activities?order_direction=sideways&colour=blue', 'order_direction'],
  [() => '/activities?order_key=secret&colour=blue', 'order_key'],
  [() => '/configuration_profiles?team_id=abc&colour=blue', 'team_id'],
  [() => '/commands?per_page=0&colour=blue', 'per_page'],
  [() => '/commands/results?colour=blue', 'command_uuid'],
];

/** An error body's `uuid` differs per request. */
function withoutUuid(body: unknown): unknown {
  if (!body || typeof body !== 'object' || !('errors' in body)) return body;
  const { uuid: _uuid, ...rest } = body as Record<string, unknown>;
  return rest;
}

describeEachDialect('unknown query parameters are ignored, as in Fleet', (server) => {
  let token = '';
  const ctx: Ctx = { host: 0, label: 0, team: 0, user: 0 };

  beforeAll(async () => {
    token = await setupAdmin(server());
    ctx.team = await createTeam(server(), token, 'Unknown params');
    ctx.host = await server().app.services.hostStore.create({
      uuid: 'UQP-1',
      platform: 'darwin',
      team_id: ctx.team,
    });
    const label = await api(server(), 'POST', `${v1}/labels`, {
      token,
      body: { name: 'UQP manual', hosts: ['UQP-1'] },
    });
    expect(label.status, label.text).toBe(200);
    ctx.label = label.body.label.id;
    ctx.user = (await api(server(), 'GET', `${v1}/me`, { token })).body.user.id;
  });

  it('answers a read with an unknown parameter exactly as without it', async () => {
    for (const p of reads) {
      const path = p(ctx);
      const plain = await api(server(), 'GET', v1 + path, { token });
      const sep = path.includes('?') ? '&' : '?';
      for (const extra of ['colour=blue', 'os_settings_unknown=1&colour=', 'a[b]=c', 'colour=1&colour=2']) {
        const withUnknown = await api(server(), 'GET', `${v1}${path}${sep}${extra}`, { token });
        expect(withUnknown.status, `${path} + ${extra}: ${withUnknown.text}`).toBe(plain.status);
        expect(withoutUuid(withUnknown.body), `${path} + ${extra}`).toEqual(withoutUuid(plain.body));
      }
    }
  });

  it('still refuses a known parameter with a bad value, naming it, and stores nothing', async () => {
    const before = await snapshot(server());
    for (const [p, name] of badValues) {
      const res = await api(server(), 'GET', v1 + p(ctx), { token });
      expect(res.status, `${p(ctx)}: ${res.text}`).toBe(400);
      expect(res.body, p(ctx)).toMatchObject({
        message: 'Bad request',
        errors: [{ name, reason: expect.any(String) }],
      });
    }
    expect(await snapshot(server())).toEqual(before);
  });

  it('ignores unknown parameters on writes too (the body keeps its own checks)', async () => {
    const patch = await api(server(), 'PATCH', `${v1}/config?colour=blue&dry_run=true`, {
      token,
      body: { org_info: { org_name: 'Acme' } },
    });
    expect(patch.status, patch.text).toBe(200);
    // Body keys follow Fleet per endpoint: PATCH /config refuses an unknown key (Fleet's config
    // apply is strict), POST /teams ignores it (Fleet's JSON decoding does) but checks known keys.
    const strictBody = await api(server(), 'PATCH', `${v1}/config?colour=blue`, {
      token,
      body: { colour: 'blue' },
    });
    expect(strictBody.status).toBe(400);
    expect(strictBody.body.errors[0].reason).toContain('colour');
    const lenientBody = await api(server(), 'POST', `${v1}/teams?colour=blue`, {
      token,
      body: { name: 'X', colour: 'blue' },
    });
    expect(lenientBody.status, lenientBody.text).toBe(200);
    expect(lenientBody.body.team).not.toHaveProperty('colour');
    const badKnownKey = await api(server(), 'POST', `${v1}/teams?colour=blue`, {
      token,
      body: { name: 42, colour: 'blue' },
    });
    expect(badKnownKey.status).toBe(422);
    expect(badKnownKey.body.errors[0].name).toBe('name');
  });

  it("accepts Fleet's label fields on POST /labels", async () => {
    const manual = await api(server(), 'POST', `${v1}/labels?colour=blue`, {
      token,
      body: {
        name: 'UI manual',
        description: 'from the UI',
        label_membership_type: 'manual',
        hosts: ['UQP-1'],
      },
    });
    expect(manual.status, manual.text).toBe(200);
    expect(manual.body.label).toMatchObject({
      name: 'UI manual',
      description: 'from the UI',
      label_membership_type: 'manual',
      host_ids: [ctx.host],
    });
    const dynamic = await api(server(), 'POST', `${v1}/labels`, {
      token,
      body: {
        name: 'UI dynamic',
        description: '',
        query: 'SELECT 1',
        platform: 'darwin',
        label_membership_type: 'dynamic',
      },
    });
    expect(dynamic.status, dynamic.text).toBe(200);
    expect(dynamic.body.label).toMatchObject({
      name: 'UI dynamic',
      query: 'SELECT 1',
      platform: 'darwin',
      label_membership_type: 'dynamic',
    });

    const before = await snapshot(server());
    const badType = await api(server(), 'POST', `${v1}/labels`, {
      token,
      body: { name: 'Bad type', query: 'SELECT 1', label_membership_type: 'sometimes' },
    });
    expect(badType.status).toBe(422);
    expect(badType.body.errors[0].name).toBe('label_membership_type');
    const vitals = await api(server(), 'POST', `${v1}/labels`, {
      token,
      body: { name: 'Vitals', criteria: { vital: 'end_user_idp_group', value: 'x' } },
    });
    expect(vitals.status).toBe(422);
    expect(vitals.body.errors[0].name).toBe('criteria');
    expect(await snapshot(server())).toEqual(before);
  });
});
