import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { AppConfigService } from '../../appconfig/service.js';
import { cmsSign } from '../../crypto/cms.js';
import { fromDbTime, toApiTime, toDbTime } from '../../db/dialect.js';
import { buildCommandPlist } from '../commands/build.js';
import type { AppleCommandQueue } from '../commands/queue.js';
import type { CommandQueueStore } from '../commands/store.js';
import type { PushTopicSource } from '../enrollment/service.js';
import { parsePlistDict, type PlistValue } from '../plist/parse.js';
import type { AppleScepService } from '../scep/service.js';
import type { RenewalCompletion } from './completion.js';
import { MigrationProfileError, readMigrationProfile, type MigrationProfile } from './migrationProfile.js';
import { planRenewals } from './plan.js';
import type { AssociationKey, RenewalHost, RenewKind, ScepRenewalStore } from './store.js';

/** Activities of the renewal cron. */
export const sentActivity = 'sent_identity_certificate_renewal';
export const failedActivity = 'failed_identity_certificate_renewal';

/** A renewal command (and its shared SCEP challenge) is given this long to be answered. */
export const renewalCommandLifetimeDays = 30;
/** The longest wait before a failed renewal is tried again. */
const maxRetryDelayMs = 7 * 86_400_000;
/** Queued renewals looked at per run. */
const sentPerRun = 5000;

export interface ScepRenewalSettings {
  /** Identities expiring within this many days are renewed (Fleet: 180). */
  windowDays: number;
  /** Most identities asked to renew per run (Fleet: 100). */
  batchSize: number;
  /** First delay before a failed renewal is tried again; doubles per failure (at most 7 days). */
  retryMinutes: number;
  /** The operator's enrollment profile for devices migrated from another MDM. */
  migrationProfileFile?: string;
}

export interface ScepRenewalRun {
  /** Old identities found replaced by a new one in this run. */
  renewed: number;
  /** Renewal commands queued, and the devices they went to. */
  commands: number;
  devices: number;
  /** Renewals that failed (device refusal, no answer, or no profile that could be sent). */
  failed: number;
}

interface Failure {
  key: AssociationKey;
  host: RenewalHost;
  attempts: number;
  kind?: RenewKind;
  reason: string;
}

function str(v: PlistValue | undefined): string | undefined {
  return typeof v === 'string' && v ? v : undefined;
}

/** The first error of a device's answer, as `<domain> (<code>): <description>`. */
function errorDetail(result: Buffer | undefined): string {
  if (!result) return '';
  try {
    const chain = parsePlistDict(result).ErrorChain;
    const first = Array.isArray(chain) ? (chain[0] as Record<string, PlistValue> | undefined) : undefined;
    if (!first) return '';
    const text = str(first.USEnglishDescription) ?? str(first.LocalizedDescription) ?? '';
    return `: ${str(first.ErrorDomain) ?? 'error'} (${String(first.ErrorCode ?? '')}): ${text}`;
  } catch {
    return '';
  }
}

/**
 * The `renew_scep_certificates` cron: asks devices whose identity certificate expires soon to
 * renew it, by sending them an enrollment profile that replaces the installed one (same
 * identifiers, ServerURL, Topic), with a SCEP challenge shared by the devices of one command. Each
 * identity's renewal moves requested → command_sent → renewed, or → failed and, after a back-off,
 * requested again. One command per device at a time: a device that is offline keeps its queued
 * command (the APNs re-push cron wakes it); a new one is sent only after the old one was answered
 * with an error, left the queue, or outlived its challenge.
 */
export class ScepRenewalService {
  constructor(
    private readonly store: ScepRenewalStore,
    private readonly completion: RenewalCompletion,
    private readonly deps: {
      scep: Pick<AppleScepService, 'issueChallenge' | 'caCertificate'>;
      pushCertificates: PushTopicSource;
      appConfig: Pick<AppConfigService, 'get' | 'serverUrl'>;
      queue: Pick<AppleCommandQueue, 'enqueue'>;
      queueStore: Pick<CommandQueueStore, 'deactivate'>;
      push: { pushEnrollments(ids: string[]): Promise<unknown> };
      activities?: Pick<ActivityService, 'record'>;
      logger: Logger;
    },
    private readonly settings: ScepRenewalSettings,
  ) {}

  /** Delay before retrying a renewal that has failed `attempts` times before. */
  retryDelayMs(attempts: number): number {
    return Math.min(maxRetryDelayMs, this.settings.retryMinutes * 60_000 * 2 ** Math.min(attempts, 20));
  }

  /** One run: settle what devices did since the last run, then ask the next due devices. */
  async run(now: Date = new Date()): Promise<ScepRenewalRun> {
    const summary: ScepRenewalRun = { renewed: 0, commands: 0, devices: 0, failed: 0 };
    summary.renewed = await this.completion.completeReplaced(sentPerRun);
    const failures = await this.settleSent(now);
    await this.sendDue(now, summary, failures);
    await this.fail(failures, now);
    summary.failed = failures.length;
    if (summary.renewed || summary.commands || summary.failed)
      this.deps.logger.info({ ...summary }, 'apple identity certificate renewal run');
    return summary;
  }

  /** Commands answered with an error, acknowledged without a new identity, dropped, or too old. */
  private async settleSent(now: Date): Promise<Failure[]> {
    const failures: Failure[] = [];
    const expired: { id: string; commandUuid: string }[] = [];
    const lifetimeMs = renewalCommandLifetimeDays * 86_400_000;
    for (const s of await this.store.sent(sentPerRun)) {
      let reason: string | undefined;
      if (s.status === 'Error' || s.status === 'CommandFormatError') {
        reason = `the device answered ${s.status}${errorDetail(s.result)}`;
      } else if (s.status === 'Acknowledged') {
        reason = 'the device installed the profile but did not authenticate with a new identity';
      } else if (s.queued !== 'active') {
        reason = 'the renewal command left the device queue unanswered';
      } else if ((fromDbTime(s.sentAt)?.getTime() ?? now.getTime()) + lifetimeMs < now.getTime()) {
        reason = `the device did not answer the renewal command within ${renewalCommandLifetimeDays} days`;
        expired.push({ id: s.id, commandUuid: s.commandUuid });
      }
      if (reason) failures.push({ key: s, host: s, attempts: s.attempts, kind: s.kind ?? undefined, reason });
    }
    // Its challenge has expired too: the device must get a new command, and only that one.
    await this.deps.queueStore.deactivate(expired);
    return failures;
  }

  private async sendDue(now: Date, summary: ScepRenewalRun, failures: Failure[]): Promise<void> {
    const { logger } = this.deps;
    if (!(await this.deps.pushCertificates.current())) {
      logger.debug('apple identity renewal skipped: no APNs certificate (Apple MDM is off)');
      return;
    }
    const cutoff = toDbTime(new Date(now.getTime() + this.settings.windowDays * 86_400_000));
    const due = await this.store.due(cutoff, toDbTime(now), this.settings.batchSize);
    if (due.length === 0) return;
    await this.store.markRequested(due);

    const [serverUrl, config] = await Promise.all([
      this.deps.appConfig.serverUrl(),
      this.deps.appConfig.get(),
    ]);
    const migration = due.some((d) => d.fromMigration) ? await this.migrationProfile() : undefined;
    const { groups, refusals } = planRenewals(due, {
      serverUrl,
      appleServerUrl: config.mdm.apple_server_url ?? '',
      orgName: config.org_info.org_name,
      migration,
    });
    for (const r of refusals)
      failures.push({
        key: r.target,
        host: r.target,
        attempts: r.target.attempts,
        kind: r.kind,
        reason: r.reason,
      });

    const ca = groups.length ? await this.deps.scep.caCertificate() : undefined;
    for (const g of groups) {
      const ids = g.targets.map((t) => t.id);
      try {
        const commandUuid = randomUUID().toUpperCase();
        const challenge = await this.deps.scep.issueChallenge({
          purpose: 'renewal',
          ttlSeconds: renewalCommandLifetimeDays * 86_400,
          renewCommandUuid: commandUuid,
        });
        // Signed by the SCEP CA, as every profile we send.
        const payload = cmsSign(g.build(challenge), { certPem: ca!.certPem, keyPem: ca!.keyPem });
        const cmd = buildCommandPlist('InstallProfile', { Payload: payload }, commandUuid);
        await this.store.transaction(async (trx) => {
          await this.deps.queue.enqueue(
            ids,
            { commandUuid, requestType: 'InstallProfile', plist: cmd.plist },
            trx,
          );
          await this.store.markSent(trx, g.targets, commandUuid, g.kind);
        });
        summary.commands++;
        summary.devices += ids.length;
        const hostIds = g.targets.flatMap((t) => (t.hostId === null ? [] : [t.hostId]));
        await this.deps.activities?.record(
          null,
          sentActivity,
          {
            command_uuid: commandUuid,
            host_count: ids.length,
            renewal_profile: g.kind,
            mdm_platform: 'apple',
          },
          { hostIds },
        );
        try {
          await this.deps.push.pushEnrollments(ids);
        } catch (err) {
          // The queued command waits; the re-push cron tries again.
          logger.warn({ err, commandUuid }, 'push after queuing identity renewals failed');
        }
      } catch (err) {
        logger.error({ err, devices: ids.length }, 'could not queue an identity renewal');
        for (const t of g.targets)
          failures.push({
            key: t,
            host: t,
            attempts: t.attempts,
            kind: g.kind,
            reason: `the renewal command could not be queued: ${(err as Error).message}`,
          });
      }
    }
  }

  /** Reads the operator's migration profile now (it may be replaced at any time). */
  private async migrationProfile(): Promise<MigrationProfile | MigrationProfileError | undefined> {
    const file = this.settings.migrationProfileFile;
    if (!file) return undefined;
    try {
      return readMigrationProfile(await readFile(file));
    } catch (err) {
      const e =
        err instanceof MigrationProfileError
          ? err
          : new MigrationProfileError(
              `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
            );
      this.deps.logger.error({ reason: e.message }, 'migration enrollment profile unusable');
      return e;
    }
  }

  private async fail(failures: Failure[], now: Date): Promise<void> {
    if (failures.length === 0) return;
    const withRetry = failures.map((f) => ({
      ...f,
      retryAt: toDbTime(new Date(now.getTime() + this.retryDelayMs(f.attempts))),
    }));
    await this.store.markFailed(
      withRetry.map((f) => ({ key: f.key, error: f.reason, retryAt: f.retryAt, kind: f.kind })),
    );
    for (const f of withRetry) {
      this.deps.logger.warn(
        { enrollmentId: f.key.id, reason: f.reason, attempts: f.attempts + 1, retryAt: f.retryAt },
        'apple identity certificate renewal failed',
      );
      await this.deps.activities?.record(
        null,
        failedActivity,
        {
          host_serial: f.host.hostSerial ?? '',
          host_display_name: f.host.hostDisplayName,
          mdm_platform: 'apple',
          renewal_profile: f.kind ?? null,
          reason: f.reason,
          attempts: f.attempts + 1,
          retry_at: toApiTime(f.retryAt),
        },
        f.host.hostId === null ? {} : { hostIds: [f.host.hostId] },
      );
    }
  }
}
