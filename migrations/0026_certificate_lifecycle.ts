import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Certificate expiry warnings already given: one row per certificate, expiry date and threshold,
 * so each warning (30, 14, 1 days before) is recorded once, by one process, and a renewed
 * certificate (a new expiry date) is warned about afresh.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema
    .createTable('certificate_expiry_warnings')
    .addColumn('certificate', 'varchar(191)', (c) => c.notNull())
    .addColumn('not_after', t.datetime, (c) => c.notNull())
    .addColumn('threshold_days', 'integer', (c) => c.notNull())
    .addColumn('days_left', 'integer', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_certificate_expiry_warnings', ['certificate', 'not_after', 'threshold_days'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
