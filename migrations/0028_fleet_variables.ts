import { sql, type Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Fleet variables and secrets, Fleet's tables: `fleet_variables` (seeded with Fleet's names as it
 * stores them, `FLEET_VAR_<NAME>`, prefix forms ending in `_`), `mdm_configuration_profile_variables`
 * (which variables an Apple or Windows profile uses, recorded at upload) and `secret_variables`
 * (`$FLEET_SECRET_<NAME>` values, sealed with the server key).
 */
const seededNames = [
  'FLEET_VAR_NDES_SCEP_CHALLENGE',
  'FLEET_VAR_NDES_SCEP_PROXY_URL',
  'FLEET_VAR_HOST_END_USER_EMAIL_IDP',
  'FLEET_VAR_HOST_HARDWARE_SERIAL',
  'FLEET_VAR_HOST_END_USER_IDP_USERNAME',
  'FLEET_VAR_HOST_END_USER_IDP_USERNAME_LOCAL_PART',
  'FLEET_VAR_HOST_END_USER_IDP_GROUPS',
  'FLEET_VAR_HOST_END_USER_IDP_DEPARTMENT',
  'FLEET_VAR_HOST_END_USER_IDP_FULL_NAME',
  'FLEET_VAR_HOST_UUID',
  'FLEET_VAR_SCEP_RENEWAL_ID',
  'FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID',
];
/** Followed by a certificate authority's name. */
const seededPrefixes = [
  'FLEET_VAR_DIGICERT_DATA_',
  'FLEET_VAR_DIGICERT_PASSWORD_',
  'FLEET_VAR_CUSTOM_SCEP_CHALLENGE_',
  'FLEET_VAR_CUSTOM_SCEP_PROXY_URL_',
];

export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema
    .createTable('fleet_variables')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('is_prefix', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('uq_fleet_variables_name_is_prefix', ['name', 'is_prefix'])
    .execute();
  // Written out here (not read from src/mdm/variables/names.ts) so this migration never changes;
  // a constant time, as Fleet seeds them, so every database holds the same rows.
  const seededAt = '2025-04-22 00:00:00.000';
  await db
    .insertInto('fleet_variables')
    .values([
      ...seededNames.map((name) => ({ name, is_prefix: 0, created_at: seededAt })),
      ...seededPrefixes.map((name) => ({ name, is_prefix: 1, created_at: seededAt })),
    ])
    .execute();

  await db.schema
    .createTable('mdm_configuration_profile_variables')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('apple_profile_uuid', 'varchar(37)', (c) =>
      c.references('mdm_apple_configuration_profiles.profile_uuid').onDelete('cascade'),
    )
    .addColumn('windows_profile_uuid', 'varchar(37)', (c) =>
      c.references('mdm_windows_configuration_profiles.profile_uuid').onDelete('cascade'),
    )
    .addColumn('fleet_variable_id', 'integer', (c) =>
      c.notNull().references('fleet_variables.id').onDelete('cascade'),
    )
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('uq_profile_variables_apple', ['apple_profile_uuid', 'fleet_variable_id'])
    .addUniqueConstraint('uq_profile_variables_windows', ['windows_profile_uuid', 'fleet_variable_id'])
    .addCheckConstraint(
      'ck_profile_variables_apple_or_windows',
      sql`(apple_profile_uuid IS NULL) <> (windows_profile_uuid IS NULL)`,
    )
    .execute();

  await db.schema
    .createTable('secret_variables')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', t.blob, (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('uq_secret_variables_name', ['name'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
