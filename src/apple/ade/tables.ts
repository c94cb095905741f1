import type { Generated } from 'kysely';
import type { Bool } from '../../db/schema.js';

/**
 * An ADE device held in Setup Assistant (migration 0021): Fleet's `awaiting_configuration` flag and
 * the release job's bookkeeping (Flotilla columns).
 */
export interface HostMdmAppleAwaitingConfigurationTable {
  host_uuid: string;
  awaiting_configuration: Generated<Bool>;
  team_id: number | null;
  platform: Generated<string>;
  bootstrap_command_uuid: string | null;
  account_command_uuid: string | null;
  manual_release: Generated<Bool>;
  started_at: string;
  release_command_uuid: string | null;
  released_at: string | null;
  /** `completed` (everything settled) or `timeout` (released anyway). */
  release_reason: string | null;
  /** When the device acknowledged DeviceConfigured. */
  configured_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface AppleAdeTables {
  host_mdm_apple_awaiting_configuration: HostMdmAppleAwaitingConfigurationTable;
}
