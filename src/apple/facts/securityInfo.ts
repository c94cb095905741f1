import type { PlistValue } from '../plist/parse.js';

/** What a `SecurityInfo` answer says, as we keep it; undefined = the device did not report it. */
export interface SecurityFacts {
  fdeEnabled?: boolean;
  fdeHasPersonalRecoveryKey?: boolean;
  systemIntegrityProtectionEnabled?: boolean;
  firewallEnabled?: boolean;
  firewallBlockAllIncoming?: boolean;
  firewallStealthMode?: boolean;
  enrolledViaDep?: boolean;
  userApprovedEnrollment?: boolean;
  isUserEnrollment?: boolean;
  passcodePresent?: boolean;
  passcodeCompliant?: boolean;
  hardwareEncryptionCaps?: number;
  secureBootLevel?: string;
}

export type ParsedSecurityInfo = { ok: true; facts: SecurityFacts } | { ok: false; problems: string[] };

type Dict = Record<string, PlistValue>;

function isDict(v: PlistValue | undefined): v is Dict {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date)
  );
}

/** The longest SecureBootLevel kept (Apple's values are `full`, `medium`, `off`, `not supported`). */
const SECURE_BOOT_LEVEL_MAX = 32;

/**
 * Reads the `SecurityInfo` dict of an acknowledged SecurityInfo report. Keys we do not use are
 * ignored; a key we use with the wrong type (or a missing or non-dict `SecurityInfo`) makes the whole
 * answer unusable, and `problems` names the offending keys (never their values: the same dict can
 * carry an encrypted FileVault recovery key).
 */
export function parseSecurityInfo(report: Record<string, PlistValue>): ParsedSecurityInfo {
  const info = report.SecurityInfo;
  if (!isDict(info)) return { ok: false, problems: ['SecurityInfo'] };
  const problems: string[] = [];
  const facts: SecurityFacts = {};

  const bool = (d: Dict, key: string, path: string): boolean | undefined => {
    const v = d[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      problems.push(path);
      return undefined;
    }
    return v;
  };
  const dict = (d: Dict, key: string): Dict | undefined => {
    const v = d[key];
    if (v === undefined) return undefined;
    if (!isDict(v)) {
      problems.push(key);
      return undefined;
    }
    return v;
  };

  facts.fdeEnabled = bool(info, 'FDE_Enabled', 'FDE_Enabled');
  facts.fdeHasPersonalRecoveryKey = bool(info, 'FDE_HasPersonalRecoveryKey', 'FDE_HasPersonalRecoveryKey');
  facts.systemIntegrityProtectionEnabled = bool(
    info,
    'SystemIntegrityProtectionEnabled',
    'SystemIntegrityProtectionEnabled',
  );
  facts.passcodePresent = bool(info, 'PasscodePresent', 'PasscodePresent');
  facts.passcodeCompliant = bool(info, 'PasscodeCompliant', 'PasscodeCompliant');

  const caps = info.HardwareEncryptionCaps;
  if (caps !== undefined) {
    if (typeof caps !== 'number' || !Number.isInteger(caps) || caps < 0 || caps > 0xffff)
      problems.push('HardwareEncryptionCaps');
    else facts.hardwareEncryptionCaps = caps;
  }

  const firewall = dict(info, 'FirewallSettings');
  if (firewall) {
    facts.firewallEnabled = bool(firewall, 'FirewallEnabled', 'FirewallSettings.FirewallEnabled');
    facts.firewallBlockAllIncoming = bool(firewall, 'BlockAllIncoming', 'FirewallSettings.BlockAllIncoming');
    facts.firewallStealthMode = bool(firewall, 'StealthMode', 'FirewallSettings.StealthMode');
  }

  const management = dict(info, 'ManagementStatus');
  if (management) {
    facts.enrolledViaDep = bool(management, 'EnrolledViaDEP', 'ManagementStatus.EnrolledViaDEP');
    facts.userApprovedEnrollment = bool(
      management,
      'UserApprovedEnrollment',
      'ManagementStatus.UserApprovedEnrollment',
    );
    facts.isUserEnrollment = bool(management, 'IsUserEnrollment', 'ManagementStatus.IsUserEnrollment');
  }

  const secureBoot = dict(info, 'SecureBoot');
  if (secureBoot) {
    const level = secureBoot.SecureBootLevel;
    if (level !== undefined) {
      if (typeof level !== 'string' || level.length > SECURE_BOOT_LEVEL_MAX)
        problems.push('SecureBoot.SecureBootLevel');
      else facts.secureBootLevel = level;
    }
  }

  if (problems.length) return { ok: false, problems };
  return { ok: true, facts };
}
