import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import { toApiTime } from '../../db/dialect.js';
import type { HostStore } from '../../hosts/store.js';
import type { CommandQueueStore } from '../commands/store.js';
import type { CompletedRenewal, ScepRenewalStore } from './store.js';

/** Activity recorded when a device renewed its identity certificate. */
export const renewedActivity = 'renewed_identity_certificate';

/**
 * Finishing a renewal once the device holds its new identity: the old identity is marked renewed,
 * the renewal command leaves the device's queue (a lost acknowledgement must not make the device
 * fetch it and renew a second time), and the audit log says so. Called at Authenticate by the
 * check-in hook, and by the cron for renewals whose completion was missed.
 */
export class RenewalCompletion {
  constructor(
    private readonly store: ScepRenewalStore,
    private readonly queue: Pick<CommandQueueStore, 'deactivate'>,
    private readonly hosts: Pick<HostStore, 'findByUuid'>,
    private readonly activities?: Pick<ActivityService, 'record'>,
    private readonly logger?: Logger,
  ) {}

  /** The device authenticated with a new identity: completes its open renewals. */
  async newIdentity(
    deviceId: string,
    sha256: string,
    opts: { renewal: boolean; notValidAfter?: Date },
  ): Promise<CompletedRenewal[]> {
    const done = await this.store.completeForDevice(deviceId, sha256, opts.renewal);
    if (done.length === 0) return done;
    await this.settle(done, opts.renewal, opts.notValidAfter);
    return done;
  }

  /** Renewals the cron found completed by a newer identity. */
  async completeReplaced(limit: number): Promise<number> {
    const done = await this.store.completeReplaced(limit);
    if (done.length) await this.settle(done, true);
    return done.length;
  }

  private async settle(done: CompletedRenewal[], renewal: boolean, notValidAfter?: Date): Promise<void> {
    await this.queue.deactivate(
      done.filter((d) => d.commandUuid).map((d) => ({ id: d.id, commandUuid: d.commandUuid! })),
    );
    for (const d of done) {
      this.logger?.info(
        { enrollmentId: d.id, commandUuid: d.commandUuid, kind: d.kind },
        'apple identity certificate renewed',
      );
      if (!renewal || !this.activities) continue;
      const host = await this.hosts.findByUuid(d.id);
      await this.activities.record(
        null,
        renewedActivity,
        {
          host_serial: host?.hardware_serial ?? '',
          host_display_name: host
            ? host.computer_name || host.hostname || host.hardware_serial || host.uuid
            : d.id,
          mdm_platform: 'apple',
          renewal_profile: d.kind ?? 'enrollment',
          previous_not_valid_after: toApiTime(d.notValidAfter),
          ...(notValidAfter ? { not_valid_after: toApiTime(notValidAfter) } : {}),
        },
        host ? { hostIds: [host.id] } : {},
      );
    }
  }
}
