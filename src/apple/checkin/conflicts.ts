import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import { toApiTime } from '../../db/dialect.js';
import type { HostStore } from '../../hosts/store.js';
import type { ClaimConflictListener } from './certAuth.js';
import type { EnrollmentClaimStore } from './claimStore.js';
import { displayName } from './lifecycle.js';

/** How a refused claim shows in host details (`mdm.enrollment_conflict`). */
export interface EnrollmentConflictJson {
  reason: string;
  certificate_serial: number | null;
  attempts: number;
  first_detected_at: string | null;
  last_detected_at: string | null;
}

/**
 * Fleet's side of a refused claim on an enrolled UDID: the conflict is kept on the host and an
 * `mdm_enrollment_conflict` activity is written once per distinct certificate (a device retrying
 * the same request does not flood the audit log). The real device is untouched.
 */
export class EnrollmentConflicts {
  constructor(
    private readonly store: EnrollmentClaimStore,
    private readonly hosts: HostStore,
    private readonly activities: Pick<ActivityService, 'record'> | undefined,
    private readonly logger: Logger,
  ) {}

  readonly record: ClaimConflictListener = async (c) => {
    const news = await this.store.recordConflict({
      deviceId: c.deviceId,
      certSha256: c.cert.sha256,
      certSerial: c.certSerial,
      reason: c.reason,
    });
    this.logger.warn(
      { enrollmentId: c.deviceId, certificateSerial: c.certSerial, reason: c.reason },
      'apple enrollment conflict: another identity claimed an enrolled device',
    );
    if (!news) return;
    const host = await this.hosts.findByUuid(c.deviceId);
    await this.activities?.record(
      null,
      'mdm_enrollment_conflict',
      {
        host_id: host?.id ?? null,
        host_serial: host?.hardware_serial ?? '',
        host_display_name: host ? displayName(host) : c.deviceId,
        certificate_serial: c.certSerial,
        reason: c.reason,
      },
      { hostIds: host ? [host.id] : [] },
    );
  };

  async forHost(uuid: string): Promise<EnrollmentConflictJson | null> {
    const row = await this.store.conflictFor(uuid);
    return row
      ? {
          reason: row.reason,
          certificate_serial: row.cert_serial,
          attempts: row.attempts,
          first_detected_at: toApiTime(row.first_seen_at),
          last_detected_at: toApiTime(row.last_seen_at),
        }
      : null;
  }
}
