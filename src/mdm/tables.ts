import type { Generated } from 'kysely';

/** Fleet's per-host record of MDM commands in flight that the host's detail depends on (refetch). */
export interface HostMdmCommandsTable {
  host_id: number;
  command_type: string;
  created_at: string;
  updated_at: string;
}

/**
 * Fleet's per-host lock, unlock and wipe requests, whatever the platform: each `*_ref` names the
 * command (or, for a macOS unlock, the time it was asked) the state is derived from.
 */
export interface HostMdmActionsTable {
  host_id: number;
  lock_ref: string | null;
  wipe_ref: string | null;
  unlock_ref: string | null;
  unlock_pin: string | null;
  fleet_platform: Generated<string>;
}

/** Tables the platform-neutral MDM core owns. */
export interface MdmTables {
  host_mdm_commands: HostMdmCommandsTable;
  host_mdm_actions: HostMdmActionsTable;
}
