import type { Kysely, Selectable } from 'kysely';
import { dbNow, toDbTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { ScepCertificatesTable } from './tables.js';

/** A scep_certificates row as read (booleans still 0/1 on MySQL). */
type ScepCertificateRecord = Omit<Selectable<ScepCertificatesTable>, 'created_at' | 'updated_at'>;

/** An issued certificate's record, with `revoked` as a boolean. */
export type ScepCertificateRow = Omit<ScepCertificateRecord, 'revoked'> & { revoked: boolean };

/** A one-time challenge was used up (or expired) between its check and the issue. */
export class ChallengeUsedError extends Error {
  constructor() {
    super('challenge already used or expired');
  }
}

/** A one-time challenge as the PKCSReq check reads it. */
export interface ScepChallengeRow {
  device_id: string | null;
  purpose: string;
  /** Set for an identity-renewal command's shared challenge (not used up by one certificate). */
  renew_command_uuid: string | null;
}

/**
 * scep_serials, scep_certificates and scep_challenges: serial allocation, the record of issued
 * certificates, and one-time challenges.
 */
export class ScepStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Allocates a serial, lets `sign` build the certificate with it, and records the certificate,
   * all in one transaction: a failed signature leaves no serial behind.
   */
  async issueWithNewSerial(
    sign: (serial: number) => {
      name: string;
      notBefore: Date;
      notAfter: Date;
      certificatePem: string;
      sha256: string;
    },
    opts: {
      boundDeviceId?: string | null;
      consumeChallengeSha256?: string;
      /** The identity-renewal command whose shared challenge allowed this certificate. */
      renewCommandUuid?: string | null;
    } = {},
  ): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const now = dbNow();
      if (opts.consumeChallengeSha256) {
        // One-time: the delete that finds the row is the one use; a concurrent second use finds none.
        const used = await trx
          .deleteFrom('scep_challenges')
          .where('challenge_sha256', '=', opts.consumeChallengeSha256)
          .where('expires_at', '>', now)
          .executeTakeFirst();
        if (Number(used.numDeletedRows) !== 1) throw new ChallengeUsedError();
      }
      const res = await trx.insertInto('scep_serials').values({ created_at: now }).executeTakeFirstOrThrow();
      const serial = Number(res.insertId);
      const cert = sign(serial);
      await trx
        .insertInto('scep_certificates')
        .values({
          serial,
          name: cert.name.slice(0, 1024),
          not_valid_before: toDbTime(cert.notBefore),
          not_valid_after: toDbTime(cert.notAfter),
          certificate_pem: cert.certificatePem,
          sha256: cert.sha256,
          revoked: 0,
          enrollment_id: null,
          bound_device_id: opts.boundDeviceId ?? null,
          renew_command_uuid: opts.renewCommandUuid ?? null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      return serial;
    });
  }

  async getBySerial(serial: number): Promise<ScepCertificateRow | undefined> {
    const row = await this.db
      .selectFrom('scep_certificates')
      .selectAll()
      .where('serial', '=', serial)
      .executeTakeFirst();
    return row ? toRow(row) : undefined;
  }

  async getBySha256(sha256: string): Promise<ScepCertificateRow | undefined> {
    const row = await this.db
      .selectFrom('scep_certificates')
      .selectAll()
      .where('sha256', '=', sha256)
      .executeTakeFirst();
    return row ? toRow(row) : undefined;
  }

  /** Links a certificate to the enrollment it authenticates (called at Authenticate). */
  async setEnrollmentId(serial: number, enrollmentId: string): Promise<void> {
    await this.db
      .updateTable('scep_certificates')
      .set({ enrollment_id: enrollmentId, updated_at: dbNow() })
      .where('serial', '=', serial)
      .execute();
  }

  async insertChallenge(row: {
    challengeSha256: string;
    deviceId: string | null;
    purpose: string;
    expiresAt: string;
    renewCommandUuid?: string | null;
  }): Promise<void> {
    await this.db
      .insertInto('scep_challenges')
      .values({
        challenge_sha256: row.challengeSha256,
        device_id: row.deviceId,
        purpose: row.purpose,
        renew_command_uuid: row.renewCommandUuid ?? null,
        expires_at: row.expiresAt,
        created_at: dbNow(),
      })
      .execute();
  }

  /** The unexpired challenge with this hash, if any (not consumed: issuing does that). */
  async liveChallenge(challengeSha256: string): Promise<ScepChallengeRow | undefined> {
    return this.db
      .selectFrom('scep_challenges')
      .select(['device_id', 'purpose', 'renew_command_uuid'])
      .where('challenge_sha256', '=', challengeSha256)
      .where('expires_at', '>', dbNow())
      .executeTakeFirst();
  }

  /**
   * True when the certificate (by hash) no longer is its device's identity: a renewal replaced it,
   * or the device has authenticated with a newer certificate since.
   */
  async isReplaced(sha256: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('nano_cert_auth_associations as a')
      .select('a.id')
      .where('a.sha256', '=', sha256)
      .where((eb) =>
        eb.or([
          eb('a.renewed_by_sha256', 'is not', null),
          eb.exists(
            eb
              .selectFrom('nano_cert_auth_associations as b')
              .select('b.id')
              .whereRef('b.id', '=', 'a.id')
              .whereRef('b.sha256', '<>', 'a.sha256')
              .whereRef('b.created_at', '>', 'a.created_at'),
          ),
        ]),
      )
      .executeTakeFirst();
    return r !== undefined;
  }

  async deleteExpiredChallenges(): Promise<number> {
    const r = await this.db
      .deleteFrom('scep_challenges')
      .where('expires_at', '<=', dbNow())
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async revoke(serial: number): Promise<void> {
    await this.db
      .updateTable('scep_certificates')
      .set({ revoked: 1, updated_at: dbNow() })
      .where('serial', '=', serial)
      .execute();
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('scep_certificates')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async countSerials(): Promise<number> {
    const r = await this.db
      .selectFrom('scep_serials')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
}

function toRow(r: ScepCertificateRecord): ScepCertificateRow {
  return { ...r, serial: Number(r.serial), revoked: Boolean(Number(r.revoked)) };
}
