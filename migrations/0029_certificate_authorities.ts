import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Certificate authorities the admin configures for certificate variables in profiles, and what
 * the SCEP proxy needs to serve devices through them:
 *
 * - `certificate_authorities` (Fleet's table): one row per CA, unique by `(type, name)`. The NDES
 *   password and the custom SCEP challenge are sealed with the server key, never stored in clear.
 * - `scep_proxy_challenges` (Fleet's `challenges`): the one-time challenges carried in custom SCEP
 *   proxy URLs. Only their SHA-256 is stored, with the host, profile and CA the URL was made for;
 *   the first PKIOperation through the proxy deletes the row.
 * - `host_mdm_managed_certificates` (Fleet's table): one row per host, profile and CA whose
 *   certificate goes through the proxy: when an NDES challenge was fetched for it, and the issued
 *   certificate's validity and serial once the upstream answered.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));

  await db.schema
    .createTable('certificate_authorities')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('type', 'varchar(32)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('url', 'varchar(2048)', (c) => c.notNull())
    .addColumn('admin_url', 'varchar(2048)')
    .addColumn('username', 'varchar(255)')
    .addColumn('password_encrypted', t.blob)
    .addColumn('challenge_encrypted', t.blob)
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('idx_ca_type_name', ['type', 'name'])
    .execute();

  await db.schema
    .createTable('scep_proxy_challenges')
    .addColumn('challenge_sha256', 'char(64)', (c) => c.primaryKey())
    .addColumn('host_uuid', 'varchar(255)', (c) => c.notNull())
    .addColumn('profile_uuid', 'varchar(64)', (c) => c.notNull())
    .addColumn('ca_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_scep_proxy_challenges_created_at')
    .on('scep_proxy_challenges')
    .column('created_at')
    .execute();

  await db.schema
    .createTable('host_mdm_managed_certificates')
    .addColumn('host_uuid', 'varchar(255)', (c) => c.notNull())
    .addColumn('profile_uuid', 'varchar(64)', (c) => c.notNull())
    .addColumn('ca_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('type', 'varchar(32)', (c) => c.notNull())
    .addColumn('challenge_retrieved_at', t.datetime)
    .addColumn('not_valid_before', t.datetime)
    .addColumn('not_valid_after', t.datetime)
    .addColumn('serial', 'varchar(128)')
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_host_mdm_managed_certificates', ['host_uuid', 'profile_uuid', 'ca_name'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
