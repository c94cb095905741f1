import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Android through Google's Android Management API, Fleet's tables:
 *
 * - `android_enterprises`: the bound enterprise (at most one with an `enterprise_id`). While signup
 *   is under way the row holds Google's `signup_name` and the SHA-256 hex of the signup token that
 *   the callback URL carries (Fleet keeps the token itself; we keep only its hash).
 * - `android_devices`: a host's AMAPI device: `device_id` is the last segment of the device name,
 *   `enterprise_specific_id` the stable per-enterprise identity (also `hosts.uuid`), and the policy
 *   the device last reported it applied. `is_personal` (a Flotilla column) keeps its ownership,
 *   `software_checksum` (Flotilla's) the MD5 of the app list last written, so an unchanged list
 *   costs no queries.
 * - `mdm_android_configuration_profiles`: uploaded AMAPI Policy fragments (`g` + UUID).
 * - `host_mdm_android_profiles`: each host's state of each profile.
 * - `android_policy_requests`: every policies.patch / devices.patch we sent, for bookkeeping and
 *   for mapping a non-compliant setting back to the profile that set it (`settings_origin`).
 * - `mdm_android_commands`: lock / wipe / unenroll operations, settled by COMMAND notifications.
 * - `android_pubsub_messages` (Flotilla's): Pub/Sub message IDs already handled, so a redelivered
 *   message changes nothing more; pruned after Pub/Sub's retention (24 h).
 * - `mdm_configuration_profile_labels.android_profile_uuid`: label targeting of Android profiles.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));

  await db.schema
    .createTable('android_enterprises')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('signup_name', 'varchar(63)', (c) => c.notNull().defaultTo(''))
    .addColumn('signup_token_hash', 'varchar(64)', (c) => c.notNull().defaultTo(''))
    .addColumn('enterprise_id', 'varchar(63)', (c) => c.notNull().defaultTo(''))
    .addColumn('pubsub_topic_id', 'varchar(63)', (c) => c.notNull().defaultTo(''))
    .addColumn('user_id', 'integer')
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_android_enterprises_signup')
    .on('android_enterprises')
    .column('signup_token_hash')
    .execute();

  await db.schema
    .createTable('android_devices')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('host_id', 'integer', (c) => c.notNull().unique())
    .addColumn('device_id', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('enterprise_specific_id', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('is_personal', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('last_policy_sync_time', t.datetime)
    .addColumn('applied_policy_id', 'varchar(100)')
    .addColumn('applied_policy_version', 'bigint')
    .addColumn('last_status_report_time', t.datetime)
    .addColumn('software_checksum', 'varchar(32)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mdm_android_configuration_profiles')
    .addColumn('profile_uuid', 'varchar(37)', (c) => c.primaryKey())
    .addColumn('team_id', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('raw_json', t.longText, (c) => c.notNull())
    .addColumn('checksum', 'varchar(32)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('uploaded_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_mdm_android_profiles_team_name')
    .on('mdm_android_configuration_profiles')
    .columns(['team_id', 'name'])
    .unique()
    .execute();

  await db.schema
    .createTable('host_mdm_android_profiles')
    .addColumn('host_uuid', 'varchar(255)', (c) => c.notNull())
    .addColumn('profile_uuid', 'varchar(37)', (c) => c.notNull())
    .addColumn('profile_name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('status', 'varchar(20)')
    .addColumn('operation_type', 'varchar(20)', (c) => c.notNull().defaultTo('install'))
    .addColumn('detail', 'text')
    .addColumn('policy_request_uuid', 'varchar(36)')
    .addColumn('device_request_uuid', 'varchar(36)')
    .addColumn('request_fail_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('included_in_policy_version', 'bigint')
    .addColumn('can_reverify', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_host_mdm_android_profiles', ['host_uuid', 'profile_uuid'])
    .execute();
  await db.schema
    .createIndex('idx_host_mdm_android_profiles_profile')
    .on('host_mdm_android_profiles')
    .columns(['profile_uuid', 'status'])
    .execute();

  await db.schema
    .createTable('android_policy_requests')
    .addColumn('request_uuid', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('request_name', 'varchar(63)', (c) => c.notNull())
    .addColumn('policy_id', 'varchar(100)', (c) => c.notNull())
    .addColumn('payload', t.longText, (c) => c.notNull())
    .addColumn('status_code', 'varchar(31)', (c) => c.notNull().defaultTo(''))
    .addColumn('error_details', 'text')
    .addColumn('applied_policy_version', 'bigint')
    .addColumn('policy_version', 'bigint')
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_android_policy_requests_policy')
    .on('android_policy_requests')
    .columns(['policy_id', 'policy_version'])
    .execute();

  await db.schema
    .createTable('mdm_android_commands')
    .addColumn('command_uuid', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('host_uuid', 'varchar(255)', (c) => c.notNull())
    .addColumn('operation_name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('command_type', 'varchar(63)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull().defaultTo('pending'))
    .addColumn('error_code', 'varchar(31)')
    .addColumn('error_message', 'text')
    .addColumn('request_payload', 'text', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_mdm_android_commands_host')
    .on('mdm_android_commands')
    .columns(['host_uuid', 'created_at'])
    .execute();

  await db.schema
    .createTable('android_pubsub_messages')
    .addColumn('message_id', 'varchar(128)', (c) => c.primaryKey())
    .addColumn('received_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_android_pubsub_messages_received')
    .on('android_pubsub_messages')
    .column('received_at')
    .execute();

  await db.schema
    .alterTable('mdm_configuration_profile_labels')
    .addColumn('android_profile_uuid', 'varchar(37)')
    .execute();
  await db.schema
    .createIndex('idx_mdm_profile_labels_android')
    .on('mdm_configuration_profile_labels')
    .column('android_profile_uuid')
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
