import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { dialectOf, insertedValue } from '../db/dialect.js';
import { retryOnLockConflict } from '../db/lockRetry.js';
import type { DB } from '../db/schema.js';

/** `rate_limits` (migration 0011): one fixed-window counter per (key hash, window start). */
export interface RateLimitsTable {
  key_hash: string;
  window_start: number;
  hits: number;
  expires_at: number;
}

interface RateLimitTables {
  rate_limits: RateLimitsTable;
}

/** Counters for the rate limiter. Every process shares them through the database. */
export class RateLimitStore {
  private readonly db: Kysely<RateLimitTables>;

  constructor(db: Kysely<DB>) {
    // The table's type is kept here rather than in the shared DB type: only this store touches it.
    this.db = db as unknown as Kysely<RateLimitTables>;
  }

  /**
   * Adds one hit to the window's counter (creating it at 1) and answers the counter's value
   * after this hit. The upsert and the read run in one transaction: on MySQL the upsert holds the
   * row's exclusive lock until commit and on SQLite writers are serialised, so concurrent hits
   * from any number of processes each see a distinct, exact count.
   */
  async hit(keyHash: string, windowStart: number, expiresAt: number): Promise<number> {
    // InnoDB may pick this transaction as a deadlock victim when many hit one new key at once.
    return retryOnLockConflict(() =>
      this.db.transaction().execute(async (trx) => {
        const dialect = dialectOf(trx);
        const hits = sql<number>`${sql.ref('hits')} + ${insertedValue(dialect, 'hits')}`;
        const insert = trx
          .insertInto('rate_limits')
          .values({ key_hash: keyHash, window_start: windowStart, hits: 1, expires_at: expiresAt });
        await (
          dialect === 'mysql'
            ? insert.onDuplicateKeyUpdate({ hits })
            : insert.onConflict((oc) => oc.columns(['key_hash', 'window_start']).doUpdateSet({ hits }))
        ).execute();
        const row = await trx
          .selectFrom('rate_limits')
          .select('hits')
          .where('key_hash', '=', keyHash)
          .where('window_start', '=', windowStart)
          .executeTakeFirstOrThrow();
        return Number(row.hits);
      }),
    );
  }

  /** The window's counter as it stands (0 when there is none); counts nothing. */
  async count(keyHash: string, windowStart: number): Promise<number> {
    const row = await this.db
      .selectFrom('rate_limits')
      .select('hits')
      .where('key_hash', '=', keyHash)
      .where('window_start', '=', windowStart)
      .executeTakeFirst();
    return row ? Number(row.hits) : 0;
  }

  /** Takes one hit back (a request that turned out not to count); never below zero. */
  async release(keyHash: string, windowStart: number): Promise<void> {
    await this.db
      .updateTable('rate_limits')
      .set({ hits: sql<number>`${sql.ref('hits')} - 1` })
      .where('key_hash', '=', keyHash)
      .where('window_start', '=', windowStart)
      .where('hits', '>', 0)
      .execute();
  }

  /** Deletes counters whose window has ended by `now` (epoch ms); answers how many. */
  async deleteExpired(now: number): Promise<number> {
    const res = await this.db.deleteFrom('rate_limits').where('expires_at', '<=', now).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
