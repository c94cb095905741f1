import type { Kysely } from 'kysely';
import { dbNow, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';

/** What an Authenticate's claim is judged on: the certificate's record and the UDID's state. */
export interface ClaimFacts {
  /** Our record of the certificate (absent when we never issued it). */
  certificate?: {
    serial: number;
    revoked: boolean;
    boundDeviceId: string | null;
    /** The identity-renewal command whose shared SCEP challenge issued it. */
    renewCommandUuid: string | null;
  };
  /** Identity-renewal commands sent to this UDID and not yet completed. */
  pendingRenewCommands: string[];
  /** Device-channel ids this certificate is already associated with. */
  associatedIds: string[];
  /** The UDID's device-channel enrollment, when the device is known. */
  enrollment?: { enabled: boolean; fromMigration: boolean; lastSeenAt: string };
  deviceKnown: boolean;
}

/** A refused claim on a known UDID, as shown on its host. */
export interface EnrollmentConflictRow {
  device_id: string;
  cert_serial: number | null;
  reason: string;
  attempts: number;
  first_seen_at: string;
  last_seen_at: string;
}

/**
 * Reads for deciding whether an identity may claim a UDID at Authenticate, and the record of
 * refused claims. Authenticate is rare, so these are plain lookups, never cached: a revoked
 * certificate or a checked-out enrollment must count at once in every process.
 */
export class EnrollmentClaimStore {
  constructor(private readonly db: Kysely<DB>) {}

  async facts(deviceId: string, certSha256: string): Promise<ClaimFacts> {
    const [certificate, associations, device, enrollment, renewals] = await Promise.all([
      this.db
        .selectFrom('scep_certificates')
        .select(['serial', 'revoked', 'bound_device_id', 'renew_command_uuid'])
        .where('sha256', '=', certSha256)
        .executeTakeFirst(),
      this.db
        .selectFrom('nano_cert_auth_associations')
        .select('id')
        .where('sha256', '=', certSha256)
        .execute(),
      this.db.selectFrom('nano_devices').select('id').where('id', '=', deviceId).executeTakeFirst(),
      this.db
        .selectFrom('nano_enrollments')
        .select(['enabled', 'enrolled_from_migration', 'last_seen_at'])
        .where('id', '=', deviceId)
        .executeTakeFirst(),
      this.db
        .selectFrom('nano_cert_auth_associations')
        .select('renew_command_uuid')
        .where('id', '=', deviceId)
        .where('renew_command_uuid', 'is not', null)
        .execute(),
    ]);
    return {
      certificate: certificate && {
        serial: Number(certificate.serial),
        revoked: Boolean(Number(certificate.revoked)),
        boundDeviceId: certificate.bound_device_id,
        renewCommandUuid: certificate.renew_command_uuid,
      },
      pendingRenewCommands: renewals.map((r) => r.renew_command_uuid!),
      associatedIds: associations.map((a) => a.id),
      deviceKnown: device !== undefined,
      enrollment: enrollment && {
        enabled: Boolean(Number(enrollment.enabled)),
        fromMigration: Boolean(Number(enrollment.enrolled_from_migration)),
        lastSeenAt: enrollment.last_seen_at,
      },
    };
  }

  /** True when the device acknowledged an EraseDevice: it is gone and will enroll afresh. */
  async eraseAcknowledged(deviceId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('nano_command_results as r')
      .innerJoin('nano_commands as c', 'c.command_uuid', 'r.command_uuid')
      .select('r.id')
      .where('r.id', '=', deviceId)
      .where('r.status', '=', 'Acknowledged')
      .where('c.request_type', '=', 'EraseDevice')
      .executeTakeFirst();
    return r !== undefined;
  }

  /**
   * Records a refused claim; true when it is news (a first attempt, or another certificate than
   * the one last refused), so repeats of one attacker's request do not flood the activity log.
   */
  async recordConflict(c: {
    deviceId: string;
    certSha256: string;
    certSerial: number | null;
    reason: string;
  }): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const now = dbNow();
      const prev = await trx
        .selectFrom('mdm_apple_enrollment_conflicts')
        .select(['cert_sha256'])
        .where('device_id', '=', c.deviceId)
        .executeTakeFirst();
      if (prev) {
        await trx
          .updateTable('mdm_apple_enrollment_conflicts')
          .set((eb) => ({
            cert_sha256: c.certSha256,
            cert_serial: c.certSerial,
            reason: c.reason,
            attempts: eb('attempts', '+', 1),
            last_seen_at: now,
          }))
          .where('device_id', '=', c.deviceId)
          .execute();
        return prev.cert_sha256 !== c.certSha256;
      }
      await upsert(
        trx,
        'mdm_apple_enrollment_conflicts',
        {
          device_id: c.deviceId,
          cert_sha256: c.certSha256,
          cert_serial: c.certSerial,
          reason: c.reason,
          attempts: 1,
          first_seen_at: now,
          last_seen_at: now,
        },
        ['device_id'],
        ['last_seen_at'],
      );
      return true;
    });
  }

  async conflictFor(deviceId: string): Promise<EnrollmentConflictRow | undefined> {
    const r = await this.db
      .selectFrom('mdm_apple_enrollment_conflicts')
      .select(['device_id', 'cert_serial', 'reason', 'attempts', 'first_seen_at', 'last_seen_at'])
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return (
      r && {
        ...r,
        cert_serial: r.cert_serial === null ? null : Number(r.cert_serial),
        attempts: Number(r.attempts),
      }
    );
  }
}
