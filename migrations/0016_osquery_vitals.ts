import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Host vitals osquery reports that migration 0015 left out, with Fleet's names:
 *
 * - `cpu_subtype` (system_info);
 * - `gigs_total_disk_space` (Fleet keeps it in host_disks next to the available space; NULL until
 *   the host reports its disks);
 * - `last_restarted_at`, derived from the reported uptime (NULL until the host reports one).
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema
    .alterTable('hosts')
    .addColumn('cpu_subtype', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema.alterTable('hosts').addColumn('gigs_total_disk_space', 'double precision').execute();
  await db.schema.alterTable('hosts').addColumn('last_restarted_at', t.datetime).execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
