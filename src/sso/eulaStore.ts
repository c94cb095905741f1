import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../db/dialect.js';
import type { DB } from '../db/schema.js';

export interface EulaMetadata {
  name: string;
  token: string;
  sha256: string;
  createdAt: string;
}

/** The one EULA (`eulas`, `id = 1` as in Fleet, so a second row cannot exist). */
export class EulaStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** Stores the EULA; false when one is already stored. */
  async insert(eula: { name: string; bytes: Buffer; token: string; sha256: string }, now: string) {
    try {
      await this.db
        .insertInto('eulas')
        .values({ id: 1, ...eula, created_at: now, updated_at: now })
        .execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async metadata(): Promise<EulaMetadata | undefined> {
    const row = await this.db
      .selectFrom('eulas')
      .select(['name', 'token', 'sha256', 'created_at'])
      .where('id', '=', 1)
      .executeTakeFirst();
    return row && { name: row.name, token: row.token, sha256: row.sha256, createdAt: row.created_at };
  }

  async bytes(): Promise<Buffer | undefined> {
    const row = await this.db.selectFrom('eulas').select('bytes').where('id', '=', 1).executeTakeFirst();
    return row ? Buffer.from(row.bytes) : undefined;
  }

  /** Deletes the EULA if its token is `token`; false when no such EULA. */
  async delete(token: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('eulas')
      .where('id', '=', 1)
      .where('token', '=', token)
      .executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }
}
