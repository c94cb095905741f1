import type { Logger } from 'pino';
import type { WnsClient, WnsPushOutcome } from '../../clients/wns/client.js';
import { BatchWriter } from '../../db/batchWriter.js';
import { toDbTime } from '../../db/dialect.js';
import { PushBackoff, type PushOutcome } from '../../mdm/push/backoff.js';
import type { WindowsPushStore } from './store.js';

/** What other Windows features call after queueing commands: wake these enrollments soon. */
export interface WindowsPush {
  /** Coalesced and asynchronous: safe to call inside a transaction, never throws. */
  push(enrollmentIds: number[]): void;
}

export interface EnrollmentPushResult {
  enrollmentId: number;
  ok: boolean;
  status?: number;
  reason?: string;
}

export interface WindowsPushOptions {
  /** Pushes asked for within this window go out together (one per enrollment). */
  coalesceMs: number;
  /** Enrollments handled per re-push batch. */
  batchSize: number;
  /** First re-push delay after a push; doubles per unanswered re-push. */
  backoffBaseMs: number;
  /** Longest delay between re-pushes. */
  backoffMaxMs: number;
}

/** WNS requests in flight at once. */
const maxInFlight = 100;

/** Fits the 255 characters of `last_push_error`. */
const errorText = (s: string) => s.slice(0, 255);

/**
 * Wakes Windows PCs through WNS so they start a management session and fetch their queued
 * commands, the way ApplePushService does with APNs: each outcome is recorded on the enrollment,
 * an expired channel (410) is forgotten until the PC reports a new one, and enrollments whose
 * commands are still queued are pushed again by the re-push cron with exponential back-off.
 * Without WNS settings (`client` undefined) nothing is pushed and PCs keep polling.
 */
export class WindowsPushService implements WindowsPush {
  private readonly pending: BatchWriter<number>;
  private readonly backoff: PushBackoff;

  constructor(
    private readonly store: WindowsPushStore,
    private readonly client: WnsClient | undefined,
    private readonly logger: Logger,
    private readonly opts: WindowsPushOptions,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.backoff = new PushBackoff(opts);
    this.pending = new BatchWriter<number>(
      async (ids) => {
        await this.pushEnrollments(ids);
      },
      { intervalMs: opts.coalesceMs, maxItems: 1000, logger, name: 'windows_wns_push' },
    );
  }

  get enabled(): boolean {
    return this.client !== undefined;
  }

  push(enrollmentIds: number[]): void {
    if (!this.client) return;
    for (const id of enrollmentIds) this.pending.add(String(id), id);
  }

  /** Sends the coalesced pushes now (shutdown, tests). */
  flush(): Promise<void> {
    return this.pending.flush();
  }

  /** Pushes now (after new commands were queued): resets the back-off of these enrollments. */
  pushEnrollments(enrollmentIds: number[]): Promise<EnrollmentPushResult[]> {
    return this.pushAndRecord(enrollmentIds, () => 0);
  }

  /** Delay before the next re-push after `failures` unanswered pushes. */
  backoffMs(failures: number): number {
    return this.backoff.delayMs(failures);
  }

  /** The cron's work: pushes every enrollment with queued commands whose back-off has run out. */
  async repushPending(): Promise<{ pushed: number; failed: number }> {
    if (!this.client) return { pushed: 0, failed: 0 };
    const now = toDbTime(this.clock());
    return this.backoff.repushDue(
      0,
      (afterId, limit) => this.store.dueForRepush(now, limit, afterId),
      (ids, failuresAfter) => this.pushAndRecord(ids, failuresAfter),
    );
  }

  private async pushAndRecord(
    ids: number[],
    failuresAfter: (id: number) => number,
  ): Promise<EnrollmentPushResult[]> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    const client = this.client;
    if (!client)
      return unique.map((id) => ({ enrollmentId: id, ok: false, reason: 'WNS is not configured' }));
    const targets = new Map((await this.store.pushTargets(unique)).map((t) => [t.enrollmentId, t]));
    const results = new Map<number, EnrollmentPushResult>();
    const sendable: { enrollmentId: number; channelUri: string }[] = [];
    for (const id of unique) {
      const t = targets.get(id);
      if (!t) results.set(id, { enrollmentId: id, ok: false, reason: 'unknown enrollment' });
      else if (!t.channelUri) results.set(id, { enrollmentId: id, ok: false, reason: 'no push channel yet' });
      else sendable.push({ enrollmentId: id, channelUri: t.channelUri });
    }
    if (sendable.length === 0) return unique.map((id) => results.get(id) as EnrollmentPushResult);

    const at = this.clock();
    // A bounded number of requests in flight, so a large re-push does not open thousands at once.
    const answers: WnsPushOutcome[] = [];
    for (let i = 0; i < sendable.length; i += maxInFlight) {
      const slice = sendable.slice(i, i + maxInFlight);
      answers.push(...(await Promise.all(slice.map((s) => client.sendRaw(s.channelUri)))));
    }
    const outcomes: PushOutcome<number>[] = [];
    sendable.forEach((s, i) => {
      const a = answers[i];
      const error = a.ok ? null : errorText(a.reason);
      const dead = !a.ok && (a.channelExpired === true || a.refused === true);
      outcomes.push({ id: s.enrollmentId, error, dead, failures: failuresAfter(s.enrollmentId) });
      results.set(s.enrollmentId, {
        enrollmentId: s.enrollmentId,
        ok: a.ok,
        status: a.status,
        reason: a.ok ? undefined : (error ?? undefined),
      });
    });
    // A dead target is a channel WNS expired: forget it until the PC reports a new one.
    await this.store.recordOutcomes(
      this.backoff.group(outcomes, at).map((g) => ({ ...g, clearChannel: g.dead })),
    );

    const failed = answers.filter((a) => !a.ok);
    if (failed.length > 0) {
      // Reasons only: channel URIs identify devices and carry WNS routing tokens.
      const reasons = [...new Set(failed.map((a) => (a.ok ? '' : a.reason)))].slice(0, 5);
      this.logger.warn({ failed: failed.length, total: sendable.length, reasons }, 'WNS push failures');
    }
    return unique.map((id) => results.get(id) as EnrollmentPushResult);
  }
}
