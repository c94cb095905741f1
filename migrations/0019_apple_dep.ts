import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Apple Automated Device Enrollment (ABM / DEP), Fleet's tables:
 *
 * - `abm_tokens`: one row per ABM server token (one per organisation). `token` holds the decrypted
 *   OAuth credentials JSON sealed with the server key, never in clear. `terms_expired` is set while
 *   Apple answers T_C_NOT_SIGNED, `token_invalid` while Apple refuses the token itself.
 * - `nano_dep_names`: NanoDEP's per-name state (the name is the organisation name): the syncer
 *   cursor and when it was stored, the assigner profile, an optional base URL override. The OAuth
 *   credentials NanoDEP keeps here live sealed in `abm_tokens` instead.
 * - `host_dep_assignments`: a host is DEP-assigned to this server while its row has no
 *   `deleted_at`. `retry_after_seconds` (a Flotilla addition) keeps Apple's THROTTLED hint.
 * - `mdm_apple_enrollment_profiles`: the automatic (ADE) enrollment profile and its token.
 * - `mdm_apple_setup_assistants`: a team's custom setup-assistant (DEP profile) JSON.
 * - `mdm_apple_setup_assistant_profiles` / `mdm_apple_default_setup_assistants`: the profile UUID
 *   Apple returned for a team's custom / default profile per ABM token. `profile_checksum` (a
 *   Flotilla addition) is the SHA-256 of the JSON defined, so a changed profile is defined again.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));

  await db.schema
    .createTable('abm_tokens')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('organization_name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('apple_id', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('terms_expired', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('token_invalid', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('renew_at', t.datetime, (c) => c.notNull())
    .addColumn('token', t.blob, (c) => c.notNull())
    .addColumn('macos_default_team_id', 'integer', (c) => c.references('teams.id').onDelete('set null'))
    .addColumn('ios_default_team_id', 'integer', (c) => c.references('teams.id').onDelete('set null'))
    .addColumn('ipados_default_team_id', 'integer', (c) => c.references('teams.id').onDelete('set null'))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('nano_dep_names')
    .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('config_base_url', 'varchar(255)')
    .addColumn('syncer_cursor', 'varchar(1024)')
    .addColumn('syncer_cursor_at', t.datetime)
    .addColumn('assigner_profile_uuid', 'varchar(255)')
    .addColumn('assigner_profile_uuid_at', t.datetime)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('host_dep_assignments')
    .addColumn('host_id', 'integer', (c) => c.primaryKey())
    .addColumn('added_at', t.datetime, (c) => c.notNull())
    .addColumn('deleted_at', t.datetime)
    .addColumn('profile_uuid', 'varchar(255)')
    .addColumn('assign_profile_response', 'varchar(15)')
    .addColumn('response_updated_at', t.datetime)
    .addColumn('retry_job_id', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retry_after_seconds', 'integer')
    .addColumn('abm_token_id', 'integer', (c) => c.references('abm_tokens.id').onDelete('set null'))
    .addColumn('mdm_migration_deadline', t.datetime)
    .addColumn('mdm_migration_completed', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  await db.schema
    .createIndex('idx_host_dep_assignments_token')
    .on('host_dep_assignments')
    .columns(['abm_token_id', 'deleted_at'])
    .execute();
  await db.schema
    .createIndex('idx_host_dep_assignments_response')
    .on('host_dep_assignments')
    .columns(['assign_profile_response', 'response_updated_at'])
    .execute();

  await db.schema
    .createTable('mdm_apple_enrollment_profiles')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('token', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('type', 'varchar(10)', (c) => c.notNull().unique())
    .addColumn('dep_profile', t.longText)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mdm_apple_setup_assistants')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('team_id', 'integer', (c) => c.references('teams.id').onDelete('cascade'))
    // 0 for No team, so the unique key covers it (NULLs never collide).
    .addColumn('global_or_team_id', 'integer', (c) => c.notNull().defaultTo(0).unique())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('profile', t.longText, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mdm_apple_setup_assistant_profiles')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('setup_assistant_id', 'integer', (c) =>
      c.notNull().references('mdm_apple_setup_assistants.id').onDelete('cascade'),
    )
    .addColumn('abm_token_id', 'integer', (c) => c.notNull().references('abm_tokens.id').onDelete('cascade'))
    .addColumn('profile_uuid', 'varchar(255)', (c) => c.notNull())
    .addColumn('profile_checksum', 'varchar(64)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('uq_setup_assistant_profiles', ['setup_assistant_id', 'abm_token_id'])
    .execute();

  await db.schema
    .createTable('mdm_apple_default_setup_assistants')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('team_id', 'integer', (c) => c.references('teams.id').onDelete('cascade'))
    .addColumn('global_or_team_id', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('abm_token_id', 'integer', (c) => c.notNull().references('abm_tokens.id').onDelete('cascade'))
    .addColumn('profile_uuid', 'varchar(255)', (c) => c.notNull())
    .addColumn('profile_checksum', 'varchar(64)', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('uq_default_setup_assistants', ['global_or_team_id', 'abm_token_id'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
