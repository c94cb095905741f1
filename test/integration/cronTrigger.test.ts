import { beforeAll, expect, it, vi } from 'vitest';
import { newSessionKey } from '../../src/admin/authService.js';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

/** A user with the given global role and a session token, made through the store. */
async function userToken(srv: TestServer, email: string, role: 'maintainer' | 'observer'): Promise<string> {
  const { userStore } = srv.app.services;
  const id = await userStore.create({
    email,
    name: role,
    passwordHash: 'x',
    globalRole: role,
    teams: [],
    apiOnly: true,
  });
  const token = newSessionKey();
  await userStore.createSession(id, token);
  return token;
}

async function statsCount(srv: TestServer): Promise<number> {
  const r = await srv.app.services.database.db
    .selectFrom('cron_stats')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Waits (bounded) until the latest run of `name` is completed, and returns the job's runs. */
async function completedRuns(srv: TestServer, name: string) {
  return vi.waitFor(
    async () => {
      const rows = await srv.app.services.cronStore.runsOf(name);
      expect(rows.at(-1)?.status).toBe('completed');
      return rows;
    },
    { timeout: 30_000, interval: 20 },
  );
}

describeEachDialect(
  'cron trigger endpoint',
  (server) => {
    let admin = '';
    let release: () => void = () => {};

    // A slow job for the conflict case, and an admin.
    beforeAll(async () => {
      server().app.services.cron.register({
        name: 'slow_job',
        intervalSeconds: 3600,
        run: () => new Promise<void>((r) => (release = r)),
      });
      admin = await setupAdmin(server());
    });

    /** Runs `name` through the trigger endpoint unless it has run already; waits until it completed. */
    async function ranOnce(name: string): Promise<void> {
      if ((await server().app.services.cronStore.runsOf(name)).length === 0) {
        const res = await api(server(), 'POST', `/api/latest/fleet/trigger?name=${name}`, { token: admin });
        expect(res.status).toBe(200);
      }
      release(); // slow_job waits for it
      await completedRuns(server(), name);
    }

    it('refuses callers who are not global admins, and unauthenticated ones, running nothing', async () => {
      const before = await statsCount(server());
      const maintainer = await userToken(server(), 'm@example.com', 'maintainer');
      const observer = await userToken(server(), 'o@example.com', 'observer');
      for (const token of [maintainer, observer]) {
        const res = await api(server(), 'POST', '/api/latest/fleet/trigger?name=test_tick', { token });
        expect(res.status).toBe(403);
        expect(res.body.message).toBe('forbidden');
      }
      expect((await api(server(), 'POST', '/api/latest/fleet/trigger?name=test_tick')).status).toBe(401);
      expect((await api(server(), 'GET', '/api/latest/fleet/cron', { token: observer })).status).toBe(403);
      expect(await statsCount(server())).toBe(before);
    });

    it('answers 400 for a missing or unknown name', async () => {
      const before = await statsCount(server());
      const missing = await api(server(), 'POST', '/api/latest/fleet/trigger', { token: admin });
      expect(missing.status).toBe(400);
      expect(missing.body.errors[0]).toMatchObject({ name: 'name' });
      const unknown = await api(server(), 'POST', '/api/latest/fleet/trigger?name=nope', { token: admin });
      expect(unknown.status).toBe(400);
      expect(unknown.body.errors[0].reason).toContain('test_tick');
      expect(await statsCount(server())).toBe(before);
    });

    it('runs a job now and records it as triggered (unknown query parameters ignored, as Fleet does)', async () => {
      const before = (await server().app.services.cronStore.runsOf('test_tick')).length;
      const res = await api(server(), 'POST', '/api/latest/fleet/trigger?name=test_tick&now=1', {
        token: admin,
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
      const rows = await completedRuns(server(), 'test_tick');
      expect(rows).toHaveLength(before + 1);
      expect(rows[rows.length - 1]).toMatchObject({ stats_type: 'triggered', status: 'completed' });
    });

    it('answers 409 while the job is running and starts no second run', async () => {
      const first = await api(server(), 'POST', '/api/v1/fleet/trigger?name=slow_job', { token: admin });
      expect(first.status).toBe(200);
      const second = await api(server(), 'POST', '/api/v1/fleet/trigger?name=slow_job', { token: admin });
      expect(second.status).toBe(409);
      expect(await server().app.services.cronStore.runsOf('slow_job')).toHaveLength(1);
      release();
    });

    it('lists jobs with their interval and last run', async () => {
      await ranOnce('test_tick');
      await ranOnce('slow_job');
      const res = await api(server(), 'GET', '/api/latest/fleet/cron', { token: admin });
      expect(res.status).toBe(200);
      const byName = Object.fromEntries(res.body.crons.map((c: any) => [c.name, c]));
      expect(byName.test_tick).toMatchObject({
        interval_seconds: 60,
        last_run: { stats_type: 'triggered', status: 'completed', errors: null },
      });
      expect(byName.slow_job.last_run).toMatchObject({ stats_type: 'triggered', status: 'completed' });
      expect(byName.cleanup_cron_stats).toMatchObject({ interval_seconds: 3600, last_run: null });
    });
  },
  { cronTestJobIntervalSeconds: 60 },
);
