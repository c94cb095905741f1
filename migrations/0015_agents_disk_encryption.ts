import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * fleetd (orbit), osquery and disk encryption:
 *
 * - host vitals that osquery reports (Fleet keeps them on `hosts`), the agent's check-in intervals,
 *   `seen_time` (last agent contact) and `refetch_critical_queries_until` (the MDM-migration window);
 * - `host_device_auth`: Fleet Desktop's device token, kept as a SHA-256 hash (the token is the whole
 *   credential of the device endpoints), with the previous one for a short grace period;
 * - `host_emails`: end-user emails (orbit `device_mapping`);
 * - `host_disk_encryption_keys` (+ `_archive`): escrowed FileVault / BitLocker keys, Fleet's columns.
 *   The FileVault key is stored as the device sent it (a CMS envelope to our certificate); a BitLocker
 *   key is enveloped by the server before it is stored, never kept in clear.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));

  const text = [
    'osquery_version',
    'cpu_brand',
    'cpu_type',
    'hardware_vendor',
    'hardware_version',
    'platform_like',
    'build',
    'code_name',
    'primary_ip',
    'primary_mac',
    'public_ip',
    'orbit_version',
  ];
  for (const c of text) {
    await db.schema
      .alterTable('hosts')
      .addColumn(c, 'varchar(255)', (col) => col.notNull().defaultTo(''))
      .execute();
  }
  for (const c of ['memory', 'uptime']) {
    await db.schema
      .alterTable('hosts')
      .addColumn(c, 'bigint', (col) => col.notNull().defaultTo(0))
      .execute();
  }
  for (const c of [
    'cpu_physical_cores',
    'cpu_logical_cores',
    'distributed_interval',
    'config_tls_refresh',
    'logger_tls_period',
  ]) {
    await db.schema
      .alterTable('hosts')
      .addColumn(c, 'integer', (col) => col.notNull().defaultTo(0))
      .execute();
  }
  await db.schema.alterTable('hosts').addColumn('seen_time', t.datetime).execute();
  await db.schema.alterTable('hosts').addColumn('refetch_critical_queries_until', t.datetime).execute();

  await db.schema
    .createTable('host_device_auth')
    .addColumn('host_id', 'integer', (c) => c.primaryKey())
    .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('previous_token_hash', 'varchar(64)')
    .addColumn('previous_valid_until', t.datetime)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_host_device_auth_previous')
    .on('host_device_auth')
    .column('previous_token_hash')
    .execute();

  await db.schema
    .createTable('host_emails')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('host_id', 'integer', (c) => c.notNull())
    .addColumn('email', 'varchar(255)', (c) => c.notNull())
    .addColumn('source', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('uq_host_emails_host_source', ['host_id', 'source'])
    .execute();
  await db.schema.createIndex('idx_host_emails_email').on('host_emails').column('email').execute();

  await db.schema
    .createTable('host_disk_encryption_keys')
    .addColumn('host_id', 'integer', (c) => c.primaryKey())
    .addColumn('base64_encrypted', t.longText, (c) => c.notNull())
    .addColumn('base64_encrypted_salt', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('key_slot', 'integer')
    .addColumn('decryptable', 'boolean')
    .addColumn('client_error', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('reset_requested', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_host_disk_encryption_keys_decryptable')
    .on('host_disk_encryption_keys')
    .columns(['decryptable', 'updated_at'])
    .execute();

  await db.schema
    .createTable('host_disk_encryption_keys_archive')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('host_id', 'integer', (c) => c.notNull())
    .addColumn('hardware_serial', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('base64_encrypted', t.longText, (c) => c.notNull())
    .addColumn('base64_encrypted_salt', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('key_slot', 'integer')
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_host_disk_encryption_keys_archive_host')
    .on('host_disk_encryption_keys_archive')
    .column('host_id')
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
