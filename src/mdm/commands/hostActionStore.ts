import type { Kysely, Transaction } from 'kysely';
import { upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { HostActionRow } from '../platform.js';

/** SQL of `host_mdm_actions`: each host's lock, unlock and wipe requests, whatever its platform. */
export class HostActionStore {
  constructor(private readonly db: Kysely<DB>) {}

  async get(hostId: number): Promise<HostActionRow | undefined> {
    return this.db
      .selectFrom('host_mdm_actions')
      .selectAll()
      .where('host_id', '=', hostId)
      .executeTakeFirst();
  }

  /** Writes the given columns of the host's row (creating it). */
  async set(
    trx: Kysely<DB>,
    row: Pick<HostActionRow, 'host_id' | 'fleet_platform'> &
      Partial<Omit<HostActionRow, 'host_id' | 'fleet_platform'>>,
  ): Promise<void> {
    const cols = Object.keys(row).filter((k) => k !== 'host_id');
    await upsert(trx, 'host_mdm_actions', row, ['host_id'], cols);
  }

  /** Deleted hosts take their action rows and refetches in flight with them. */
  async deleteForHosts(hostIds: number[]): Promise<void> {
    if (hostIds.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('host_mdm_commands').where('host_id', 'in', hostIds).execute();
      await trx.deleteFrom('host_mdm_actions').where('host_id', 'in', hostIds).execute();
    });
  }

  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }
}
