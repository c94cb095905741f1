import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

/** SQL for checking a presented device certificate against what the WSTEP CA issued. */
export class ClientCertificateStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** Whether this enrollment was issued the certificate with this thumbprint and it is not revoked. */
  async issuedTo(enrollmentId: number, sha1Thumbprint: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('wstep_certificates')
      .select(['serial', 'revoked'])
      .where('enrollment_id', '=', enrollmentId)
      .where('sha1_thumbprint', '=', sha1Thumbprint)
      .executeTakeFirst();
    return r !== undefined && !Number(r.revoked);
  }
}
