import type { Kysely } from 'kysely';
import { dbNow, forUpdate, toDbTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { IssuedWstepCertificate } from '../store.js';

/** A certificate the WSTEP CA issued, as renewal checks it. */
export interface WstepCertificateRecord {
  serial: number;
  name: string;
  notAfter: string;
  certificatePem: string;
  thumbprint: string;
  revoked: boolean;
  enrollmentId: number | null;
}

/** Why a renewal was refused inside its transaction (a race with another renewal or an unenroll). */
export type RenewalRefusal = 'no_enrollment' | 'replaced';

/**
 * SQL of certificate renewal: reading the certificate that signed the request, and recording the
 * new certificate next to it on the same enrollment. The enrollment row itself is not changed.
 */
export class WstepRenewalStore {
  constructor(private readonly db: Kysely<DB>) {}

  async certificateBySerial(serial: number): Promise<WstepCertificateRecord | undefined> {
    const r = await this.db
      .selectFrom('wstep_certificates')
      .select([
        'serial',
        'name',
        'not_valid_after',
        'certificate_pem',
        'sha1_thumbprint',
        'revoked',
        'enrollment_id',
      ])
      .where('serial', '=', serial)
      .executeTakeFirst();
    if (!r) return undefined;
    return {
      serial: Number(r.serial),
      name: r.name,
      notAfter: r.not_valid_after,
      certificatePem: r.certificate_pem,
      thumbprint: r.sha1_thumbprint,
      revoked: Boolean(Number(r.revoked)),
      enrollmentId: r.enrollment_id === null ? null : Number(r.enrollment_id),
    };
  }

  /**
   * Issues and records the successor of `oldSerial` in one transaction. The enrollment row is
   * locked first and the old certificate must still be the enrollment's newest, so of two renewals
   * signed by the same certificate only one succeeds; a refused renewal leaves nothing behind.
   */
  async saveRenewal<C extends IssuedWstepCertificate>(
    enrollmentId: number,
    oldSerial: number,
    issue: (serial: number, enrollment: { hwDevId: string; enrollType: string }) => C,
  ): Promise<{ certificate: C; hostUuid: string; enrollType: string } | { refused: RenewalRefusal }> {
    return this.db.transaction().execute(async (trx) => {
      const enrollment = await forUpdate(
        trx,
        trx
          .selectFrom('mdm_windows_enrollments')
          .select(['id', 'mdm_hardware_id', 'enroll_type', 'host_uuid'])
          .where('id', '=', enrollmentId),
      ).executeTakeFirst();
      if (!enrollment) return { refused: 'no_enrollment' as const };
      const newest = await trx
        .selectFrom('wstep_certificates')
        .select((eb) => eb.fn.max('serial').as('serial'))
        .where('enrollment_id', '=', enrollmentId)
        .executeTakeFirst();
      if (Number(newest?.serial) !== oldSerial) return { refused: 'replaced' as const };
      const now = dbNow();
      const serialRow = await trx
        .insertInto('wstep_serials')
        .values({ created_at: now })
        .executeTakeFirstOrThrow();
      const serial = Number(serialRow.insertId);
      const certificate = issue(serial, {
        hwDevId: enrollment.mdm_hardware_id,
        enrollType: enrollment.enroll_type,
      });
      await trx
        .insertInto('wstep_certificates')
        .values({
          serial,
          name: certificate.name.slice(0, 1024),
          not_valid_before: toDbTime(certificate.notBefore),
          not_valid_after: toDbTime(certificate.notAfter),
          certificate_pem: certificate.certPem,
          sha1_thumbprint: certificate.thumbprint,
          enrollment_id: enrollmentId,
          host_uuid: enrollment.host_uuid,
          created_at: now,
          updated_at: now,
        })
        .execute();
      return { certificate, hostUuid: enrollment.host_uuid, enrollType: enrollment.enroll_type };
    });
  }
}
