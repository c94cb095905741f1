import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/** Apple SCEP: serial allocation and the record of every identity certificate issued. */
export async function up(db: Kysely<any>): Promise<void> {
  const dialect = dialectOf(db);
  const t = columnTypes(dialect);
  // SQLite only auto-increments an `integer primary key`; MySQL gets a bigint like Fleet's.
  const serialType = dialect === 'mysql' ? 'bigint' : 'integer';

  await db.schema
    .createTable('scep_serials')
    .addColumn('serial', serialType, (c) => c.primaryKey().autoIncrement())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('scep_certificates')
    .addColumn('serial', serialType, (c) => c.primaryKey().references('scep_serials.serial'))
    .addColumn('name', 'varchar(1024)', (c) => c.notNull())
    .addColumn('not_valid_before', t.datetime, (c) => c.notNull())
    .addColumn('not_valid_after', t.datetime, (c) => c.notNull())
    .addColumn('certificate_pem', 'text', (c) => c.notNull())
    .addColumn('sha256', 'char(64)', (c) => c.notNull())
    .addColumn('revoked', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('enrollment_id', 'varchar(255)')
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_scep_certificates_sha256')
    .on('scep_certificates')
    .column('sha256')
    .execute();
  await db.schema
    .createIndex('idx_scep_certificates_enrollment')
    .on('scep_certificates')
    .column('enrollment_id')
    .execute();
  await db.schema
    .createIndex('idx_scep_certificates_not_valid_after')
    .on('scep_certificates')
    .column('not_valid_after')
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
