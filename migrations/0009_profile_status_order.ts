import { sql, type Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Per-host Apple profile status rows keyed (profile, host) instead of (host, profile), plus an
 * index on host. Why: the writes that touch many hosts at once (a new profile for a whole team, a
 * window of the manager's sweep) then append to one key range per profile instead of landing on
 * one page per host across the whole table; per-host reads use the host index, which also
 * carries the command so a command result finds its row from the index alone.
 */
export async function up(db: Kysely<any>): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    await sql`ALTER TABLE host_mdm_apple_profiles
      DROP PRIMARY KEY, ADD PRIMARY KEY (profile_uuid, host_uuid), ADD INDEX idx_hmap_host (host_uuid, command_uuid)`.execute(
      db,
    );
    return;
  }
  // SQLite cannot change a primary key: rebuild the table with the same columns.
  const t = columnTypes('sqlite');
  await db.schema
    .createTable('host_mdm_apple_profiles_rekeyed')
    .addColumn('host_uuid', 'varchar(255)', (c) => c.notNull())
    .addColumn('profile_uuid', 'varchar(37)', (c) => c.notNull())
    .addColumn('profile_identifier', 'varchar(255)', (c) => c.notNull())
    .addColumn('profile_name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('status', 'varchar(20)')
    .addColumn('operation_type', 'varchar(20)', (c) => c.notNull().defaultTo('install'))
    .addColumn('detail', t.longText)
    .addColumn('command_uuid', 'varchar(127)', (c) => c.notNull().defaultTo(''))
    .addColumn('checksum', 'varchar(32)', (c) => c.notNull().defaultTo(''))
    .addColumn('retries', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('ignore_error', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('scope', 'varchar(16)', (c) => c.notNull().defaultTo('System'))
    .addColumn('secrets_updated_at', t.datetime)
    .addColumn('variables_updated_at', t.datetime)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_host_mdm_apple_profiles', ['profile_uuid', 'host_uuid'])
    .execute();
  await sql`INSERT INTO host_mdm_apple_profiles_rekeyed SELECT
      host_uuid, profile_uuid, profile_identifier, profile_name, status, operation_type, detail, command_uuid,
      checksum, retries, ignore_error, scope, secrets_updated_at, variables_updated_at, created_at, updated_at
    FROM host_mdm_apple_profiles`.execute(db);
  await db.schema.dropTable('host_mdm_apple_profiles').execute();
  await db.schema.alterTable('host_mdm_apple_profiles_rekeyed').renameTo('host_mdm_apple_profiles').execute();
  await db.schema
    .createIndex('idx_hmap_command')
    .on('host_mdm_apple_profiles')
    .column('command_uuid')
    .execute();
  await db.schema
    .createIndex('idx_hmap_profile_status')
    .on('host_mdm_apple_profiles')
    .columns(['profile_uuid', 'status'])
    .execute();
  await db.schema
    .createIndex('idx_hmap_host')
    .on('host_mdm_apple_profiles')
    .columns(['host_uuid', 'command_uuid'])
    .execute();
}
