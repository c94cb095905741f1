import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { badRequest, conflict } from '../http/errors.js';
import type { CronStatsRow, CronStore, StatsType } from './store.js';

/** A job: a name, how often it runs, and a thin call into a service. */
export interface CronJob {
  name: string;
  intervalSeconds: number;
  run(): Promise<void>;
}

/** What happened when a tick or a trigger asked to run a job. */
export type RunOutcome =
  { ran: true; statsId: number; errors: string[] } | { ran: false; reason: 'lease_held' | 'already_running' };

export interface CronSchedulerOptions {
  /** How long stop() waits for running jobs before marking them canceled (default 2 s). */
  shutdownGraceMs?: number;
  /** How often a running job renews its lease (default 80 % of its interval, at least 200 ms). */
  renewEveryMs?: number;
}

interface ActiveRun {
  statsId: number;
  done: Promise<unknown>;
}

/**
 * The node-cron pattern (seconds first) that fires every `seconds`, aligned to the clock so all
 * processes tick at the same instants. Intervals that do not divide a minute, an hour or a day
 * fire every second and run when the epoch second is a multiple of the interval.
 */
export function cronPattern(seconds: number): { pattern: string; everyNth?: number } {
  if (seconds < 60 && 60 % seconds === 0)
    return { pattern: seconds === 1 ? '* * * * * *' : `*/${seconds} * * * * *` };
  if (seconds % 60 === 0 && seconds < 3600 && 60 % (seconds / 60) === 0)
    return { pattern: `0 */${seconds / 60} * * * *` };
  if (seconds % 3600 === 0 && seconds < 86400 && 24 % (seconds / 3600) === 0)
    return { pattern: `0 0 */${seconds / 3600} * * *` };
  if (seconds === 86400) return { pattern: '0 0 0 * * *' };
  return { pattern: '* * * * * *', everyNth: seconds };
}

/**
 * Runs registered jobs on their intervals. Before each run the job takes a lease row in `locks`
 * (so with many processes on one database exactly one runs it per tick), renews it while a long run
 * continues, and keeps it after the run until it expires, so a process whose timer fires a few
 * milliseconds later in the same tick finds it held. Every run is recorded in `cron_stats`.
 */
export class CronScheduler {
  private readonly jobs = new Map<string, CronJob>();
  private readonly tasks: ScheduledTask[] = [];
  private readonly active = new Map<string, ActiveRun>();
  private stopped = false;

  constructor(
    private readonly store: CronStore,
    readonly instanceId: string,
    private readonly logger: Logger,
    private readonly options: CronSchedulerOptions = {},
  ) {}

  register(job: CronJob): void {
    if (!/^[a-z0-9_]+$/.test(job.name)) throw new Error(`cron job name must be snake_case: ${job.name}`);
    if (!Number.isInteger(job.intervalSeconds) || job.intervalSeconds < 1) {
      throw new Error(`cron job ${job.name}: intervalSeconds must be a positive integer`);
    }
    if (this.jobs.has(job.name)) throw new Error(`cron job ${job.name} is registered twice`);
    this.jobs.set(job.name, job);
  }

  jobNames(): string[] {
    return [...this.jobs.keys()].sort();
  }

  /** Starts the timers of every registered job. */
  start(): void {
    this.stopped = false;
    for (const job of this.jobs.values()) {
      const { pattern, everyNth } = cronPattern(job.intervalSeconds);
      const task = cron.schedule(
        pattern,
        async (ctx) => {
          if (everyNth && Math.round(ctx.date.getTime() / 1000) % everyNth !== 0) return;
          await this.runScheduled(job.name);
        },
        // Overlap is handled by the lease and the in-process guard below, not by node-cron.
        { name: `flotilla:${job.name}`, noOverlap: false },
      );
      this.tasks.push(task);
    }
    this.logger.info({ instance: this.instanceId, jobs: this.jobNames() }, 'cron scheduler started');
  }

  /** Stops the timers, waits briefly for running jobs, and marks the ones still running canceled. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.tasks.splice(0)) await t.destroy();
    const running = [...this.active.values()];
    if (running.length === 0) return;
    const grace = new Promise((r) => setTimeout(r, this.options.shutdownGraceMs ?? 2000).unref());
    await Promise.race([Promise.allSettled(running.map((r) => r.done)), grace]);
    for (const [name, run] of this.active) {
      await this.store.finishRun(run.statsId, 'canceled', ['canceled: server shutting down']).catch(() => {});
      this.logger.warn({ job: name }, 'cron job canceled at shutdown');
    }
  }

  /** One tick of a job's timer: run it if this process gets the lease. */
  async runScheduled(name: string): Promise<RunOutcome> {
    try {
      return await this.runJob(this.job(name), 'scheduled');
    } catch (err) {
      this.logger.error({ job: name, err }, 'cron tick failed');
      return { ran: false, reason: 'already_running' };
    }
  }

  /**
   * Starts a run now (the admin "trigger"). Resolves once the run is recorded as started; the
   * returned `finished` settles when it completes. Throws 400 for an unknown job, 409 when it is running.
   */
  async trigger(name: string): Promise<{ statsId: number; finished: Promise<RunOutcome> }> {
    const job = this.jobs.get(name);
    if (!job)
      throw badRequest(`invalid name; supported trigger names are: ${this.jobNames().join(', ')}`, 'name');
    if (this.active.has(name)) throw conflict(`a run of ${name} is already in progress`);
    let startedId: (id: number | undefined) => void = () => {};
    const started = new Promise<number | undefined>((r) => (startedId = r));
    const finished = this.runJob(job, 'triggered', startedId);
    finished.then(
      () => startedId(undefined),
      () => startedId(undefined),
    );
    const statsId = await started;
    if (statsId === undefined) {
      await finished; // surfaces a database error
      throw conflict(`a run of ${name} is already in progress`);
    }
    return { statsId, finished };
  }

  /** Jobs with their interval and latest run, for the admin listing. */
  async describe(): Promise<{ job: CronJob; lastRun: CronStatsRow | undefined }[]> {
    const latest = await this.store.latestRuns(this.jobNames());
    return this.jobNames().map((n) => ({ job: this.jobs.get(n)!, lastRun: latest.get(n) }));
  }

  private job(name: string): CronJob {
    const job = this.jobs.get(name);
    if (!job) throw new Error(`unknown cron job ${name}`);
    return job;
  }

  private async runJob(
    job: CronJob,
    type: StatsType,
    onStarted?: (statsId: number) => void,
  ): Promise<RunOutcome> {
    // The database rules keep other processes out; this keeps a second tick of our own out.
    if (this.active.has(job.name) || (this.stopped && type === 'scheduled'))
      return { ran: false, reason: 'already_running' };
    const intervalMs = job.intervalSeconds * 1000;
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((r) => (resolveDone = r));
    const placeholder: ActiveRun = { statsId: 0, done };
    this.active.set(job.name, placeholder);
    try {
      const start = await this.store.tryStartRun({
        name: job.name,
        instance: this.instanceId,
        leaseMs: intervalMs,
        statsType: type,
        staleMs: Math.max(2 * intervalMs, 2000),
        takeIdleLease: type === 'triggered',
      });
      if (!start.started) return { ran: false, reason: start.reason };
      placeholder.statsId = start.statsId;
      onStarted?.(start.statsId);
      const renew = setInterval(
        () => {
          this.store.renewLease(job.name, this.instanceId, intervalMs, start.statsId).then(
            (held) => {
              if (!held) this.logger.warn({ job: job.name }, 'cron lease lost during a run');
            },
            (err) => this.logger.error({ job: job.name, err }, 'cron lease renewal failed'),
          );
        },
        this.options.renewEveryMs ?? Math.max(200, Math.floor(intervalMs * 0.8)),
      );
      const errors: string[] = [];
      const began = Date.now();
      try {
        await job.run();
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
        this.logger.error({ job: job.name, err }, 'cron job failed');
      } finally {
        clearInterval(renew);
      }
      await this.store.finishRun(start.statsId, 'completed', errors);
      // Routine runs log at debug: a 10-second job would otherwise fill the log.
      this.logger.debug(
        { job: job.name, type, ms: Date.now() - began, errors: errors.length },
        'cron job ran',
      );
      return { ran: true, statsId: start.statsId, errors };
    } finally {
      this.active.delete(job.name);
      resolveDone();
    }
  }
}
