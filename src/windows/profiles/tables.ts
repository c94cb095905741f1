import type { Generated } from 'kysely';
import type { Bool } from '../../db/schema.js';

/** Windows configuration profiles, their per-host status and verification checks (migration 0007). */
export interface WindowsProfilesTable {
  profile_uuid: string;
  team_id: number;
  name: string;
  scope: Generated<string>;
  syncml: string;
  checksum: string;
  created_at: string;
  uploaded_at: string;
  secrets_updated_at: string | null;
}

export interface HostWindowsProfilesTable {
  host_uuid: string;
  profile_uuid: string;
  profile_name: Generated<string>;
  profile_identifier: Generated<string>;
  status: string | null;
  operation_type: Generated<string>;
  detail: string | null;
  command_uuid: Generated<string>;
  checksum: Generated<string>;
  retries: Generated<number>;
  ignore_error: Generated<Bool>;
  scope: Generated<string>;
  secrets_updated_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface HostWindowsProfileChecksTable {
  host_uuid: string;
  command_uuid: string;
  requested_at: string;
  answered_at: string | null;
}

export interface WindowsProfileTables {
  mdm_windows_configuration_profiles: WindowsProfilesTable;
  host_mdm_windows_profiles: HostWindowsProfilesTable;
  host_mdm_windows_profile_checks: HostWindowsProfileChecksTable;
}
