import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * User invites and password reset requests (Fleet's `invites`, `invite_teams` and
 * `password_reset_requests`). The one-time tokens mailed to people are never stored: `token_hash` is
 * the SHA-256 (lowercase hex) of the token, so a copy of these tables gives nobody a working link.
 * `users.admin_forced_password_reset` already exists (migration 0001).
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));

  await db.schema
    .createTable('invites')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    // No foreign key: an invite outlives the admin who sent it (as in Fleet).
    .addColumn('invited_by', 'integer', (c) => c.notNull())
    .addColumn('email', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('position', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('sso_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('mfa_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('global_role', 'varchar(64)')
    .addColumn('token_hash', t.binaryString(64), (c) => c.notNull().unique())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('invite_teams')
    .addColumn('invite_id', 'integer', (c) => c.notNull().references('invites.id').onDelete('cascade'))
    .addColumn('team_id', 'integer', (c) => c.notNull().references('teams.id').onDelete('cascade'))
    .addColumn('role', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_invite_teams', ['invite_id', 'team_id'])
    .execute();
  await db.schema.createIndex('idx_invite_teams_team').on('invite_teams').column('team_id').execute();

  await db.schema
    .createTable('password_reset_requests')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', t.binaryString(64), (c) => c.notNull().unique())
    .addColumn('expires_at', t.datetime, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_password_reset_requests_user')
    .on('password_reset_requests')
    .column('user_id')
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
