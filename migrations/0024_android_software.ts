import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Software inventory, Fleet's tables (the first source is Android's application reports):
 *
 * - `software`: one row per distinct title version (name, version, source, bundle identifier).
 *   `checksum` is the MD5 hex of those fields (Fleet keys the table the same way), so one
 *   unique index identifies a row whatever the lengths of its fields.
 * - `host_software`: which host has which software.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema
    .createTable('software')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('version', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('source', 'varchar(64)', (c) => c.notNull())
    .addColumn('bundle_identifier', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('checksum', 'varchar(32)', (c) => c.notNull().unique())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('host_software')
    .addColumn('host_id', 'integer', (c) => c.notNull())
    .addColumn('software_id', 'integer', (c) => c.notNull())
    .addColumn('last_opened_at', t.datetime)
    .addPrimaryKeyConstraint('pk_host_software', ['host_id', 'software_id'])
    .execute();
  await db.schema
    .createIndex('idx_host_software_software')
    .on('host_software')
    .column('software_id')
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
