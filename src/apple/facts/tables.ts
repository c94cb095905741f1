import type { Bool } from '../../db/schema.js';

/** The last SecurityInfo answer of an Apple MDM host (migration 0030); NULL = not reported. */
export interface HostAppleSecurityInfoTable {
  host_id: number;
  fde_enabled: Bool | null;
  fde_has_personal_recovery_key: Bool | null;
  system_integrity_protection_enabled: Bool | null;
  firewall_enabled: Bool | null;
  firewall_block_all_incoming: Bool | null;
  firewall_stealth_mode: Bool | null;
  enrolled_via_dep: Bool | null;
  user_approved_enrollment: Bool | null;
  is_user_enrollment: Bool | null;
  passcode_present: Bool | null;
  passcode_compliant: Bool | null;
  hardware_encryption_caps: number | null;
  secure_boot_level: string | null;
  fetched_at: string;
}

export interface AppleFactsTables {
  host_apple_security_info: HostAppleSecurityInfoTable;
}
