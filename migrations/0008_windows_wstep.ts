import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/** Windows WSTEP CA: serial allocation and the record of every device certificate it issued. */
export async function up(db: Kysely<any>): Promise<void> {
  const dialect = dialectOf(db);
  const t = columnTypes(dialect);
  // SQLite only auto-increments an `integer primary key`; MySQL gets a bigint like Fleet's.
  const serialType = dialect === 'mysql' ? 'bigint' : 'integer';

  await db.schema
    .createTable('wstep_serials')
    .addColumn('serial', serialType, (c) => c.primaryKey().autoIncrement())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('wstep_certificates')
    .addColumn('serial', serialType, (c) => c.primaryKey().references('wstep_serials.serial'))
    .addColumn('name', 'varchar(1024)', (c) => c.notNull())
    .addColumn('not_valid_before', t.datetime, (c) => c.notNull())
    .addColumn('not_valid_after', t.datetime, (c) => c.notNull())
    .addColumn('certificate_pem', 'text', (c) => c.notNull())
    .addColumn('sha1_thumbprint', 'char(40)', (c) => c.notNull())
    .addColumn('revoked', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('enrollment_id', 'integer')
    .addColumn('host_uuid', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_wstep_certificates_enrollment')
    .on('wstep_certificates')
    .column('enrollment_id')
    .execute();
  await db.schema
    .createIndex('idx_wstep_certificates_host_uuid')
    .on('wstep_certificates')
    .column('host_uuid')
    .execute();
  await db.schema
    .createIndex('idx_wstep_certificates_not_valid_after')
    .on('wstep_certificates')
    .column('not_valid_after')
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
