import type { Kysely, Transaction } from 'kysely';
import { insertIgnore } from '../db/dialect.js';
import type { DB } from '../db/schema.js';

export interface SsoSessionRow {
  requestId: string;
  initiator: string;
  hostUuid: string;
  metadata: string;
  createdAt: string;
  expiresAt: string;
}

/**
 * SAML logins in progress (`mdm_sso_sessions`) and the assertions already accepted
 * (`mdm_sso_used_assertions`). Both live in the database, so the process that answers the IdP
 * need not be the one that sent the user there. Times are stored time strings (dialect.ts).
 */
export class SsoSessionStore {
  constructor(private readonly db: Kysely<DB>) {}

  async create(sessionHash: string, row: SsoSessionRow): Promise<void> {
    await this.db
      .insertInto('mdm_sso_sessions')
      .values({
        session_hash: sessionHash,
        request_id: row.requestId,
        initiator: row.initiator,
        host_uuid: row.hostUuid,
        metadata: row.metadata,
        created_at: row.createdAt,
        expires_at: row.expiresAt,
      })
      .execute();
  }

  /**
   * Takes the session out of the table and returns it when it was there and had not expired at
   * `now`. A session is used once: of two callers racing for it, only the one whose DELETE removes
   * the row gets it.
   */
  async consume(sessionHash: string, now: string): Promise<SsoSessionRow | undefined> {
    const row = await this.db
      .selectFrom('mdm_sso_sessions')
      .selectAll()
      .where('session_hash', '=', sessionHash)
      .executeTakeFirst();
    if (!row) return undefined;
    const res = await this.db
      .deleteFrom('mdm_sso_sessions')
      .where('session_hash', '=', sessionHash)
      .executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1 || row.expires_at <= now) return undefined;
    return {
      requestId: row.request_id,
      initiator: row.initiator,
      hostUuid: row.host_uuid,
      metadata: row.metadata,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  }

  /** Deletes expired sessions and used-assertion records. */
  async deleteExpired(now: string): Promise<void> {
    await this.db.deleteFrom('mdm_sso_sessions').where('expires_at', '<=', now).execute();
    await this.db.deleteFrom('mdm_sso_used_assertions').where('expires_at', '<=', now).execute();
  }

  /** Records an assertion as used; false when it already was (a replay). */
  async markAssertionUsed(
    assertionHash: string,
    createdAt: string,
    expiresAt: string,
    trx: Transaction<DB>,
  ): Promise<boolean> {
    const inserted = await insertIgnore(trx, 'mdm_sso_used_assertions', {
      assertion_hash: assertionHash,
      created_at: createdAt,
      expires_at: expiresAt,
    });
    return inserted === 1;
  }
}
