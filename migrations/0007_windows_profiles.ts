import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Windows configuration profiles (SyncML fragments an admin uploads, per team, 0 = No team), the
 * per-host delivery status the profile manager reconciles, and the last read-back (Get) asked of
 * each host to verify them. Label targeting reuses mdm_configuration_profile_labels
 * (windows_profile_uuid). Checksums are hex MD5 text of the SyncML.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));

  await db.schema
    .createTable('mdm_windows_configuration_profiles')
    .addColumn('profile_uuid', 'varchar(37)', (c) => c.primaryKey())
    .addColumn('team_id', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    // 'User' when every LocURI is under ./User (delivered only while a user is signed in), else 'System'.
    .addColumn('scope', 'varchar(16)', (c) => c.notNull().defaultTo('System'))
    .addColumn('syncml', t.longText, (c) => c.notNull())
    .addColumn('checksum', 'varchar(32)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('uploaded_at', t.datetime, (c) => c.notNull())
    .addColumn('secrets_updated_at', t.datetime)
    .addUniqueConstraint('uq_windows_profiles_team_name', ['team_id', 'name'])
    .execute();

  // Per-host status. status NULL = decided but not yet queued (shown as pending). command_uuid is the
  // install command the host last received (its LocURIs are what a removal deletes), or the Delete.
  await db.schema
    .createTable('host_mdm_windows_profiles')
    .addColumn('host_uuid', 'varchar(255)', (c) => c.notNull())
    .addColumn('profile_uuid', 'varchar(37)', (c) => c.notNull())
    .addColumn('profile_name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    // The profile's name again: the shared reconcile SQL pairs rows by an identifier column, and a
    // Windows profile is identified by its name within its team.
    .addColumn('profile_identifier', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('status', 'varchar(20)')
    .addColumn('operation_type', 'varchar(20)', (c) => c.notNull().defaultTo('install'))
    .addColumn('detail', t.longText)
    .addColumn('command_uuid', 'varchar(127)', (c) => c.notNull().defaultTo(''))
    .addColumn('checksum', 'varchar(32)', (c) => c.notNull().defaultTo(''))
    .addColumn('retries', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('ignore_error', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('scope', 'varchar(16)', (c) => c.notNull().defaultTo('System'))
    .addColumn('secrets_updated_at', t.datetime)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_host_mdm_windows_profiles', ['host_uuid', 'profile_uuid'])
    .execute();
  await db.schema
    .createIndex('idx_hmwp_command')
    .on('host_mdm_windows_profiles')
    .column('command_uuid')
    .execute();
  await db.schema
    .createIndex('idx_hmwp_profile_status')
    .on('host_mdm_windows_profiles')
    .columns(['profile_uuid', 'status'])
    .execute();

  // Verification: the last Get of profile LocURIs sent to each host, and when it was answered.
  await db.schema
    .createTable('host_mdm_windows_profile_checks')
    .addColumn('host_uuid', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('command_uuid', 'varchar(127)', (c) => c.notNull())
    .addColumn('requested_at', t.datetime, (c) => c.notNull())
    .addColumn('answered_at', t.datetime)
    .execute();
  await db.schema
    .createIndex('idx_hmwp_checks_command')
    .on('host_mdm_windows_profile_checks')
    .column('command_uuid')
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
