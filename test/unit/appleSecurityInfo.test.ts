import { describe, expect, it } from 'vitest';
import { parseSecurityInfo } from '../../src/apple/facts/securityInfo.js';

describe('parseSecurityInfo', () => {
  it('reads a Mac answer: FileVault, SIP, firewall, secure boot, management status', () => {
    expect(
      parseSecurityInfo({
        CommandUUID: 'X',
        Status: 'Acknowledged',
        SecurityInfo: {
          FDE_Enabled: true,
          FDE_HasPersonalRecoveryKey: true,
          FDE_PersonalRecoveryKeyCMS: Buffer.from('secret'),
          SystemIntegrityProtectionEnabled: false,
          FirewallSettings: {
            FirewallEnabled: true,
            BlockAllIncoming: false,
            StealthMode: true,
            Applications: [],
          },
          SecureBoot: { SecureBootLevel: 'full' },
          ManagementStatus: { EnrolledViaDEP: true, UserApprovedEnrollment: true, IsUserEnrollment: false },
          AuthenticatedRootVolumeEnabled: true,
        },
      }),
    ).toEqual({
      ok: true,
      facts: {
        fdeEnabled: true,
        fdeHasPersonalRecoveryKey: true,
        systemIntegrityProtectionEnabled: false,
        passcodePresent: undefined,
        passcodeCompliant: undefined,
        firewallEnabled: true,
        firewallBlockAllIncoming: false,
        firewallStealthMode: true,
        enrolledViaDep: true,
        userApprovedEnrollment: true,
        isUserEnrollment: false,
        secureBootLevel: 'full',
      },
    });
  });

  it('reads an iPhone answer: passcode and hardware encryption', () => {
    const got = parseSecurityInfo({
      SecurityInfo: { HardwareEncryptionCaps: 3, PasscodePresent: false, PasscodeCompliant: true },
    });
    expect(got).toMatchObject({
      ok: true,
      facts: { hardwareEncryptionCaps: 3, passcodePresent: false, passcodeCompliant: true },
    });
  });

  it('names every used key of the wrong type, and never a value', () => {
    expect(
      parseSecurityInfo({
        SecurityInfo: {
          FDE_Enabled: 'yes',
          HardwareEncryptionCaps: 1.5,
          FirewallSettings: { FirewallEnabled: 1 },
          ManagementStatus: 'DEP',
          SecureBoot: { SecureBootLevel: 7 },
          Unused: 'anything',
        },
      }),
    ).toEqual({
      ok: false,
      problems: [
        'FDE_Enabled',
        'HardwareEncryptionCaps',
        'FirewallSettings.FirewallEnabled',
        'ManagementStatus',
        'SecureBoot.SecureBootLevel',
      ],
    });
    expect(parseSecurityInfo({ Status: 'Acknowledged' })).toEqual({ ok: false, problems: ['SecurityInfo'] });
    expect(parseSecurityInfo({ SecurityInfo: ['not', 'a', 'dict'] })).toEqual({
      ok: false,
      problems: ['SecurityInfo'],
    });
  });
});
