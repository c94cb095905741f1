import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Fixed-window rate-limit counters shared by every server process (login attempts per address and
 * per account, enrollment requests per address). One row per (key, window): `key_hash` is the
 * SHA-256 (hex) of the limit's scope and its key (an address or a normalised e-mail), so no
 * address or e-mail is stored in clear; `window_start` and `expires_at` are epoch milliseconds.
 * Rows whose window has ended are deleted by the `cleanup_rate_limits` cron job.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema
    .createTable('rate_limits')
    .addColumn('key_hash', t.binaryString(64), (c) => c.notNull())
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_rate_limits', ['key_hash', 'window_start'])
    .execute();
  await db.schema.createIndex('idx_rate_limits_expires').on('rate_limits').column('expires_at').execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
