import { sql, type Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * What the host list filters read that no table held yet:
 *
 * - `hosts.gigs_disk_space_available`, `hosts.percent_disk_space_available` and
 *   `hosts.disk_encryption_enabled` (Fleet keeps these in `host_disks`). NULL means "not reported":
 *   such a host never matches `low_disk_space` and shows 0 / no `disk_encryption_enabled`, as in
 *   Fleet for a host without a `host_disks` row.
 * - `mdm_solutions` (one row per MDM name and server URL) and `host_mdm.mdm_id` pointing at it,
 *   for the `mdm_id` filter and the `mdm.id` of a host. Existing host_mdm rows with a server URL
 *   get their solution here.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));

  await db.schema.alterTable('hosts').addColumn('gigs_disk_space_available', 'double precision').execute();
  await db.schema.alterTable('hosts').addColumn('percent_disk_space_available', 'double precision').execute();
  await db.schema.alterTable('hosts').addColumn('disk_encryption_enabled', 'boolean').execute();

  await db.schema
    .createTable('mdm_solutions')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('server_url', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', t.datetime, (c) => c.notNull())
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .addUniqueConstraint('uq_mdm_solutions_name_url', ['name', 'server_url'])
    .execute();

  await db.schema.alterTable('host_mdm').addColumn('mdm_id', 'integer').execute();
  await db.schema.createIndex('idx_host_mdm_mdm_id').on('host_mdm').column('mdm_id').execute();

  const now = new Date().toISOString().replace('T', ' ').replace('Z', '');
  await sql`INSERT INTO mdm_solutions (name, server_url, created_at, updated_at)
    SELECT DISTINCT mdm_name, server_url, ${now}, ${now} FROM host_mdm WHERE server_url <> ''`.execute(db);
  await sql`UPDATE host_mdm SET mdm_id = (
      SELECT s.id FROM mdm_solutions s WHERE s.name = host_mdm.mdm_name AND s.server_url = host_mdm.server_url
    ) WHERE server_url <> ''`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
