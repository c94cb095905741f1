import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Who may claim an enrolled Apple device: one-time SCEP challenges (optionally bound to a UDID),
 * the UDID a certificate was issued for, and the record of refused claims shown on the host.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));

  await db.schema
    .createTable('scep_challenges')
    .addColumn('challenge_sha256', 'char(64)', (c) => c.primaryKey())
    .addColumn('device_id', 'varchar(255)')
    .addColumn('purpose', 'varchar(32)', (c) => c.notNull())
    .addColumn('expires_at', t.datetime, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_scep_challenges_expires_at')
    .on('scep_challenges')
    .column('expires_at')
    .execute();

  await db.schema.alterTable('scep_certificates').addColumn('bound_device_id', 'varchar(255)').execute();

  await db.schema
    .createTable('mdm_apple_enrollment_conflicts')
    .addColumn('device_id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('cert_sha256', 'char(64)', (c) => c.notNull())
    .addColumn('cert_serial', 'bigint')
    .addColumn('reason', 'varchar(255)', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('first_seen_at', t.datetime, (c) => c.notNull())
    .addColumn('last_seen_at', t.datetime, (c) => c.notNull())
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
