import { sql, type Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Apple MDM check-in and command queue: NanoMDM's tables (devices, users, enrollments, commands,
 * per-enrollment queue, results, certificate associations) plus Fleet's host_mdm_commands and
 * host_mdm_actions.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const dialect = dialectOf(db);
  const t = columnTypes(dialect);
  // Queue ordering needs sub-millisecond times so commands enqueued together keep FIFO order.
  const microTime = dialect === 'mysql' ? sql`datetime(6)` : sql`text`;

  await db.schema
    .createTable('nano_devices')
    .addColumn('id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('identity_cert', t.longText)
    .addColumn('serial_number', 'varchar(127)')
    .addColumn('unlock_token', t.blob)
    .addColumn('unlock_token_at', t.datetime)
    .addColumn('authenticate', t.longText, (c) => c.notNull())
    .addColumn('authenticate_at', t.datetime, (c) => c.notNull())
    .addColumn('token_update', t.longText)
    .addColumn('token_update_at', t.datetime)
    .addColumn('bootstrap_token_b64', t.longText)
    .addColumn('bootstrap_token_at', t.datetime)
    .addColumn('platform', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('enroll_team_id', 'integer', (c) => c.references('teams.id').onDelete('set null'))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('idx_nano_devices_serial').on('nano_devices').column('serial_number').execute();

  await db.schema
    .createTable('nano_users')
    .addColumn('id', 'varchar(255)', (c) => c.notNull())
    .addColumn('device_id', 'varchar(255)', (c) =>
      c.notNull().references('nano_devices.id').onDelete('cascade'),
    )
    .addColumn('user_short_name', 'varchar(255)')
    .addColumn('user_long_name', 'varchar(255)')
    .addColumn('token_update', t.longText)
    .addColumn('token_update_at', t.datetime)
    .addColumn('user_authenticate', t.longText)
    .addColumn('user_authenticate_at', t.datetime)
    .addColumn('user_authenticate_digest', t.longText)
    .addColumn('user_authenticate_digest_at', t.datetime)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_nano_users', ['id', 'device_id'])
    .addUniqueConstraint('uq_nano_users_id', ['id'])
    .execute();

  await db.schema
    .createTable('nano_enrollments')
    .addColumn('id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('device_id', 'varchar(255)', (c) =>
      c.notNull().references('nano_devices.id').onDelete('cascade'),
    )
    .addColumn('user_id', 'varchar(255)', (c) => c.unique().references('nano_users.id').onDelete('cascade'))
    .addColumn('type', 'varchar(31)', (c) => c.notNull())
    .addColumn('topic', 'varchar(255)', (c) => c.notNull())
    .addColumn('push_magic', 'varchar(127)', (c) => c.notNull())
    .addColumn('token_hex', 'varchar(255)', (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('token_update_tally', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('last_seen_at', t.datetime, (c) => c.notNull())
    .addColumn('enrolled_from_migration', 'boolean', (c) => c.notNull().defaultTo(false))
    // APNs push bookkeeping (written by the push service).
    .addColumn('last_push_at', t.datetime)
    .addColumn('last_push_error', 'varchar(255)')
    .addColumn('push_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_push_at', t.datetime)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_nano_enrollments_device')
    .on('nano_enrollments')
    .column('device_id')
    .execute();
  await db.schema.createIndex('idx_nano_enrollments_type').on('nano_enrollments').column('type').execute();

  await db.schema
    .createTable('nano_commands')
    .addColumn('command_uuid', 'varchar(127)', (c) => c.primaryKey())
    .addColumn('request_type', 'varchar(63)', (c) => c.notNull())
    .addColumn('command', t.blob, (c) => c.notNull())
    .addColumn('subtype', 'varchar(31)', (c) => c.notNull().defaultTo('None'))
    .addColumn('created_at', microTime, (c) => c.notNull())
    .addColumn('updated_at', microTime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_nano_commands_request_type')
    .on('nano_commands')
    .column('request_type')
    .execute();

  await db.schema
    .createTable('nano_enrollment_queue')
    .addColumn('id', 'varchar(255)', (c) => c.notNull().references('nano_enrollments.id').onDelete('cascade'))
    .addColumn('command_uuid', 'varchar(127)', (c) =>
      c.notNull().references('nano_commands.command_uuid').onDelete('cascade'),
    )
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('priority', 'smallint', (c) => c.notNull().defaultTo(0))
    // Times handed to the device without a decodable answer; bounded so one bad command cannot block the queue.
    .addColumn('delivery_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', microTime, (c) => c.notNull())
    .addColumn('updated_at', microTime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_nano_enrollment_queue', ['id', 'command_uuid'])
    .execute();
  // Covering index for "next command of this enrollment by priority, then age".
  await db.schema
    .createIndex('idx_nano_queue_lookup')
    .on('nano_enrollment_queue')
    .columns(['id', 'active', 'priority desc', 'created_at', 'command_uuid', 'delivery_attempts'])
    .execute();
  await db.schema
    .createIndex('idx_nano_queue_command')
    .on('nano_enrollment_queue')
    .column('command_uuid')
    .execute();

  await db.schema
    .createTable('nano_command_results')
    .addColumn('id', 'varchar(255)', (c) => c.notNull().references('nano_enrollments.id').onDelete('cascade'))
    .addColumn('command_uuid', 'varchar(127)', (c) =>
      c.notNull().references('nano_commands.command_uuid').onDelete('cascade'),
    )
    .addColumn('status', 'varchar(31)', (c) => c.notNull())
    .addColumn('result', t.blob, (c) => c.notNull())
    .addColumn('not_now_at', t.datetime)
    .addColumn('not_now_tally', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_nano_command_results', ['id', 'command_uuid'])
    .execute();
  await db.schema
    .createIndex('idx_nano_results_command')
    .on('nano_command_results')
    .column('command_uuid')
    .execute();
  await db.schema
    .createIndex('idx_nano_results_status_updated')
    .on('nano_command_results')
    .columns(['status', 'updated_at'])
    .execute();

  await db.schema
    .createTable('nano_cert_auth_associations')
    .addColumn('id', 'varchar(255)', (c) => c.notNull())
    .addColumn('sha256', 'char(64)', (c) => c.notNull())
    .addColumn('cert_not_valid_after', t.datetime)
    .addColumn('renew_command_uuid', 'varchar(127)', (c) =>
      c.references('nano_commands.command_uuid').onDelete('set null'),
    )
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_nano_cert_auth_associations', ['id', 'sha256'])
    .execute();
  await db.schema
    .createIndex('idx_nano_cert_auth_sha256')
    .on('nano_cert_auth_associations')
    .column('sha256')
    .execute();

  await db.schema
    .createTable('host_mdm_commands')
    .addColumn('host_id', 'integer', (c) => c.notNull())
    .addColumn('command_type', 'varchar(31)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_host_mdm_commands', ['host_id', 'command_type'])
    .execute();

  await db.schema
    .createTable('host_mdm_actions')
    .addColumn('host_id', 'integer', (c) => c.primaryKey())
    .addColumn('lock_ref', 'varchar(36)')
    .addColumn('wipe_ref', 'varchar(36)')
    .addColumn('unlock_ref', 'varchar(36)')
    .addColumn('unlock_pin', 'varchar(6)')
    .addColumn('fleet_platform', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
