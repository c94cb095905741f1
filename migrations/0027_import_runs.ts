import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * `flotilla import` bookkeeping: one row per import source (NanoMDM or Fleet database), holding
 * the last device id written, so an import that crashed resumes after its last finished batch.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema
    .createTable('import_runs')
    .addColumn('source', 'varchar(191)', (c) => c.primaryKey())
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('cursor_id', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('counts', t.longText, (c) => c.notNull())
    .addColumn('started_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addColumn('finished_at', t.datetime)
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
