import type { Generated } from 'kysely';
import type { Bool } from '../../db/schema.js';

/** Tables of configuration profiles, declarations, their labels and per-host status (migration 0005). */
export interface AppleProfilesTable {
  profile_uuid: string;
  team_id: number;
  identifier: string;
  name: string;
  scope: Generated<string>;
  mobileconfig: Buffer;
  checksum: string;
  payload_uuid: Generated<string>;
  created_at: string;
  uploaded_at: string;
  secrets_updated_at: string | null;
}

export interface AppleDeclarationsTable {
  declaration_uuid: string;
  team_id: number;
  identifier: string;
  name: string;
  raw_json: string;
  scope: Generated<string>;
  token: string;
  created_at: string;
  uploaded_at: string;
  secrets_updated_at: string | null;
}

export interface DeclarationLabelsTable {
  id: Generated<number>;
  apple_declaration_uuid: string;
  label_name: string;
  label_id: number | null;
  exclude: Bool;
  require_all: Bool;
  created_at: string;
}

export interface HostAppleProfilesTable {
  host_uuid: string;
  profile_uuid: string;
  profile_identifier: string;
  profile_name: Generated<string>;
  status: string | null;
  operation_type: Generated<string>;
  detail: string | null;
  command_uuid: Generated<string>;
  checksum: Generated<string>;
  retries: Generated<number>;
  ignore_error: Generated<Bool>;
  scope: Generated<string>;
  secrets_updated_at: string | null;
  variables_updated_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface HostAppleDeclarationsTable {
  host_uuid: string;
  declaration_uuid: string;
  declaration_identifier: string;
  declaration_name: Generated<string>;
  status: string | null;
  operation_type: Generated<string>;
  detail: string | null;
  token: Generated<string>;
  resync: Generated<Bool>;
  scope: Generated<string>;
  secrets_updated_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface HostProfileChecksTable {
  host_uuid: string;
  command_uuid: string;
  requested_at: string;
  answered_at: string | null;
}

export interface AppleProfileTables {
  mdm_apple_configuration_profiles: AppleProfilesTable;
  mdm_apple_declarations: AppleDeclarationsTable;
  mdm_declaration_labels: DeclarationLabelsTable;
  host_mdm_apple_profiles: HostAppleProfilesTable;
  host_mdm_apple_declarations: HostAppleDeclarationsTable;
  host_mdm_apple_profile_checks: HostProfileChecksTable;
}
