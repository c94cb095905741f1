import type { Generated } from 'kysely';
import type { Bool } from '../db/schema.js';

/** One row per Windows MDM enrollment (re-enrolling the same HWDevID reuses the row). */
export interface MdmWindowsEnrollmentsTable {
  id: Generated<number>;
  /** MS-MDE2 DeviceID: the SyncHdr Source LocURI and the digest user name. */
  mdm_device_id: string;
  /** MS-MDE2 HWDevID: stable per machine, the re-enrollment key and the issued certificate's CN. */
  mdm_hardware_id: string;
  device_state: string;
  device_type: string;
  device_name: string;
  enroll_type: string;
  enroll_user_id: string;
  enroll_proto_version: string;
  enroll_client_version: string;
  not_in_oobe: Generated<Bool>;
  awaiting_configuration: Generated<Bool>;
  host_uuid: Generated<string>;
  /** MD5(DeviceID:password), raw 16 bytes; the password itself is never stored. */
  credentials_hash: Buffer | null;
  credentials_acknowledged: Generated<Bool>;
  /** Current digest nonce issued in a Chal, and when it stops being accepted. */
  auth_nonce: string | null;
  auth_nonce_expires_at: string | null;
  last_seen_at: string | null;
  /** Migration 0032: a user signed in (LoginStatus `user`, or a user's own enrollment); NULL: none. */
  user_signed_in_at: Generated<string | null>;
  created_at: string;
  updated_at: string;
}

/** Command bodies, shared by every device they are queued for. */
export interface WindowsMdmCommandsTable {
  command_uuid: string;
  raw_command: string;
  target_loc_uri: Generated<string>;
  created_at: string;
  updated_at: string;
}

/** What each enrollment still has to receive; a row leaves when the device answers the command. */
export interface WindowsMdmCommandQueueTable {
  enrollment_id: number;
  command_uuid: string;
  created_at: string;
}

/** Every device message that carried answers to our commands, verbatim. */
export interface WindowsMdmResponsesTable {
  id: Generated<number>;
  enrollment_id: number;
  raw_response: string;
  created_at: string;
}

/** Per command and enrollment: the device's Status (and Results) XML and its status code. */
export interface WindowsMdmCommandResultsTable {
  enrollment_id: number;
  command_uuid: string;
  raw_result: string;
  response_id: number;
  status_code: string;
  created_at: string;
  updated_at: string;
}

/** Serial numbers of WSTEP-issued certificates come from this sequence (as Fleet's wstep_serials). */
export interface WstepSerialsTable {
  serial: Generated<number>;
  created_at: string;
}

/** Every device certificate the WSTEP CA issued: who for, validity, and the certificate itself. */
export interface WstepCertificatesTable {
  serial: number;
  /** The subject CN (the device's HWDevID). */
  name: string;
  not_valid_before: string;
  not_valid_after: string;
  certificate_pem: string;
  /** Upper-case hex SHA-1 of the DER, the thumbprint Windows and the provisioning document use. */
  sha1_thumbprint: string;
  revoked: Generated<Bool>;
  enrollment_id: number | null;
  host_uuid: Generated<string>;
  created_at: string;
  updated_at: string;
}

export interface WindowsTables {
  mdm_windows_enrollments: MdmWindowsEnrollmentsTable;
  windows_mdm_commands: WindowsMdmCommandsTable;
  windows_mdm_command_queue: WindowsMdmCommandQueueTable;
  windows_mdm_responses: WindowsMdmResponsesTable;
  windows_mdm_command_results: WindowsMdmCommandResultsTable;
  wstep_serials: WstepSerialsTable;
  wstep_certificates: WstepCertificatesTable;
}
