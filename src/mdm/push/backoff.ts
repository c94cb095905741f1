import { toDbTime } from '../../db/dialect.js';

/** One enrollment's push outcome, before outcomes are grouped into updates. */
export interface PushOutcome<Id> {
  id: Id;
  /** Why the push failed (null when it was accepted). */
  error: string | null;
  /** The push target is gone (dead APNs token, expired WNS channel): no re-push until a new one. */
  dead: boolean;
  /** Unanswered pushes counted after this one. */
  failures: number;
}

/** Outcomes that share one UPDATE. */
export interface PushOutcomeGroup<Id> {
  ids: Id[];
  lastPushAt: string;
  lastPushError: string | null;
  pushFailures: number;
  nextPushAt: string | null;
  dead: boolean;
}

export interface PushBackoffOptions {
  /** Enrollments handled per re-push batch. */
  batchSize: number;
  /** First re-push delay after a push; doubles per unanswered re-push. */
  backoffBaseMs: number;
  /** Longest delay between re-pushes. */
  backoffMaxMs: number;
}

/**
 * The re-push schedule every push channel (APNs, WNS) follows: a device whose commands are still
 * queued is pushed again after a delay that doubles per unanswered push, up to a ceiling; a dead
 * target is not pushed again until the device reports a new one.
 */
export class PushBackoff {
  constructor(private readonly opts: PushBackoffOptions) {}

  /** Delay before the next re-push after `failures` unanswered pushes. */
  delayMs(failures: number): number {
    return Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** Math.min(failures, 30));
  }

  /** Groups outcomes so each group is one UPDATE, with the next push time each one earns. */
  group<Id>(outcomes: PushOutcome<Id>[], at: Date): PushOutcomeGroup<Id>[] {
    const groups = new Map<string, PushOutcomeGroup<Id>>();
    for (const o of outcomes) {
      const key = `${o.error}\u0000${o.failures}\u0000${o.dead}`;
      const g = groups.get(key) ?? {
        ids: [],
        lastPushAt: toDbTime(at),
        lastPushError: o.error,
        pushFailures: o.failures,
        nextPushAt: o.dead ? null : toDbTime(new Date(at.getTime() + this.delayMs(o.failures))),
        dead: o.dead,
      };
      g.ids.push(o.id);
      groups.set(key, g);
    }
    return [...groups.values()];
  }

  /**
   * The re-push cron's walk: batch by batch (keyset on the id, from `start`), pushes each due
   * enrollment counting one more unanswered push. Returns how many were pushed and how many failed.
   */
  async repushDue<Id>(
    start: Id,
    due: (afterId: Id, limit: number) => Promise<{ id: Id; push_failures: number }[]>,
    push: (ids: Id[], failuresAfter: (id: Id) => number) => Promise<{ ok: boolean }[]>,
  ): Promise<{ pushed: number; failed: number }> {
    let afterId = start;
    let pushed = 0;
    let failed = 0;
    for (;;) {
      const rows = await due(afterId, this.opts.batchSize);
      if (rows.length === 0) break;
      const failuresById = new Map(rows.map((d) => [d.id, d.push_failures]));
      const results = await push(
        rows.map((d) => d.id),
        (id) => (failuresById.get(id) ?? 0) + 1,
      );
      pushed += results.filter((r) => r.ok).length;
      failed += results.filter((r) => !r.ok).length;
      afterId = rows[rows.length - 1].id;
      if (rows.length < this.opts.batchSize) break;
    }
    return { pushed, failed };
  }
}
