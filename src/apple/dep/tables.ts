import type { Generated } from 'kysely';
import type { Bool } from '../../db/schema.js';

/** One ABM server token (migration 0019). `token` is the credentials JSON sealed with the server key. */
export interface AbmTokensTable {
  id: Generated<number>;
  organization_name: string;
  apple_id: Generated<string>;
  terms_expired: Generated<Bool>;
  token_invalid: Generated<Bool>;
  renew_at: string;
  token: Buffer;
  macos_default_team_id: number | null;
  ios_default_team_id: number | null;
  ipados_default_team_id: number | null;
  created_at: string;
  updated_at: string;
}

/** NanoDEP's per-name state; the name is the token's organisation name. */
export interface NanoDepNamesTable {
  name: string;
  config_base_url: string | null;
  syncer_cursor: string | null;
  syncer_cursor_at: string | null;
  assigner_profile_uuid: string | null;
  assigner_profile_uuid_at: string | null;
  created_at: string;
  updated_at: string;
}

/** A host's ADE assignment; live while `deleted_at` is NULL. */
export interface HostDepAssignmentsTable {
  host_id: number;
  added_at: string;
  deleted_at: string | null;
  profile_uuid: string | null;
  assign_profile_response: string | null;
  response_updated_at: string | null;
  retry_job_id: Generated<number>;
  retry_after_seconds: number | null;
  abm_token_id: number | null;
  mdm_migration_deadline: string | null;
  mdm_migration_completed: Generated<Bool>;
}

export interface MdmAppleEnrollmentProfilesTable {
  id: Generated<number>;
  token: string;
  type: string;
  dep_profile: string | null;
  created_at: string;
  updated_at: string;
}

export interface MdmAppleSetupAssistantsTable {
  id: Generated<number>;
  team_id: number | null;
  global_or_team_id: Generated<number>;
  name: string;
  profile: string;
  created_at: string;
  updated_at: string;
}

export interface MdmAppleSetupAssistantProfilesTable {
  id: Generated<number>;
  setup_assistant_id: number;
  abm_token_id: number;
  profile_uuid: string;
  profile_checksum: Generated<string>;
  created_at: string;
  updated_at: string;
}

export interface MdmAppleDefaultSetupAssistantsTable {
  id: Generated<number>;
  team_id: number | null;
  global_or_team_id: Generated<number>;
  abm_token_id: number;
  profile_uuid: string;
  profile_checksum: Generated<string>;
  created_at: string;
  updated_at: string;
}

export interface AppleDepTables {
  abm_tokens: AbmTokensTable;
  nano_dep_names: NanoDepNamesTable;
  host_dep_assignments: HostDepAssignmentsTable;
  mdm_apple_enrollment_profiles: MdmAppleEnrollmentProfilesTable;
  mdm_apple_setup_assistants: MdmAppleSetupAssistantsTable;
  mdm_apple_setup_assistant_profiles: MdmAppleSetupAssistantProfilesTable;
  mdm_apple_default_setup_assistants: MdmAppleDefaultSetupAssistantsTable;
}
