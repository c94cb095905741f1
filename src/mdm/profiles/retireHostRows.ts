import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';
import type { TablesWithColumns } from './tables.js';

type Db = Kysely<DB> | Transaction<DB>;

/** Per-host status tables of command-delivered profiles: every platform's has these columns. */
export type HostProfileTable = TablesWithColumns<
  'host_uuid' | 'profile_uuid' | 'command_uuid' | 'operation_type' | 'status' | 'ignore_error'
>;

/**
 * The steps of deleting a profile definition that Apple and Windows share, on its host status
 * table. Between them the caller takes the install commands still queued out of its own queue.
 */

/** Install rows of the profile that were decided but never sent: nothing to undo, they go away. */
export async function deleteUnsentInstallRows(db: Db, table: HostProfileTable, uuid: string): Promise<void> {
  await db
    .deleteFrom(table)
    .where('profile_uuid', '=', uuid)
    .where('operation_type', '=', 'install')
    .where('status', 'is', null)
    .where('command_uuid', '=', '')
    .execute();
}

/** The install commands of the profile's remaining host rows (for the queue step), as a subquery. */
export function installCommandsOf(db: Db, table: HostProfileTable, uuid: string) {
  return db
    .selectFrom(table)
    .select('command_uuid')
    .where('profile_uuid', '=', uuid)
    .where('operation_type', '=', 'install')
    .where('command_uuid', '!=', '');
}

/**
 * Every other install row becomes a pending removal; a removal error is ignored where the profile
 * may never have arrived (not sent, pending or failed).
 */
export async function markInstallRowsForRemoval(
  db: Db,
  table: HostProfileTable,
  uuid: string,
  now: string,
): Promise<void> {
  await db
    .updateTable(table)
    .set((eb) => ({
      operation_type: 'remove',
      ignore_error: eb
        .case()
        .when(eb.or([eb('status', 'is', null), eb('status', 'in', ['pending', 'failed'])]))
        .then(1)
        .else(0)
        .end(),
      status: null,
      updated_at: now,
    }))
    .where('profile_uuid', '=', uuid)
    .where('operation_type', '=', 'install')
    .execute();
}
