/**
 * Shapes and filter values of the host lists and the dashboard's summaries, taken from the
 * server's own types (type-only imports: nothing of the server reaches the bundle). The value
 * lists are written out here because the server's live in its store, and `satisfies` makes the
 * type check fail when the server's list changes.
 */
import type { HostService } from '../../../hosts/service.js';
import type {
  DiskEncryptionStatus,
  HostStatusFilter,
  MdmEnrollmentFilter,
  OsSettingsStatus,
  hostOrderKeys,
} from '../../../hosts/store.js';
import type { StatusCounts, HostProfileJson } from '../../../mdm/platform.js';
import type { DiskEncryptionSummary } from '../../../diskencryption/service.js';
import type { AbmTokenJson } from '../../../apple/dep/json.js';
import type { ApnsCertificateService } from '../../../apple/push/certificates.js';
import type { certificatesJson } from '../../../certs/json.js';
import type { HostListItem, Json } from './shapes.js';

export type { DiskEncryptionStatus, OsSettingsStatus };

/** `GET /hosts/summary/mdm`. */
export type MdmSummary = Json<Awaited<ReturnType<HostService['mdmSummary']>>>;
/** `GET /configuration_profiles/summary`: hosts per OS-settings status. */
export type ProfileSummary = StatusCounts;
/** `GET /mdm/disk_encryption/summary`: hosts per disk-encryption status and platform. */
export type DiskEncryptionCounts = DiskEncryptionSummary;
/** `GET /mdm/apple` (404 when Apple MDM has no APNs certificate). */
export type ApnsStatus = NonNullable<Awaited<ReturnType<ApnsCertificateService['status']>>>;
/** One of `GET /abm_tokens`. */
export type AbmToken = Json<AbmTokenJson>;
/** One of `certificates` in `GET /config`: each certificate's and token's expiry. */
export type CertificateExpiry = Json<ReturnType<typeof certificatesJson>>[number];
/** A profile in `mdm.profiles` of `GET /hosts/:id`. */
export type HostProfile = HostProfileJson;

export interface HostsResponse {
  hosts: HostListItem[];
}
export interface CountResponse {
  count: number;
}

/** The query parameters of `GET /hosts` the hosts page sets; its URL carries exactly these. */
export const hostListParams = [
  'query',
  'team_id',
  'platform',
  'mdm_enrollment_status',
  'os_settings',
  'os_settings_disk_encryption',
  'label_id',
  'status',
  'profile_uuid',
  'profile_status',
  'order_key',
  'order_direction',
  'page',
  'per_page',
] as const;
export type HostListParam = (typeof hostListParams)[number];

/** The params that narrow the list (the rest order and page it). */
export const hostFilterParams = hostListParams.filter(
  (p) => !['order_key', 'order_direction', 'page', 'per_page'].includes(p),
);

export const mdmEnrollmentValues = [
  ['manual', 'On (manual)'],
  ['automatic', 'On (automatic)'],
  ['personal', 'On (personal)'],
  ['enrolled', 'On (any)'],
  ['pending', 'Pending'],
  ['unenrolled', 'Off'],
] as const satisfies readonly (readonly [MdmEnrollmentFilter, string])[];

export const hostStatusValues = [
  ['online', 'Online'],
  ['offline', 'Offline'],
  ['new', 'New'],
  ['missing', 'Missing'],
] as const satisfies readonly (readonly [HostStatusFilter, string])[];

export const osSettingsValues = [
  ['verified', 'Verified'],
  ['verifying', 'Verifying'],
  ['pending', 'Pending'],
  ['failed', 'Failed'],
] as const satisfies readonly (readonly [OsSettingsStatus, string])[];

export const diskEncryptionValues = [
  ['verified', 'Verified'],
  ['verifying', 'Verifying'],
  ['action_required', 'Action required'],
  ['enforcing', 'Enforcing'],
  ['failed', 'Failed'],
  ['removing_enforcement', 'Removing enforcement'],
] as const satisfies readonly (readonly [DiskEncryptionStatus, string])[];

/** Platforms as hosts report them (the `platform` filter matches exactly). */
export const platformValues = [
  ['darwin', 'macOS'],
  ['windows', 'Windows'],
  ['ios', 'iOS'],
  ['ipados', 'iPadOS'],
  ['android', 'Android'],
  ['linux', 'Linux'],
  ['ubuntu', 'Ubuntu'],
  ['chrome', 'ChromeOS'],
] as const;

export function platformName(platform: string): string {
  return platformValues.find(([v]) => v === platform)?.[1] ?? platform;
}

/** `order_key` values the server sorts by. */
export type HostOrderKey = (typeof hostOrderKeys)[number];
