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

/** Personal (BYOD) device enrollments are given neither lock (4) nor erase (8). */
export const personalAccessRights = allAccessRights & ~(4 | 8);

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
  /** A personal (BYOD) device enrollment: `byod=1` on ServerURL and no lock or erase rights. */
  personal?: boolean;
  /**
   * Account-driven User Enrollment: the user's Managed Apple Account. The MDM payload then has
   * `EnrollmentMode` BYOD and `AssignedManagedAppleID`, no AccessRights, and user scope.
   */
  managedAppleId?: string;
}

/** ServerURL: the MDM path and the query parameters the check-in reads (`enroll_reference`, `byod`). */
function mdmServerUrl(base: string, input: EnrollmentProfileInput): string {
  const query: string[] = [];
  if (input.enrollReference) query.push(`enroll_reference=${encodeURIComponent(input.enrollReference)}`);
  if (input.personal) query.push('byod=1');
  return `${base}/mdm/apple/mdm${query.length ? `?${query.join('&')}` : ''}`;
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
        ...(input.managedAppleId
          ? { AssignedManagedAppleID: input.managedAppleId, EnrollmentMode: 'BYOD' }
          : { AccessRights: input.personal ? personalAccessRights : allAccessRights }),
        CheckOutWhenRemoved: true,
        IdentityCertificateUUID: EnrollmentIds.scepUuid,
        PayloadDescription: 'Enrolls with the MDM server',
        PayloadDisplayName: `${org} MDM`,
        PayloadIdentifier: EnrollmentIds.mdmIdentifier,
        PayloadType: 'com.apple.mdm',
        PayloadUUID: EnrollmentIds.mdmUuid,
        PayloadVersion: 1,
        ServerCapabilities: ['com.apple.mdm.per-user-connections', 'com.apple.mdm.bootstraptoken'],
        ServerURL: mdmServerUrl(base, input),
        SignMessage: true,
        Topic: input.topic,
      },
    ],
    PayloadDisplayName: `${org} enrollment`,
    PayloadIdentifier: EnrollmentIds.profileIdentifier,
    PayloadOrganization: org,
    PayloadScope: input.managedAppleId ? 'User' : 'System',
    PayloadType: 'Configuration',
    PayloadUUID: EnrollmentIds.profileUuid,
    PayloadVersion: 1,
  };
}

/** The unsigned profile as plist XML bytes. */
export function buildEnrollmentProfile(input: EnrollmentProfileInput): Buffer {
  return Buffer.from(buildPlist(enrollmentProfileObject(input) as PlistValue), 'utf8');
}
