import { sql, type Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Apple ADE setup experience and bootstrap packages, Fleet's tables plus what Flotilla records
 * beside them:
 *
 * - `host_mdm_apple_awaiting_configuration`: Fleet's `(host_uuid, awaiting_configuration)` — an ADE
 *   device held in Setup Assistant until it acknowledges `DeviceConfigured`. Flotilla adds the state
 *   its release job needs: when the hold started, the commands it waits for (bootstrap package,
 *   AccountConfiguration), whether the team releases by hand, and when / why `DeviceConfigured` was
 *   sent (`completed`, or `timeout` when the device never settled).
 * - `mdm_apple_bootstrap_packages`: one package per team (`team_id` 0 = No team), Fleet's columns.
 *   The file itself is kept in `mdm_apple_bootstrap_package_chunks` (1 MiB rows, keyed by
 *   `storage_id`), never in one `bytes` value: every statement stays far below MySQL's
 *   `max_allowed_packet`, uploads and downloads stream, and every server process behind the load
 *   balancer reads the same bytes (no local disk to share). `bytes` stays for Fleet parity and is
 *   always NULL. `token_sha256` is how the unauthenticated download finds the package (the token
 *   is looked up by its hash, never compared as a string).
 * - `host_mdm_apple_bootstrap_packages`: which `InstallEnterpriseApplication` command carried a
 *   host's bootstrap package (Fleet's columns) and the device's answer (`status`, `detail`), kept
 *   here so the status outlives command-result retention.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const dialect = dialectOf(db);
  const t = columnTypes(dialect);
  const sha256Type = dialect === 'mysql' ? sql`binary(32)` : sql`blob`;

  await db.schema
    .createTable('host_mdm_apple_awaiting_configuration')
    .addColumn('host_uuid', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('awaiting_configuration', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('team_id', 'integer')
    .addColumn('platform', 'varchar(16)', (c) => c.notNull().defaultTo(''))
    .addColumn('bootstrap_command_uuid', 'varchar(127)')
    .addColumn('account_command_uuid', 'varchar(127)')
    .addColumn('manual_release', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('started_at', t.datetime, (c) => c.notNull())
    .addColumn('release_command_uuid', 'varchar(127)')
    .addColumn('released_at', t.datetime)
    .addColumn('release_reason', 'varchar(16)')
    .addColumn('configured_at', t.datetime)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_awaiting_configuration_release')
    .on('host_mdm_apple_awaiting_configuration')
    .columns(['awaiting_configuration', 'release_command_uuid', 'started_at'])
    .execute();

  await db.schema
    .createTable('mdm_apple_bootstrap_packages')
    .addColumn('team_id', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('sha256', sha256Type, (c) => c.notNull())
    .addColumn('bytes', t.blob)
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('storage_id', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('token', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('token_sha256', 'char(64)', (c) => c.notNull().unique())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mdm_apple_bootstrap_package_chunks')
    .addColumn('storage_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('bytes', t.blob, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_bootstrap_package_chunks', ['storage_id', 'seq'])
    .execute();
  await db.schema
    .createIndex('idx_bootstrap_package_chunks_created')
    .on('mdm_apple_bootstrap_package_chunks')
    .columns(['created_at'])
    .execute();

  await db.schema
    .createTable('host_mdm_apple_bootstrap_packages')
    .addColumn('host_uuid', 'varchar(127)', (c) => c.primaryKey())
    .addColumn('command_uuid', 'varchar(127)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull().defaultTo('pending'))
    .addColumn('detail', 'text')
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_host_bootstrap_packages_command')
    .on('host_mdm_apple_bootstrap_packages')
    .columns(['command_uuid'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
