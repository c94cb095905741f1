import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));

  await db.schema
    .createTable('app_config_json')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('json_value', t.longText, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('teams')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', t.binaryString(255), (c) => c.notNull().unique())
    .addColumn('description', 'varchar(1023)', (c) => c.notNull().defaultTo(''))
    .addColumn('config', t.longText, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('hosts')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('osquery_host_id', 'varchar(255)', (c) => c.unique())
    .addColumn('node_key', t.binaryString(255), (c) => c.unique())
    .addColumn('orbit_node_key', t.binaryString(255), (c) => c.unique())
    .addColumn('uuid', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('hardware_serial', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('platform', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('team_id', 'integer', (c) => c.references('teams.id').onDelete('set null'))
    .addColumn('hostname', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('computer_name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('hardware_model', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('os_version', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('label_updated_at', t.datetime, (c) => c.notNull().defaultTo('2000-01-01 00:00:00.000'))
    .addColumn('detail_updated_at', t.datetime, (c) => c.notNull().defaultTo('2000-01-01 00:00:00.000'))
    .addColumn('last_enrolled_at', t.datetime, (c) => c.notNull().defaultTo('2000-01-01 00:00:00.000'))
    .addColumn('refetch_requested', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('idx_hosts_uuid').on('hosts').column('uuid').execute();
  await db.schema.createIndex('idx_hosts_hardware_serial').on('hosts').column('hardware_serial').execute();
  await db.schema.createIndex('idx_hosts_platform').on('hosts').column('platform').execute();
  await db.schema.createIndex('idx_hosts_team_id').on('hosts').column('team_id').execute();
  await db.schema.createIndex('idx_hosts_hostname').on('hosts').column('hostname').execute();

  await db.schema
    .createTable('host_mdm')
    .addColumn('host_id', 'integer', (c) => c.primaryKey())
    .addColumn('enrolled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('server_url', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('installed_from_dep', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('mdm_name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('is_server', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('fleet_enroll_ref', 'varchar(36)', (c) => c.notNull().defaultTo(''))
    .addColumn('is_personal_enrollment', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  await db.schema
    .createIndex('idx_host_mdm_enrollment')
    .on('host_mdm')
    .columns(['enrolled', 'installed_from_dep', 'is_personal_enrollment'])
    .execute();

  await db.schema
    .createTable('labels')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('description', 'varchar(1023)', (c) => c.notNull().defaultTo(''))
    .addColumn('query', t.longText, (c) => c.notNull())
    .addColumn('platform', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('label_type', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('label_membership_type', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('criteria', t.longText)
    .addColumn('author_id', 'integer')
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  // A row says the host was evaluated for the label: is_member 1 (member) or 0 (not a member).
  // No row for a dynamic label means "not yet known".
  await db.schema
    .createTable('label_membership')
    .addColumn('host_id', 'integer', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('label_id', 'integer', (c) => c.notNull().references('labels.id').onDelete('cascade'))
    .addColumn('is_member', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_label_membership', ['host_id', 'label_id'])
    .execute();
  await db.schema
    .createIndex('idx_label_membership_label')
    .on('label_membership')
    .columns(['label_id', 'is_member'])
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('email', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('password', 'varchar(512)', (c) => c.notNull())
    .addColumn('global_role', 'varchar(64)')
    .addColumn('api_only', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('sso_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('mfa_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('admin_forced_password_reset', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('user_teams')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('team_id', 'integer', (c) => c.notNull().references('teams.id').onDelete('cascade'))
    .addColumn('role', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_user_teams', ['user_id', 'team_id'])
    .execute();
  await db.schema.createIndex('idx_user_teams_team').on('user_teams').column('team_id').execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('key', t.binaryString(255), (c) => c.notNull().unique())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('accessed_at', t.datetime, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('idx_sessions_user').on('sessions').column('user_id').execute();

  await db.schema
    .createTable('enroll_secrets')
    .addColumn('secret', t.binaryString(255), (c) => c.primaryKey())
    .addColumn('team_id', 'integer', (c) => c.references('teams.id').onDelete('cascade'))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('idx_enroll_secrets_team').on('enroll_secrets').column('team_id').execute();

  await db.schema
    .createTable('activities')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('user_id', 'integer')
    .addColumn('user_name', 'varchar(255)')
    .addColumn('user_email', 'varchar(255)')
    .addColumn('activity_type', 'varchar(255)', (c) => c.notNull())
    .addColumn('details', t.longText, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('idx_activities_created').on('activities').column('created_at').execute();

  await db.schema
    .createTable('host_activities')
    .addColumn('host_id', 'integer', (c) => c.notNull())
    .addColumn('activity_id', 'integer', (c) => c.notNull().references('activities.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('pk_host_activities', ['host_id', 'activity_id'])
    .execute();

  await db.schema
    .createTable('locks')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('owner', 'varchar(255)', (c) => c.notNull())
    .addColumn('expires_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('cron_stats')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('instance', 'varchar(255)', (c) => c.notNull())
    .addColumn('stats_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('status', 'varchar(32)', (c) => c.notNull())
    .addColumn('errors', t.longText)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_cron_stats_name_created')
    .on('cron_stats')
    .columns(['name', 'created_at'])
    .execute();

  await db.schema
    .createTable('mdm_config_assets')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', t.blob, (c) => c.notNull())
    .addColumn('md5_checksum', 'varchar(32)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('deleted_at', t.datetime)
    .addColumn('deletion_uuid', 'varchar(127)', (c) => c.notNull().defaultTo(''))
    .addUniqueConstraint('uq_mdm_config_assets_name', ['name', 'deletion_uuid'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
