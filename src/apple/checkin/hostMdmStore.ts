import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

/** Fleet's per-host MDM side tables: host_mdm_commands (refetches in flight) and host_mdm_actions (lock/wipe). */
export class HostMdmStateStore {
  constructor(private readonly db: Kysely<DB>) {}

  async deleteActions(hostId: number): Promise<void> {
    await this.db.deleteFrom('host_mdm_actions').where('host_id', '=', hostId).execute();
  }

  async clearCommand(hostId: number, commandType: string): Promise<void> {
    await this.db
      .deleteFrom('host_mdm_commands')
      .where('host_id', '=', hostId)
      .where('command_type', '=', commandType)
      .execute();
  }

  async deleteForHosts(hostIds: number[]): Promise<void> {
    if (hostIds.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('host_mdm_commands').where('host_id', 'in', hostIds).execute();
      await trx.deleteFrom('host_mdm_actions').where('host_id', 'in', hostIds).execute();
    });
  }
}
