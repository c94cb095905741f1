import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import { ReusableQuery } from '../../db/reusableQuery.js';

/**
 * Apple's updates of the core's per-host MDM side tables: host_mdm_commands (refetches in flight)
 * and host_mdm_actions (lock/wipe), as Apple check-ins and command results settle them.
 */
export class HostMdmStateStore {
  constructor(private readonly db: Kysely<DB>) {
    this.unlockedMacLock = this.unlockedMacLockQuery();
  }

  async deleteActions(hostId: number): Promise<void> {
    await this.db.deleteFrom('host_mdm_actions').where('host_id', '=', hostId).execute();
  }

  /**
   * Fleet's rule for macOS unlock: the admin viewing the PIN (unlock) leaves the lock pending until
   * the Mac is seen again; any later Idle means it was unlocked, so lock, unlock and PIN are
   * cleared and the Mac can be locked again. Only rows with an unlock requested change.
   */
  async clearUnlockedMacLock(hostUuid: string): Promise<void> {
    await this.unlockedMacLock.execute(hostUuid);
  }

  private readonly unlockedMacLock: ReusableQuery<[string], unknown>;

  private unlockedMacLockQuery() {
    return new ReusableQuery(
      this.db,
      (hostUuid: string) =>
        this.db
          .updateTable('host_mdm_actions')
          .set({ lock_ref: null, unlock_ref: null, unlock_pin: null })
          .where('host_id', 'in', (eb) => eb.selectFrom('hosts').select('id').where('uuid', '=', hostUuid))
          .where('fleet_platform', '=', 'darwin')
          .where('unlock_ref', 'is not', null)
          .where('unlock_pin', 'is not', null),
      1,
    );
  }

  /** An iPhone or iPad left Lost Mode (DisableLostMode acknowledged, or it reports Lost Mode off). */
  async clearLostModeLock(hostUuid: string, onlyWhenUnlockRequested: boolean): Promise<void> {
    let q = this.db
      .updateTable('host_mdm_actions')
      .set({ lock_ref: null, unlock_ref: null, unlock_pin: null })
      .where('host_id', 'in', (eb) => eb.selectFrom('hosts').select('id').where('uuid', '=', hostUuid))
      .where('lock_ref', 'is not', null);
    if (onlyWhenUnlockRequested) q = q.where('unlock_ref', 'is not', null);
    await q.execute();
  }

  async clearCommand(hostId: number, commandType: string): Promise<void> {
    await this.db
      .deleteFrom('host_mdm_commands')
      .where('host_id', '=', hostId)
      .where('command_type', '=', commandType)
      .execute();
  }
}
