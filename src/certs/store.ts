import type { Kysely, Transaction } from 'kysely';
import { insertIgnore, toDbTime } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { enrolledState } from '../windows/store.js';

/** Device identity certificates of one platform, summarised: each device counted by its newest one. */
export interface DeviceCertificateSummary {
  devices: number;
  expiringSoon: number;
  expired: number;
  /** The earliest expiry among the devices' current certificates (stored time), null when none. */
  earliest: string | null;
}

const summary = (
  r: { devices: unknown; soon: unknown; expired: unknown; earliest: unknown } | undefined,
) => ({
  devices: Number(r?.devices ?? 0),
  expiringSoon: Number(r?.soon ?? 0),
  expired: Number(r?.expired ?? 0),
  earliest: (r?.earliest as string | null | undefined) ?? null,
});

/**
 * SQL of expiry monitoring: read-only summaries of the device certificates the Apple SCEP and
 * Windows WSTEP CAs issued, and the record of warnings already given.
 */
export class CertificateExpiryStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Enrolled Windows devices by their newest WSTEP certificate (a renewal or re-enrollment makes a
   * newer one; the older ones no longer count).
   */
  async windowsDevices(now: Date, soon: Date): Promise<DeviceCertificateSummary> {
    const n = toDbTime(now);
    const s = toDbTime(soon);
    const r = await this.db
      .selectFrom('wstep_certificates as c')
      .innerJoin('mdm_windows_enrollments as e', 'e.id', 'c.enrollment_id')
      .where('e.device_state', '=', enrolledState)
      .where('c.serial', '=', (eb) =>
        eb
          .selectFrom('wstep_certificates as c2')
          .select((e2) => e2.fn.max('c2.serial').as('newest'))
          .whereRef('c2.enrollment_id', '=', 'c.enrollment_id'),
      )
      .select((eb) => [
        eb.fn.countAll().as('devices'),
        eb.fn.min('c.not_valid_after').as('earliest'),
        eb.fn.sum(eb.case().when('c.not_valid_after', '<=', s).then(1).else(0).end()).as('soon'),
        eb.fn.sum(eb.case().when('c.not_valid_after', '<=', n).then(1).else(0).end()).as('expired'),
      ])
      .executeTakeFirst();
    return summary(r);
  }

  /** Apple devices with an enabled enrollment, by the latest expiry of the identities they hold. */
  async appleDevices(now: Date, soon: Date): Promise<DeviceCertificateSummary> {
    const n = toDbTime(now);
    const s = toDbTime(soon);
    const perDevice = this.db
      .selectFrom('nano_cert_auth_associations as a')
      .innerJoin('nano_enrollments as e', 'e.id', 'a.id')
      .where('e.enabled', '=', 1)
      .where('a.cert_not_valid_after', 'is not', null)
      .groupBy('a.id')
      .select((eb) => ['a.id', eb.fn.max('a.cert_not_valid_after').as('not_after')]);
    const r = await this.db
      .selectFrom(perDevice.as('d'))
      .select((eb) => [
        eb.fn.countAll().as('devices'),
        eb.fn.min('d.not_after').as('earliest'),
        eb.fn.sum(eb.case().when('d.not_after', '<=', s).then(1).else(0).end()).as('soon'),
        eb.fn.sum(eb.case().when('d.not_after', '<=', n).then(1).else(0).end()).as('expired'),
      ])
      .executeTakeFirst();
    return summary(r);
  }

  /**
   * Records that a warning was given and, in the same transaction, runs `alongside` (the activity).
   * False, with nothing run, when this certificate, expiry and threshold were already warned about
   * (by this process or another: the primary key decides).
   */
  async recordWarning(
    w: { certificate: string; notAfter: Date; thresholdDays: number; daysLeft: number; now: Date },
    alongside: (trx: Transaction<DB>) => Promise<unknown>,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const inserted = await insertIgnore(trx, 'certificate_expiry_warnings', {
        certificate: w.certificate.slice(0, 191),
        not_after: toDbTime(w.notAfter),
        threshold_days: w.thresholdDays,
        days_left: w.daysLeft,
        created_at: toDbTime(w.now),
      });
      if (inserted === 0) return false;
      await alongside(trx);
      return true;
    });
  }
}
