import type { Generated } from 'kysely';
import type { AppleProfileTables } from '../apple/profiles/tables.js';
import type { MdmProfileTables } from '../mdm/profiles/tables.js';
import type { WindowsTables } from '../windows/tables.js';
import type { WindowsProfileTables } from '../windows/profiles/tables.js';
import type { WindowsPushTables } from '../windows/push/tables.js';
import type { AppleMdmTables } from '../apple/tables.js';
import type { AppleScepTables } from '../apple/scep/tables.js';
import type { AppleDepTables } from '../apple/dep/tables.js';
import type { AppleAdeTables } from '../apple/ade/tables.js';
import type { AppleBootstrapTables } from '../apple/bootstrap/tables.js';
import type { MdmTables } from '../mdm/tables.js';
import type { SsoTables } from '../sso/tables.js';
import type { AndroidTables } from '../android/tables.js';
import type { SoftwareTables } from '../hosts/softwareTables.js';
import type { CertificateTables } from '../certs/tables.js';
import type { ImportTables } from '../migrate/tables.js';
import type { FleetVariableTables } from '../mdm/variables/tables.js';
import type { AppleFactsTables } from '../apple/facts/tables.js';
import type { CertificateAuthorityTables } from '../certificateAuthorities/tables.js';

/**
 * Table types. Times are UTC strings (see dialect.ts); booleans come back as 0/1 numbers.
 * Each domain adds its tables in its own interface and joins it into DB below.
 */
export type Bool = number | boolean;

export interface AppConfigJsonTable {
  id: number;
  json_value: string;
  created_at: string;
  updated_at: string;
}

export interface TeamsTable {
  id: Generated<number>;
  name: string;
  description: Generated<string>;
  config: string;
  created_at: string;
  updated_at: string;
}

export interface HostsTable {
  id: Generated<number>;
  osquery_host_id: string | null;
  node_key: string | null;
  orbit_node_key: string | null;
  uuid: Generated<string>;
  hardware_serial: Generated<string>;
  platform: Generated<string>;
  team_id: number | null;
  hostname: Generated<string>;
  computer_name: Generated<string>;
  hardware_model: Generated<string>;
  os_version: Generated<string>;
  label_updated_at: Generated<string>;
  detail_updated_at: Generated<string>;
  last_enrolled_at: Generated<string>;
  refetch_requested: Generated<Bool>;
  created_at: string;
  updated_at: string;
  /** Migration 0014; NULL = not reported. */
  gigs_disk_space_available: number | null;
  percent_disk_space_available: number | null;
  disk_encryption_enabled: Bool | null;
  /** Migration 0015: vitals osquery reports, agent intervals, last agent contact. */
  osquery_version: Generated<string>;
  cpu_brand: Generated<string>;
  cpu_type: Generated<string>;
  hardware_vendor: Generated<string>;
  hardware_version: Generated<string>;
  platform_like: Generated<string>;
  build: Generated<string>;
  code_name: Generated<string>;
  primary_ip: Generated<string>;
  primary_mac: Generated<string>;
  public_ip: Generated<string>;
  orbit_version: Generated<string>;
  memory: Generated<number | string>;
  uptime: Generated<number | string>;
  cpu_physical_cores: Generated<number>;
  cpu_logical_cores: Generated<number>;
  distributed_interval: Generated<number>;
  config_tls_refresh: Generated<number>;
  logger_tls_period: Generated<number>;
  seen_time: string | null;
  refetch_critical_queries_until: string | null;
  /** Migration 0016: the rest of the vitals osquery reports. */
  cpu_subtype: Generated<string>;
  gigs_total_disk_space: number | null;
  last_restarted_at: string | null;
}

/** Fleet Desktop device token of a host (migration 0015): SHA-256 hex, never the token itself. */
export interface HostDeviceAuthTable {
  host_id: number;
  token_hash: string;
  previous_token_hash: string | null;
  previous_valid_until: string | null;
  created_at: string;
  updated_at: string;
}

/** End-user emails of a host by source (migration 0015). */
export interface HostEmailsTable {
  id: Generated<number>;
  host_id: number;
  email: string;
  source: string;
  created_at: string;
  updated_at: string;
}

/** Escrowed disk-encryption keys (migration 0015), Fleet's columns. decryptable NULL = not yet checked. */
export interface HostDiskEncryptionKeysTable {
  host_id: number;
  base64_encrypted: string;
  base64_encrypted_salt: Generated<string>;
  key_slot: number | null;
  decryptable: Bool | null;
  client_error: Generated<string>;
  reset_requested: Generated<Bool>;
  created_at: string;
  updated_at: string;
}

/** End users known from the identity provider (migration 0020); uuid = the enrollment_reference. */
export interface MdmIdpAccountsTable {
  uuid: string;
  username: string;
  fullname: Generated<string>;
  email: string;
  created_at: string;
  updated_at: string;
}

/** Which host enrolled as which identity-provider user (migration 0020). */
export interface HostMdmIdpAccountsTable {
  host_uuid: string;
  account_uuid: string;
  created_at: string;
  updated_at: string;
}

export interface HostDiskEncryptionKeysArchiveTable {
  id: Generated<number>;
  host_id: number;
  hardware_serial: Generated<string>;
  base64_encrypted: string;
  base64_encrypted_salt: Generated<string>;
  key_slot: number | null;
  created_at: string;
}

export interface HostMdmTable {
  host_id: number;
  enrolled: Generated<Bool>;
  server_url: Generated<string>;
  installed_from_dep: Generated<Bool>;
  mdm_name: Generated<string>;
  is_server: Generated<Bool>;
  fleet_enroll_ref: Generated<string>;
  is_personal_enrollment: Generated<Bool>;
  /** mdm_solutions.id (migration 0014); NULL without a server URL. */
  mdm_id: number | null;
}

/** One row per MDM solution (name and server URL) hosts report (migration 0014). */
export interface MdmSolutionsTable {
  id: Generated<number>;
  name: Generated<string>;
  server_url: string;
  created_at: string;
  updated_at: string;
}

export interface LabelsTable {
  id: Generated<number>;
  name: string;
  description: Generated<string>;
  query: string;
  platform: Generated<string>;
  label_type: Generated<number>;
  label_membership_type: Generated<number>;
  criteria: string | null;
  author_id: number | null;
  created_at: string;
  updated_at: string;
}

export interface LabelMembershipTable {
  host_id: number;
  label_id: number;
  is_member: Generated<Bool>;
  created_at: string;
  updated_at: string;
}

export interface UsersTable {
  id: Generated<number>;
  email: string;
  name: Generated<string>;
  password: string;
  global_role: string | null;
  api_only: Generated<Bool>;
  sso_enabled: Generated<Bool>;
  mfa_enabled: Generated<Bool>;
  admin_forced_password_reset: Generated<Bool>;
  created_at: string;
  updated_at: string;
}

export interface UserTeamsTable {
  user_id: number;
  team_id: number;
  role: string;
}

export interface SessionsTable {
  id: Generated<number>;
  key: string;
  user_id: number;
  accessed_at: string;
  created_at: string;
}

export interface EnrollSecretsTable {
  secret: string;
  team_id: number | null;
  created_at: string;
}

export interface ActivitiesTable {
  id: Generated<number>;
  user_id: number | null;
  user_name: string | null;
  user_email: string | null;
  activity_type: string;
  details: string;
  created_at: string;
}

export interface HostActivitiesTable {
  host_id: number;
  activity_id: number;
}

export interface LocksTable {
  id: Generated<number>;
  name: string;
  owner: string;
  expires_at: string;
}

export interface CronStatsTable {
  id: Generated<number>;
  name: string;
  instance: string;
  stats_type: string;
  status: string;
  errors: string | null;
  created_at: string;
  updated_at: string;
}

export interface MdmConfigAssetsTable {
  id: Generated<number>;
  name: string;
  value: Buffer;
  md5_checksum: string;
  created_at: string;
  deleted_at: string | null;
  deletion_uuid: Generated<string>;
}

export interface FoundationTables {
  app_config_json: AppConfigJsonTable;
  teams: TeamsTable;
  hosts: HostsTable;
  host_mdm: HostMdmTable;
  labels: LabelsTable;
  label_membership: LabelMembershipTable;
  users: UsersTable;
  user_teams: UserTeamsTable;
  sessions: SessionsTable;
  enroll_secrets: EnrollSecretsTable;
  activities: ActivitiesTable;
  host_activities: HostActivitiesTable;
  locks: LocksTable;
  cron_stats: CronStatsTable;
  mdm_config_assets: MdmConfigAssetsTable;
  mdm_solutions: MdmSolutionsTable;
  host_device_auth: HostDeviceAuthTable;
  host_emails: HostEmailsTable;
  host_disk_encryption_keys: HostDiskEncryptionKeysTable;
  host_disk_encryption_keys_archive: HostDiskEncryptionKeysArchiveTable;
  mdm_idp_accounts: MdmIdpAccountsTable;
  host_mdm_idp_accounts: HostMdmIdpAccountsTable;
}

// Domain table sets are joined here as they are added (e.g. `& AppleTables`).
export type DB = FoundationTables &
  MdmTables &
  WindowsTables &
  AppleMdmTables &
  MdmProfileTables &
  AppleProfileTables &
  AppleScepTables &
  AppleDepTables &
  AppleAdeTables &
  AppleBootstrapTables &
  SsoTables &
  AndroidTables &
  SoftwareTables &
  CertificateTables &
  ImportTables &
  FleetVariableTables &
  AppleFactsTables &
  CertificateAuthorityTables &
  WindowsPushTables &
  WindowsProfileTables;
