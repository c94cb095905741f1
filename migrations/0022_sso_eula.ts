import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * End-user authentication before ADE enrollment, and the optional EULA:
 *
 * - `mdm_sso_sessions`: one row per SAML login started from `POST /mdm/sso`, kept in the database
 *   so any server process can finish it. `session_hash` is the SHA-256 (hex) of the session id the
 *   browser holds in its cookie, never the id itself; `request_id` is the AuthnRequest ID the IdP's
 *   response must answer (InResponseTo); `metadata` is the IdP metadata as it was when the login
 *   started (Fleet validates the response against that copy). A row is used once, then deleted.
 * - `mdm_sso_used_assertions`: the SHA-256 of each accepted assertion's ID until it can no longer
 *   be valid, so an assertion is accepted once only.
 * - `eulas`: Fleet's table; one row (`id = 1`) at most: the PDF, its download token and SHA-256.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema
    .createTable('mdm_sso_sessions')
    .addColumn('session_hash', t.binaryString(64), (c) => c.primaryKey())
    .addColumn('request_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('initiator', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('host_uuid', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('metadata', t.longText, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('expires_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_mdm_sso_sessions_expires_at')
    .on('mdm_sso_sessions')
    .column('expires_at')
    .execute();

  await db.schema
    .createTable('mdm_sso_used_assertions')
    .addColumn('assertion_hash', t.binaryString(64), (c) => c.primaryKey())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('expires_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_mdm_sso_used_assertions_expires_at')
    .on('mdm_sso_used_assertions')
    .column('expires_at')
    .execute();

  await db.schema
    .createTable('eulas')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('bytes', t.blob, (c) => c.notNull())
    .addColumn('token', 'varchar(36)', (c) => c.notNull().unique())
    .addColumn('sha256', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
