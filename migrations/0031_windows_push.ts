import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Windows push (WNS): per enrollment, the ChannelURI the PC reported through the DMClient CSP and
 * the push bookkeeping (last push, failures, back-off). A row belongs to one incarnation of the
 * enrollment (`enrollment_created_at`): re-enrolling the same PC makes it stale.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema
    .createTable('windows_mdm_push_channels')
    .addColumn('enrollment_id', 'integer', (c) =>
      c.primaryKey().references('mdm_windows_enrollments.id').onDelete('cascade'),
    )
    .addColumn('enrollment_created_at', t.datetime, (c) => c.notNull())
    /** The Package Family Name the PC accepted in Push/PFN ('' until it did). */
    .addColumn('pfn', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('channel_uri', 'varchar(2048)')
    /** DMClient Push/Status as the PC reported it. */
    .addColumn('channel_status', 'varchar(32)')
    /** When the session last asked for the channel, and when the PC last answered. */
    .addColumn('asked_at', t.datetime)
    .addColumn('checked_at', t.datetime)
    .addColumn('last_push_at', t.datetime)
    .addColumn('last_push_error', 'varchar(255)')
    .addColumn('push_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_push_at', t.datetime)
    .addColumn('updated_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_windows_mdm_push_channels_next_push')
    .on('windows_mdm_push_channels')
    .column('next_push_at')
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
