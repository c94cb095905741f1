import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CronScheduler, cronPattern, type CronSchedulerOptions } from '../../src/cron/scheduler.js';
import { CronStore } from '../../src/cron/store.js';
import { dbNow } from '../../src/db/dialect.js';
import { createTestDatabase, dialects, mysqlAvailable, type TestDatabase } from '../helpers/testServer.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A job body that parks each run until `release()`; `began` settles once the first run is inside it. */
function parkedJob() {
  let began: () => void = () => {};
  const job = {
    runs: 0,
    release: () => {},
    began: new Promise<void>((r) => (began = r)),
    run: () => {
      job.runs++;
      began();
      return new Promise<void>((r) => (job.release = r));
    },
  };
  return job;
}

for (const dialect of dialects) {
  const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;
  d(`cron leases [${dialect}]`, () => {
    let testDb: TestDatabase;
    let store: CronStore;
    beforeAll(async () => {
      testDb = await createTestDatabase(dialect);
      store = new CronStore(testDb.database.db);
    });
    afterAll(async () => {
      await testDb.drop();
    });

    /** Two "processes": schedulers with different instance ids on one database. */
    function pair(
      job: { name: string; intervalSeconds: number; run: () => Promise<void> },
      options: CronSchedulerOptions = {},
    ) {
      const a = new CronScheduler(store, 'instance-a', silent, { shutdownGraceMs: 200, ...options });
      const b = new CronScheduler(store, 'instance-b', silent, { shutdownGraceMs: 200, ...options });
      a.register(job);
      b.register(job);
      return { a, b };
    }

    const lease = (name: string) =>
      testDb.database.db.selectFrom('locks').selectAll().where('name', '=', name).executeTakeFirstOrThrow();

    it('runs a job in exactly one of two processes ticking together, and records the run', async () => {
      let runs = 0;
      const { a, b } = pair({ name: 'same_tick', intervalSeconds: 60, run: async () => void runs++ });
      const outcomes = await Promise.all([a.runScheduled('same_tick'), b.runScheduled('same_tick')]);
      expect(outcomes.filter((o) => o.ran)).toHaveLength(1);
      expect(outcomes.find((o) => !o.ran)).toMatchObject({ reason: 'lease_held' });
      expect(runs).toBe(1);
      const rows = await store.runsOf('same_tick');
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ stats_type: 'scheduled', status: 'completed', errors: null });
      const winner = outcomes[0].ran ? 'instance-a' : 'instance-b';
      expect(rows[0].instance).toBe(winner);
      expect((await lease('same_tick')).owner).toBe(winner);
    });

    it('keeps the lease after the run so a late tick elsewhere does not run again; the holder extends it', async () => {
      let runs = 0;
      const { a, b } = pair({ name: 'kept', intervalSeconds: 60, run: async () => void runs++ });
      expect((await a.runScheduled('kept')).ran).toBe(true);
      expect(await b.runScheduled('kept')).toEqual({ ran: false, reason: 'lease_held' });
      const before = (await lease('kept')).expires_at;
      await sleep(20);
      expect((await a.runScheduled('kept')).ran).toBe(true);
      expect((await lease('kept')).expires_at > before).toBe(true);
      expect(runs).toBe(2);
    });

    it('lets another process take over an expired lease', async () => {
      const { a, b } = pair({ name: 'expired', intervalSeconds: 60, run: async () => {} });
      expect((await a.runScheduled('expired')).ran).toBe(true);
      await testDb.database.db
        .updateTable('locks')
        .set({ expires_at: dbNow(-1000) })
        .where('name', '=', 'expired')
        .execute();
      expect((await b.runScheduled('expired')).ran).toBe(true);
      expect((await lease('expired')).owner).toBe('instance-b');
      expect(await a.runScheduled('expired')).toEqual({ ran: false, reason: 'lease_held' });
      const rows = await store.runsOf('expired');
      expect(rows.map((r) => r.instance)).toEqual(['instance-a', 'instance-b']);
    });

    it('renews the lease during a long run; neither process starts a second run meanwhile', async () => {
      // Renewals every 50 ms of a one-minute lease: the test sees them without waiting out an
      // interval, and a stalled machine cannot let the lease run out under the assertions.
      const job = parkedJob();
      const { a, b } = pair({ name: 'long_run', intervalSeconds: 60, run: job.run }, { renewEveryMs: 50 });
      const first = a.runScheduled('long_run');
      await job.began;
      const initial = (await lease('long_run')).expires_at;
      // Wait (bounded) for a renewal: the lease moves on and so does the run's heartbeat.
      await vi.waitFor(
        async () => {
          expect((await lease('long_run')).expires_at > initial).toBe(true);
          const [run] = await store.runsOf('long_run');
          expect(run.updated_at > run.created_at).toBe(true);
        },
        { timeout: 30_000, interval: 50 },
      );
      const renewed = await lease('long_run');
      expect(renewed.owner).toBe('instance-a');
      expect(renewed.expires_at > initial).toBe(true);
      expect(renewed.expires_at > dbNow()).toBe(true);
      expect(await b.runScheduled('long_run')).toEqual({ ran: false, reason: 'lease_held' });
      expect(await a.runScheduled('long_run')).toEqual({ ran: false, reason: 'already_running' });
      const pending = await store.runsOf('long_run');
      expect(pending).toHaveLength(1);
      expect(pending[0].status).toBe('pending');
      expect(pending[0].updated_at > pending[0].created_at).toBe(true); // heartbeat
      job.release();
      expect((await first).ran).toBe(true);
      expect(job.runs).toBe(1);
      expect((await store.runsOf('long_run'))[0].status).toBe('completed');
    });

    it('records job errors as JSON and keeps running later ticks', async () => {
      const { a } = pair({
        name: 'failing',
        intervalSeconds: 60,
        run: async () => Promise.reject(new Error('boom')),
      });
      const out = await a.runScheduled('failing');
      expect(out).toMatchObject({ ran: true, errors: ['boom'] });
      const [row] = await store.runsOf('failing');
      expect(row.status).toBe('completed');
      expect(JSON.parse(row.errors!)).toEqual(['boom']);
    });

    it('skips while another process has a live pending run, ignores a stale one', async () => {
      // A one-minute interval: the fresh pending row stays live (2 intervals) however slow the machine.
      const { b } = pair({ name: 'pending_elsewhere', intervalSeconds: 60, run: async () => {} });
      const now = dbNow();
      await testDb.database.db
        .insertInto('cron_stats')
        .values({
          name: 'pending_elsewhere',
          instance: 'instance-x',
          stats_type: 'scheduled',
          status: 'pending',
          errors: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      expect(await b.runScheduled('pending_elsewhere')).toEqual({ ran: false, reason: 'already_running' });
      // The other process died: its heartbeat stops and the row goes stale after 2 intervals.
      const old = dbNow(-3 * 60_000);
      await testDb.database.db
        .updateTable('cron_stats')
        .set({ updated_at: old, created_at: old })
        .where('instance', '=', 'instance-x')
        .execute();
      expect((await b.runScheduled('pending_elsewhere')).ran).toBe(true);
    });

    it('a trigger takes an idle lease held elsewhere, refuses while a run is in progress, and records it as triggered', async () => {
      const job = parkedJob();
      const { a, b } = pair({ name: 'triggerable', intervalSeconds: 60, run: job.run });
      const scheduled = a.runScheduled('triggerable');
      await job.began;
      await expect(b.trigger('triggerable')).rejects.toMatchObject({ statusCode: 409 });
      await expect(a.trigger('triggerable')).rejects.toMatchObject({ statusCode: 409 });
      job.release();
      await scheduled;
      // a still holds the lease (kept until expiry) but is idle: b's trigger may take it.
      const { statsId, finished } = await b.trigger('triggerable');
      expect((await lease('triggerable')).owner).toBe('instance-b');
      job.release();
      expect(await finished).toMatchObject({ ran: true, statsId });
      const rows = await store.runsOf('triggerable');
      expect(rows.map((r) => [r.stats_type, r.status, r.instance])).toEqual([
        ['scheduled', 'completed', 'instance-a'],
        ['triggered', 'completed', 'instance-b'],
      ]);
      await expect(b.trigger('no_such_job')).rejects.toMatchObject({ statusCode: 400 });
    });

    it('marks a run still going at shutdown as canceled', async () => {
      const job = parkedJob(); // never released
      const { a } = pair({ name: 'shutdown', intervalSeconds: 60, run: job.run });
      void a.runScheduled('shutdown');
      await job.began;
      await a.stop();
      const [row] = await store.runsOf('shutdown');
      expect(row.status).toBe('canceled');
      expect(JSON.parse(row.errors!)[0]).toContain('shutting down');
    });
  });
}

describe('cron patterns', () => {
  it('maps intervals onto clock-aligned node-cron patterns', () => {
    expect(cronPattern(1)).toEqual({ pattern: '* * * * * *' });
    expect(cronPattern(15)).toEqual({ pattern: '*/15 * * * * *' });
    expect(cronPattern(300)).toEqual({ pattern: '0 */5 * * * *' });
    expect(cronPattern(3600)).toEqual({ pattern: '0 0 */1 * * *' });
    expect(cronPattern(86400)).toEqual({ pattern: '0 0 0 * * *' });
    expect(cronPattern(7 * 60 + 1)).toEqual({ pattern: '* * * * * *', everyNth: 421 });
  });
});
