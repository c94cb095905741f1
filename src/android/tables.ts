import type { Generated } from 'kysely';
import type { Bool } from '../db/schema.js';

/** Android tables (migration 0023). Times are UTC strings; int64 versions may come back as strings. */
export interface AndroidEnterprisesTable {
  id: Generated<number>;
  signup_name: Generated<string>;
  /** SHA-256 hex of the signup token in the callback URL ('' once the enterprise is bound). */
  signup_token_hash: Generated<string>;
  /** Google's ID without the `enterprises/` prefix; '' while signup is under way. */
  enterprise_id: Generated<string>;
  pubsub_topic_id: Generated<string>;
  user_id: number | null;
  created_at: string;
  updated_at: string;
}

export interface AndroidDevicesTable {
  id: Generated<number>;
  host_id: number;
  device_id: string;
  enterprise_specific_id: string;
  is_personal: Generated<Bool>;
  last_policy_sync_time: string | null;
  applied_policy_id: string | null;
  applied_policy_version: number | string | null;
  last_status_report_time: string | null;
  /** MD5 hex of the app list last written to the software inventory ('' = none yet). */
  software_checksum: Generated<string>;
  created_at: string;
  updated_at: string;
}

export interface AndroidProfilesTable {
  profile_uuid: string;
  team_id: number;
  name: string;
  raw_json: string;
  checksum: string;
  created_at: string;
  uploaded_at: string;
}

export interface HostAndroidProfilesTable {
  host_uuid: string;
  profile_uuid: string;
  profile_name: Generated<string>;
  status: string | null;
  operation_type: Generated<string>;
  detail: string | null;
  policy_request_uuid: string | null;
  device_request_uuid: string | null;
  request_fail_count: Generated<number>;
  included_in_policy_version: number | string | null;
  can_reverify: Generated<Bool>;
  created_at: string;
  updated_at: string;
}

export interface AndroidPolicyRequestsTable {
  request_uuid: string;
  request_name: string;
  policy_id: string;
  /** JSON `{policy, metadata: {settings_origin: {<topLevelKey>: <profile_uuid>}}}`. */
  payload: string;
  status_code: Generated<string>;
  error_details: string | null;
  applied_policy_version: number | string | null;
  policy_version: number | string | null;
  created_at: string;
  updated_at: string;
}

export interface AndroidCommandsTable {
  command_uuid: string;
  host_uuid: string;
  operation_name: string;
  command_type: string;
  /** `pending`, `acknowledged` or `error`. */
  status: Generated<string>;
  error_code: string | null;
  error_message: string | null;
  request_payload: string;
  created_at: string;
  updated_at: string;
}

export interface AndroidPubsubMessagesTable {
  message_id: string;
  received_at: string;
}

export interface AndroidTables {
  android_enterprises: AndroidEnterprisesTable;
  android_devices: AndroidDevicesTable;
  mdm_android_configuration_profiles: AndroidProfilesTable;
  host_mdm_android_profiles: HostAndroidProfilesTable;
  android_policy_requests: AndroidPolicyRequestsTable;
  mdm_android_commands: AndroidCommandsTable;
  android_pubsub_messages: AndroidPubsubMessagesTable;
}
