import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Configuration profiles and DDM declarations: the definitions an admin uploads (per team, 0 = No
 * team), their label targeting, and the per-host status rows the profile manager reconciles.
 * Checksums and tokens are stored as hex MD5 text (the API shows the checksum base64-encoded).
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));

  await db.schema
    .createTable('mdm_apple_configuration_profiles')
    .addColumn('profile_uuid', 'varchar(37)', (c) => c.primaryKey())
    .addColumn('team_id', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('identifier', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('scope', 'varchar(16)', (c) => c.notNull().defaultTo('System'))
    .addColumn('mobileconfig', t.blob, (c) => c.notNull())
    .addColumn('checksum', 'varchar(32)', (c) => c.notNull())
    // Top-level PayloadUUID: lets verification notice a device holding an older version.
    .addColumn('payload_uuid', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('uploaded_at', t.datetime, (c) => c.notNull())
    .addColumn('secrets_updated_at', t.datetime)
    .addUniqueConstraint('uq_apple_profiles_team_identifier', ['team_id', 'identifier'])
    .addUniqueConstraint('uq_apple_profiles_team_name', ['team_id', 'name'])
    .execute();

  await db.schema
    .createTable('mdm_apple_declarations')
    .addColumn('declaration_uuid', 'varchar(37)', (c) => c.primaryKey())
    .addColumn('team_id', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('identifier', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('raw_json', t.longText, (c) => c.notNull())
    .addColumn('scope', 'varchar(16)', (c) => c.notNull().defaultTo('System'))
    // Upper-case hex MD5 of raw_json + secrets_updated_at: the ServerToken devices see.
    .addColumn('token', 'varchar(32)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('uploaded_at', t.datetime, (c) => c.notNull())
    .addColumn('secrets_updated_at', t.datetime)
    .addUniqueConstraint('uq_declarations_team_identifier', ['team_id', 'identifier'])
    .addUniqueConstraint('uq_declarations_team_name', ['team_id', 'name'])
    .execute();

  // Label targeting. label_id NULL = the label was deleted ("broken"); label_name keeps its name.
  // windows_profile_uuid is filled by the Windows profiles (their table comes later, so no FK here).
  await db.schema
    .createTable('mdm_configuration_profile_labels')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('apple_profile_uuid', 'varchar(37)', (c) =>
      c.references('mdm_apple_configuration_profiles.profile_uuid').onDelete('cascade'),
    )
    .addColumn('windows_profile_uuid', 'varchar(37)')
    .addColumn('label_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('label_id', 'integer', (c) => c.references('labels.id').onDelete('set null'))
    .addColumn('exclude', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('require_all', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('uq_profile_labels_apple', ['apple_profile_uuid', 'label_name'])
    .addUniqueConstraint('uq_profile_labels_windows', ['windows_profile_uuid', 'label_name'])
    .execute();
  await db.schema
    .createIndex('idx_profile_labels_label')
    .on('mdm_configuration_profile_labels')
    .column('label_id')
    .execute();

  await db.schema
    .createTable('mdm_declaration_labels')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('apple_declaration_uuid', 'varchar(37)', (c) =>
      c.notNull().references('mdm_apple_declarations.declaration_uuid').onDelete('cascade'),
    )
    .addColumn('label_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('label_id', 'integer', (c) => c.references('labels.id').onDelete('set null'))
    .addColumn('exclude', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('require_all', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('uq_declaration_labels', ['apple_declaration_uuid', 'label_name'])
    .execute();
  await db.schema
    .createIndex('idx_declaration_labels_label')
    .on('mdm_declaration_labels')
    .column('label_id')
    .execute();

  // Per-host status of each Apple profile. status NULL = decided but not yet queued (shown as pending).
  await db.schema
    .createTable('host_mdm_apple_profiles')
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
    .addPrimaryKeyConstraint('pk_host_mdm_apple_profiles', ['host_uuid', 'profile_uuid'])
    .execute();
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
    .createTable('host_mdm_apple_declarations')
    .addColumn('host_uuid', 'varchar(255)', (c) => c.notNull())
    .addColumn('declaration_uuid', 'varchar(37)', (c) => c.notNull())
    .addColumn('declaration_identifier', 'varchar(255)', (c) => c.notNull())
    .addColumn('declaration_name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('status', 'varchar(20)')
    .addColumn('operation_type', 'varchar(20)', (c) => c.notNull().defaultTo('install'))
    .addColumn('detail', t.longText)
    .addColumn('token', 'varchar(32)', (c) => c.notNull().defaultTo(''))
    .addColumn('resync', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('scope', 'varchar(16)', (c) => c.notNull().defaultTo('System'))
    .addColumn('secrets_updated_at', t.datetime)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_host_mdm_apple_declarations', ['host_uuid', 'declaration_uuid'])
    .execute();
  await db.schema
    .createIndex('idx_hmad_declaration_status')
    .on('host_mdm_apple_declarations')
    .columns(['declaration_uuid', 'status'])
    .execute();

  // Agentless verification: the last ProfileList asked of each host and when.
  await db.schema
    .createTable('host_mdm_apple_profile_checks')
    .addColumn('host_uuid', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('command_uuid', 'varchar(127)', (c) => c.notNull())
    .addColumn('requested_at', t.datetime, (c) => c.notNull())
    .addColumn('answered_at', t.datetime)
    .execute();
  await db.schema
    .createIndex('idx_profile_checks_command')
    .on('host_mdm_apple_profile_checks')
    .column('command_uuid')
    .execute();

  // Small key/value rows for the manager's cursors (host id where the next tick resumes).
  await db.schema
    .createTable('mdm_profile_manager_state')
    .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('value', 'varchar(255)', (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
