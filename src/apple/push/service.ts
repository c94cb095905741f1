import type { Logger } from 'pino';
import type { ApnsClient, ApnsPushResult } from '../../clients/apns/client.js';
import { toDbTime } from '../../db/dialect.js';
import type { ApnsCertificateService } from './certificates.js';
import { PushBackoff, type PushOutcome } from '../../mdm/push/backoff.js';
import { deadTokenReasons, type ApplePushStore } from './store.js';

export interface EnrollmentPushResult {
  enrollmentId: string;
  ok: boolean;
  status?: number;
  reason?: string;
}

export interface ApplePushOptions {
  /** Enrollments handled per re-push batch. */
  batchSize: number;
  /** First re-push delay after a push; doubles per unanswered re-push. */
  backoffBaseMs: number;
  /** Longest delay between re-pushes. */
  backoffMaxMs: number;
}

/**
 * Wakes Apple devices through APNs so they fetch their queued commands. Records each outcome on
 * the enrollment: a dead token (410 Unregistered, 400 BadDeviceToken) is not pushed again until
 * the device sends a new TokenUpdate; enrollments with commands still pending are pushed again by
 * the re-push cron with exponential back-off.
 */
export class ApplePushService {
  private readonly backoff: PushBackoff;

  constructor(
    private readonly store: ApplePushStore,
    private readonly certificates: ApnsCertificateService,
    private readonly client: ApnsClient,
    private readonly logger: Logger,
    private readonly opts: ApplePushOptions,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.backoff = new PushBackoff(opts);
  }

  /** Pushes now (after new commands were queued): resets the back-off of these enrollments. */
  async pushEnrollments(enrollmentIds: string[]): Promise<EnrollmentPushResult[]> {
    return this.pushAndRecord(enrollmentIds, () => 0);
  }

  /** Delay before the next re-push after `failures` unanswered pushes. */
  backoffMs(failures: number): number {
    return this.backoff.delayMs(failures);
  }

  /**
   * The cron's work: pushes every enrollment whose commands are still pending (NotNow included)
   * and whose back-off has run out, batch by batch. Returns how many were pushed and how many failed.
   */
  async repushPending(): Promise<{ pushed: number; failed: number }> {
    const now = toDbTime(this.clock());
    return this.backoff.repushDue(
      '',
      (afterId, limit) => this.store.dueForRepush(now, limit, afterId),
      (ids, failuresAfter) => this.pushAndRecord(ids, failuresAfter),
    );
  }

  private async pushAndRecord(
    ids: string[],
    failuresAfter: (id: string) => number,
  ): Promise<EnrollmentPushResult[]> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    const targets = await this.store.pushTargets(unique);
    const byId = new Map(targets.map((t) => [t.id, t]));
    const results = new Map<string, EnrollmentPushResult>();
    const sendable = [];
    for (const id of unique) {
      const t = byId.get(id);
      if (!t) results.set(id, { enrollmentId: id, ok: false, reason: 'unknown enrollment' });
      else if (!t.enabled) results.set(id, { enrollmentId: id, ok: false, reason: 'enrollment is disabled' });
      else if (!t.token_hex || !t.push_magic)
        results.set(id, { enrollmentId: id, ok: false, reason: 'no push token yet' });
      else if (t.token_dead)
        results.set(id, { enrollmentId: id, ok: false, reason: t.last_push_error ?? 'dead token' });
      else sendable.push(t);
    }
    if (sendable.length === 0) return unique.map((id) => results.get(id)!);

    const cert = await this.certificates.current();
    const at = this.clock();
    let answers: ApnsPushResult[];
    if (!cert) {
      answers = sendable.map((t) => ({
        tokenHex: t.token_hex,
        ok: false,
        reason: 'APNs certificate not configured',
      }));
    } else {
      answers = await this.client.push(
        cert,
        // The enrollment's topic is what the device listens on; it equals the certificate's when all is well.
        sendable.map((t) => ({
          tokenHex: t.token_hex,
          pushMagic: t.push_magic,
          topic: t.topic || cert.topic,
        })),
      );
    }

    const outcomes: PushOutcome<string>[] = [];
    sendable.forEach((t, i) => {
      const a = answers[i];
      const error = a.ok ? null : (a.reason ?? `HTTP ${a.status ?? '?'}`).slice(0, 255);
      const dead = error !== null && (deadTokenReasons as readonly string[]).includes(error);
      outcomes.push({ id: t.id, error, dead, failures: failuresAfter(t.id) });
      results.set(t.id, {
        enrollmentId: t.id,
        ok: a.ok,
        status: a.status,
        reason: a.ok ? undefined : (error ?? undefined),
      });
    });
    await this.store.recordOutcomes(this.backoff.group(outcomes, at));

    const failed = sendable.length - answers.filter((a) => a.ok).length;
    if (failed > 0) {
      const reasons = [...new Set(answers.filter((a) => !a.ok).map((a) => a.reason))].slice(0, 5);
      this.logger.warn({ failed, total: sendable.length, reasons }, 'APNs push failures');
    }
    return unique.map((id) => results.get(id)!);
  }
}
