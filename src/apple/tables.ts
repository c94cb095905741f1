import type { Generated } from 'kysely';
import type { Bool } from '../db/schema.js';

/** Table types for Apple check-in and the command queue (migration 0004). */

export interface NanoDevicesTable {
  id: string;
  identity_cert: string | null;
  serial_number: string | null;
  unlock_token: Buffer | null;
  unlock_token_at: string | null;
  authenticate: string;
  authenticate_at: string;
  token_update: string | null;
  token_update_at: string | null;
  bootstrap_token_b64: string | null;
  bootstrap_token_at: string | null;
  platform: Generated<string>;
  enroll_team_id: number | null;
  created_at: string;
  updated_at: string;
}

export interface NanoUsersTable {
  id: string;
  device_id: string;
  user_short_name: string | null;
  user_long_name: string | null;
  token_update: string | null;
  token_update_at: string | null;
  user_authenticate: string | null;
  user_authenticate_at: string | null;
  user_authenticate_digest: string | null;
  user_authenticate_digest_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface NanoEnrollmentsTable {
  id: string;
  device_id: string;
  user_id: string | null;
  type: string;
  topic: string;
  push_magic: string;
  token_hex: string;
  enabled: Generated<Bool>;
  token_update_tally: Generated<number>;
  last_seen_at: string;
  enrolled_from_migration: Generated<Bool>;
  last_push_at: string | null;
  last_push_error: string | null;
  push_failures: Generated<number>;
  next_push_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface NanoCommandsTable {
  command_uuid: string;
  request_type: string;
  command: Buffer;
  subtype: Generated<string>;
  created_at: string;
  updated_at: string;
}

export interface NanoEnrollmentQueueTable {
  id: string;
  command_uuid: string;
  active: Generated<Bool>;
  priority: Generated<number>;
  delivery_attempts: Generated<number>;
  created_at: string;
  updated_at: string;
}

export interface NanoCommandResultsTable {
  id: string;
  command_uuid: string;
  status: string;
  result: Buffer;
  not_now_at: string | null;
  not_now_tally: Generated<number>;
  created_at: string;
  updated_at: string;
}

export interface NanoCertAuthAssociationsTable {
  id: string;
  sha256: string;
  cert_not_valid_after: string | null;
  /** The InstallProfile that asks the device to renew this identity (Fleet's column). */
  renew_command_uuid: string | null;
  /** SCEP renewal of this identity: `requested`, `command_sent`, `renewed`, `failed` (null: none). */
  renew_state: string | null;
  /** Which profile the renewal sends: `enrollment`, `user_enrollment` or `migration`. */
  renew_kind: string | null;
  /** Renewals of this identity that failed so far (sets the back-off). */
  renew_attempts: Generated<number>;
  renew_sent_at: string | null;
  /** A failed renewal is tried again from this time. */
  renew_retry_at: string | null;
  /** Why the last renewal failed, shown to admins (never a secret). */
  renew_error: string | null;
  /** The identity that replaced this one. */
  renewed_by_sha256: string | null;
  /** The device holds this identity through the previous vendor's enrollment profile. */
  from_migration: Generated<Bool>;
  created_at: string;
  updated_at: string;
}

/** Refused attempts to claim an enrolled device's UDID with another identity (shown on the host). */
export interface MdmAppleEnrollmentConflictsTable {
  device_id: string;
  cert_sha256: string;
  cert_serial: number | null;
  reason: string;
  attempts: Generated<number>;
  first_seen_at: string;
  last_seen_at: string;
}

export interface AppleMdmTables {
  nano_devices: NanoDevicesTable;
  nano_users: NanoUsersTable;
  nano_enrollments: NanoEnrollmentsTable;
  nano_commands: NanoCommandsTable;
  nano_enrollment_queue: NanoEnrollmentQueueTable;
  nano_command_results: NanoCommandResultsTable;
  nano_cert_auth_associations: NanoCertAuthAssociationsTable;
  mdm_apple_enrollment_conflicts: MdmAppleEnrollmentConflictsTable;
}
