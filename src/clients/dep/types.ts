/** Apple DEP API shapes (ABM device assignment), field names as Apple sends them. */

export interface DepAccount {
  server_name: string;
  server_uuid: string;
  admin_id: string;
  facilitator_id?: string;
  org_name: string;
  org_email: string;
  org_phone: string;
  org_address: string;
  org_id?: string;
  org_id_hash?: string;
  org_type?: string;
  org_version?: string;
  urls?: { uri: string; http_method: string[]; limit?: { default: number; maximum: number } }[];
}

export type DepOpType = 'added' | 'modified' | 'deleted' | '';

export interface DepDevice {
  serial_number: string;
  model?: string;
  description?: string;
  color?: string;
  asset_tag?: string;
  os?: string;
  device_family?: string;
  profile_status?: string;
  profile_uuid?: string;
  profile_assign_time?: string;
  profile_push_time?: string;
  device_assigned_by?: string;
  device_assigned_date?: string;
  /** Only on sync; empty or absent on fetch. */
  op_type?: string;
  op_date?: string;
  /** Protocol version 8 and later: ABM scheduled a migration to this server. */
  mdm_migration_deadline?: string;
}

export interface DepDevicesPage {
  devices: DepDevice[];
  cursor: string;
  fetched_until?: string;
  more_to_follow: boolean;
}

export interface DepDeviceDetailsResponse {
  devices: Record<string, DepDevice & { response_status: string }>;
}

/** An ADE profile as defined with Apple (only the fields Flotilla sets are typed strictly). */
export interface DepProfile {
  profile_name: string;
  url: string;
  configuration_web_url?: string;
  is_supervised?: boolean;
  is_mandatory?: boolean;
  is_mdm_removable?: boolean;
  await_device_configured?: boolean;
  skip_setup_items?: string[];
  devices?: string[];
  [key: string]: unknown;
}

export interface DepProfileDefined {
  profile_uuid: string;
  devices?: Record<string, string>;
}

/** Per-serial result of an assignment: SUCCESS, NOT_ACCESSIBLE, FAILED or THROTTLED. */
export interface DepAssignResponse {
  profile_uuid: string;
  devices: Record<string, string>;
  retry_after_seconds?: number;
}
