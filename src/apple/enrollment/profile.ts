import { build as buildPlist, type PlistValue } from 'plist';

/**
 * The manual enrollment profile (.mobileconfig): a SCEP payload that gets the device its identity
 * certificate and an MDM payload that points at our check-in URL. Identifiers and UUIDs are Fleet's
 * constants: a device replaces an installed profile only when they match (renewals rely on it).
 */
export const EnrollmentIds = {
  profileIdentifier: 'com.fleetdm.fleet.mdm.apple',
  profileUuid: '5ACABE91-CE30-4C05-93E3-B235C152404E',
  scepIdentifier: 'com.fleetdm.fleet.mdm.apple.scep',
  scepUuid: 'BCA53F9D-5DD2-494D-98D3-0D0F20FF6BA1',
  mdmIdentifier: 'com.fleetdm.fleet.mdm.apple.mdm',
  mdmUuid: '29713130-1602-4D27-90C9-B822A295E44E',
} as const;

/** All 13 AccessRights bits. */
export const allAccessRights = 8191;

export interface EnrollmentProfileInput {
  /** Public server URL without a trailing slash. */
  serverUrl: string;
  scepChallenge: string;
  /** APNs topic (UID of the push certificate). */
  topic: string;
  orgName: string;
  /** Renewal profiles leave out the OU that marks a fresh enrollment. */
  renewal?: boolean;
  /** The end user's IdP account (ADE with end-user authentication): `?enroll_reference=` on ServerURL. */
  enrollReference?: string;
}

export function enrollmentProfileObject(input: EnrollmentProfileInput): Record<string, unknown> {
  const base = input.serverUrl.replace(/\/+$/, '');
  const org = input.orgName || 'Flotilla';
  const subject: [string, string][][] = [[['O', 'Fleet']]];
  if (!input.renewal) subject.push([['OU', 'Fleet Device Enrollment']]);
  subject.push([['CN', 'Fleet Identity']]);
  return {
    PayloadContent: [
      {
        PayloadContent: {
          URL: `${base}/mdm/apple/scep`,
          Challenge: input.scepChallenge,
          'Key Type': 'RSA',
          Keysize: 2048,
          'Key Usage': 5,
          Subject: subject,
        },
        PayloadDescription: 'Configures SCEP enrollment',
        PayloadDisplayName: `${org} SCEP`,
        PayloadIdentifier: EnrollmentIds.scepIdentifier,
        PayloadType: 'com.apple.security.scep',
        PayloadUUID: EnrollmentIds.scepUuid,
        PayloadVersion: 1,
      },
      {
        AccessRights: allAccessRights,
        CheckOutWhenRemoved: true,
        IdentityCertificateUUID: EnrollmentIds.scepUuid,
        PayloadDescription: 'Enrolls with the MDM server',
        PayloadDisplayName: `${org} MDM`,
        PayloadIdentifier: EnrollmentIds.mdmIdentifier,
        PayloadType: 'com.apple.mdm',
        PayloadUUID: EnrollmentIds.mdmUuid,
        PayloadVersion: 1,
        ServerCapabilities: ['com.apple.mdm.per-user-connections', 'com.apple.mdm.bootstraptoken'],
        ServerURL: `${base}/mdm/apple/mdm${input.enrollReference ? `?enroll_reference=${encodeURIComponent(input.enrollReference)}` : ''}`,
        SignMessage: true,
        Topic: input.topic,
      },
    ],
    PayloadDisplayName: `${org} enrollment`,
    PayloadIdentifier: EnrollmentIds.profileIdentifier,
    PayloadOrganization: org,
    PayloadScope: 'System',
    PayloadType: 'Configuration',
    PayloadUUID: EnrollmentIds.profileUuid,
    PayloadVersion: 1,
  };
}

/** The unsigned profile as plist XML bytes. */
export function buildEnrollmentProfile(input: EnrollmentProfileInput): Buffer {
  return Buffer.from(buildPlist(enrollmentProfileObject(input) as PlistValue), 'utf8');
}
