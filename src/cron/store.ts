import type { Kysely, Selectable } from 'kysely';
import type { CronStatsTable, DB } from '../db/schema.js';
import { dbNow, forUpdate, insertIgnore } from '../db/dialect.js';

/** Placeholder expiry for a lease row nobody holds yet. */
const neverHeld = '1970-01-01 00:00:00.000';

export type StatsType = 'scheduled' | 'triggered';
export type RunStatus = 'pending' | 'completed' | 'canceled';

export interface StartRunRequest {
  name: string;
  instance: string;
  /** How long the lease lasts from now (the job's interval). */
  leaseMs: number;
  statsType: StatsType;
  /** A pending stats row whose updated_at is older than this is from a dead process. */
  staleMs: number;
  /**
   * Take the lease even from another live holder, as long as no run is in progress (the holder
   * is only keeping the lease until its expiry). Used by "trigger now".
   */
  takeIdleLease: boolean;
}

export type StartRunResult =
  { started: true; statsId: number } | { started: false; reason: 'lease_held' | 'already_running' };

export type CronStatsRow = Selectable<CronStatsTable>;

/** Leases (`locks`) and run records (`cron_stats`) for the cron scheduler. */
export class CronStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Takes the job's lease and records a pending run, atomically. The lease is ours when we already
   * own it, when it has expired, or (takeIdleLease) when no run is in progress. The lease row is
   * created beforehand with INSERT IGNORE so the locking read always finds a row (locking a
   * missing row would take gap locks that deadlock concurrent inserts on MySQL).
   */
  async tryStartRun(req: StartRunRequest): Promise<StartRunResult> {
    await insertIgnore(this.db, 'locks', { name: req.name, owner: '', expires_at: neverHeld });
    return this.db.transaction().execute(async (trx) => {
      const lease = await forUpdate(
        trx,
        trx.selectFrom('locks').select(['owner', 'expires_at']).where('name', '=', req.name),
      ).executeTakeFirstOrThrow();
      const latest = await trx
        .selectFrom('cron_stats')
        .select(['status', 'updated_at'])
        .where('name', '=', req.name)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      // The clock is read once the lease row is locked and the last run read, so a run's created_at
      // is never earlier than the updated_at of a run it found finished (up to clock skew between hosts).
      const now = dbNow();
      const running = latest?.status === 'pending' && latest.updated_at > dbNow(-req.staleMs);
      const ours = lease.owner === req.instance || lease.expires_at <= now;
      if (!ours && !(req.takeIdleLease && !running)) return { started: false, reason: 'lease_held' } as const;
      if (running) return { started: false, reason: 'already_running' } as const;
      await trx
        .updateTable('locks')
        .set({ owner: req.instance, expires_at: dbNow(req.leaseMs) })
        .where('name', '=', req.name)
        .execute();
      const inserted = await trx
        .insertInto('cron_stats')
        .values({
          name: req.name,
          instance: req.instance,
          stats_type: req.statsType,
          status: 'pending',
          errors: null,
          created_at: now,
          updated_at: now,
        })
        .executeTakeFirstOrThrow();
      return { started: true, statsId: Number(inserted.insertId) } as const;
    });
  }

  /** Extends our lease while a long run continues; false when another process holds it now. */
  async renewLease(name: string, instance: string, leaseMs: number, statsId: number): Promise<boolean> {
    const res = await this.db
      .updateTable('locks')
      .set({ expires_at: dbNow(leaseMs) })
      .where('name', '=', name)
      .where('owner', '=', instance)
      .executeTakeFirst();
    // The stats row's updated_at is the run's heartbeat: a pending row that stops beating is stale.
    await this.db
      .updateTable('cron_stats')
      .set({ updated_at: dbNow() })
      .where('id', '=', statsId)
      .where('status', '=', 'pending')
      .execute();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Closes a pending run; a run already marked canceled (at shutdown) stays canceled. */
  async finishRun(statsId: number, status: Exclude<RunStatus, 'pending'>, errors: string[]): Promise<void> {
    await this.db
      .updateTable('cron_stats')
      .set({ status, errors: errors.length ? JSON.stringify(errors) : null, updated_at: dbNow() })
      .where('id', '=', statsId)
      .where('status', '=', 'pending')
      .execute();
  }

  /** The latest run of each named job. */
  async latestRuns(names: string[]): Promise<Map<string, CronStatsRow>> {
    const out = new Map<string, CronStatsRow>();
    if (names.length === 0) return out;
    const latestIds = this.db
      .selectFrom('cron_stats')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('name', 'in', names)
      .groupBy('name');
    const rows = await this.db.selectFrom('cron_stats').selectAll().where('id', 'in', latestIds).execute();
    for (const r of rows) out.set(r.name, r as CronStatsRow);
    return out;
  }

  async runsOf(name: string): Promise<CronStatsRow[]> {
    return (await this.db
      .selectFrom('cron_stats')
      .selectAll()
      .where('name', '=', name)
      .orderBy('id')
      .execute()) as CronStatsRow[];
  }

  /** Deletes run records older than the cutoff (they are only history). */
  async deleteRunsBefore(cutoff: string): Promise<number> {
    const res = await this.db
      .deleteFrom('cron_stats')
      .where('created_at', '<', cutoff)
      .where('status', '!=', 'pending')
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
