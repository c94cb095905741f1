import { sql, type Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/** Windows MDM: enrollments, the SyncML command queue, device responses and per-command results. */
export async function up(db: Kysely<any>): Promise<void> {
  const dialect = dialectOf(db);
  const t = columnTypes(dialect);
  const hash16 = dialect === 'mysql' ? sql`varbinary(16)` : sql`blob`;

  await db.schema
    .createTable('mdm_windows_enrollments')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('mdm_device_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('mdm_hardware_id', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('device_state', 'varchar(255)', (c) => c.notNull())
    .addColumn('device_type', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('device_name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('enroll_type', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('enroll_user_id', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('enroll_proto_version', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('enroll_client_version', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('not_in_oobe', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('awaiting_configuration', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('host_uuid', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('credentials_hash', hash16)
    .addColumn('credentials_acknowledged', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('auth_nonce', 'varchar(255)')
    .addColumn('auth_nonce_expires_at', t.datetime)
    .addColumn('last_seen_at', t.datetime)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_mdm_windows_enrollments_device_id')
    .on('mdm_windows_enrollments')
    .column('mdm_device_id')
    .execute();
  await db.schema
    .createIndex('idx_mdm_windows_enrollments_host_uuid')
    .on('mdm_windows_enrollments')
    .column('host_uuid')
    .execute();

  await db.schema
    .createTable('windows_mdm_commands')
    .addColumn('command_uuid', 'varchar(127)', (c) => c.primaryKey())
    .addColumn('raw_command', t.longText, (c) => c.notNull())
    .addColumn('target_loc_uri', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('windows_mdm_command_queue')
    .addColumn('enrollment_id', 'integer', (c) =>
      c.notNull().references('mdm_windows_enrollments.id').onDelete('cascade'),
    )
    .addColumn('command_uuid', 'varchar(127)', (c) =>
      c.notNull().references('windows_mdm_commands.command_uuid').onDelete('cascade'),
    )
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_windows_mdm_command_queue', ['enrollment_id', 'command_uuid'])
    .execute();
  await db.schema
    .createIndex('idx_windows_mdm_command_queue_command')
    .on('windows_mdm_command_queue')
    .column('command_uuid')
    .execute();

  await db.schema
    .createTable('windows_mdm_responses')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('enrollment_id', 'integer', (c) =>
      c.notNull().references('mdm_windows_enrollments.id').onDelete('cascade'),
    )
    .addColumn('raw_response', t.longText, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_windows_mdm_responses_enrollment')
    .on('windows_mdm_responses')
    .column('enrollment_id')
    .execute();

  await db.schema
    .createTable('windows_mdm_command_results')
    .addColumn('enrollment_id', 'integer', (c) =>
      c.notNull().references('mdm_windows_enrollments.id').onDelete('cascade'),
    )
    .addColumn('command_uuid', 'varchar(127)', (c) =>
      c.notNull().references('windows_mdm_commands.command_uuid').onDelete('cascade'),
    )
    .addColumn('raw_result', t.longText, (c) => c.notNull())
    .addColumn('response_id', 'integer', (c) =>
      c.notNull().references('windows_mdm_responses.id').onDelete('cascade'),
    )
    .addColumn('status_code', 'varchar(31)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_windows_mdm_command_results', ['enrollment_id', 'command_uuid'])
    .execute();
  await db.schema
    .createIndex('idx_windows_mdm_command_results_command')
    .on('windows_mdm_command_results')
    .column('command_uuid')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const tbl of [
    'windows_mdm_command_results',
    'windows_mdm_responses',
    'windows_mdm_command_queue',
    'windows_mdm_commands',
    'mdm_windows_enrollments',
  ]) {
    await db.schema.dropTable(tbl).ifExists().execute();
  }
}
