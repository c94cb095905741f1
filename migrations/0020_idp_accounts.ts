import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * End users known from the identity provider (SSO before ADE enrollment): `mdm_idp_accounts`, one
 * row per authenticated user (`uuid` is the `enrollment_reference` carried into the MDM ServerURL),
 * and `host_mdm_idp_accounts`, which host enrolled as which user. Fleet's tables and columns.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema
    .createTable('mdm_idp_accounts')
    .addColumn('uuid', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('username', 'varchar(255)', (c) => c.notNull())
    .addColumn('fullname', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('email', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('uq_mdm_idp_accounts_email', ['email'])
    .execute();
  await db.schema
    .createTable('host_mdm_idp_accounts')
    .addColumn('host_uuid', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('account_uuid', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
