import { createHash } from 'node:crypto';
import type { AmapiDevice } from '../../clients/amapi/types.js';

/**
 * What Flotilla reads from an AMAPI Device (ENROLLMENT and STATUS_REPORT notifications): the host's
 * identity and vitals, and the device's policy state. Pure functions; AMAPI sends int64 fields as
 * JSON strings, which are converted here.
 */

/** A Device refused as it stands (Pub/Sub acks it: retrying the same message cannot help). */
export class UnusableDevice extends Error {}

/** `enterprises/{e}/devices/{d}` split into its IDs; undefined for any other shape. */
export function parseDeviceName(name: unknown): { enterpriseId: string; deviceId: string } | undefined {
  if (typeof name !== 'string') return undefined;
  const m = /^enterprises\/([^/]+)\/devices\/([^/]+)$/.exec(name);
  return m ? { enterpriseId: m[1], deviceId: m[2] } : undefined;
}

/** Whether AMAPI says the device left management (work profile removed, device deleted). */
export function isDeleted(d: AmapiDevice): boolean {
  return [d.state, d.appliedState].some((s) => typeof s === 'string' && s.toUpperCase() === 'DELETED');
}

/**
 * The host's UUID: the per-enterprise `enterpriseSpecificId` (also present on work-profile
 * devices), else SHA-256 hex of `brand:serialNumber` (older work profiles, some company-owned
 * devices). Stable across unenroll / re-enroll in the same enterprise.
 */
export function hostUuidOf(hw: NonNullable<AmapiDevice['hardwareInfo']>): string {
  if (hw.enterpriseSpecificId) return hw.enterpriseSpecificId;
  return createHash('sha256')
    .update(`${hw.brand ?? ''}:${hw.serialNumber ?? ''}`)
    .digest('hex');
}

/** Each word with its first letter upper case and the rest lower case ("SAMSUNG" → "Samsung"). */
export function titleCase(s: string): string {
  return s
    .toLowerCase()
    .replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

/** The host's name: the Title-cased brand and the model ("Samsung SM-G991B"). */
export function displayNameOf(hw: NonNullable<AmapiDevice['hardwareInfo']>): string {
  return `${titleCase(hw.brand ?? '')} ${hw.model ?? ''}`.trim();
}

/** An int64 AMAPI field (string or number) as a number; undefined when absent or not a number. */
export function int64(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return undefined;
}

/** A Google RFC 3339 time (any fraction, `Z` or offset) as a Date; undefined when unreadable. */
export function googleTime(v: unknown): Date | undefined {
  if (typeof v !== 'string' || !v) return undefined;
  // Date reads at most milliseconds reliably; Google sends up to nanoseconds.
  const trimmed = v.replace(/(\.\d{3})\d+/, '$1');
  const d = new Date(trimmed);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const GiB = 1024 * 1024 * 1024;

/**
 * Storage figures from `memoryInfo.totalInternalStorage` and the newest memory events: total =
 * internal + the newest detected external storage; available = the newest internal plus external
 * measurements. A device with no measurement reports total only (available -1, "not supported",
 * as Fleet shows it). Undefined when the device reports no internal storage size.
 */
export function storageOf(
  d: AmapiDevice,
): { gigsTotal: number; gigsAvailable: number; percentAvailable: number } | undefined {
  const internal = int64(d.memoryInfo?.totalInternalStorage);
  if (!internal || internal <= 0) return undefined;
  const newest = new Map<string, { at: number; bytes: number }>();
  for (const e of d.memoryEvents ?? []) {
    const at = googleTime(e.createTime)?.getTime();
    const bytes = int64(e.byteCount);
    if (at === undefined || bytes === undefined || !e.eventType) continue;
    const prev = newest.get(e.eventType);
    if (!prev || at > prev.at) newest.set(e.eventType, { at, bytes });
  }
  const total = internal + Math.max(0, newest.get('EXTERNAL_STORAGE_DETECTED')?.bytes ?? 0);
  const internalFree = newest.get('INTERNAL_STORAGE_MEASURED');
  const externalFree = newest.get('EXTERNAL_STORAGE_MEASURED');
  if (!internalFree && !externalFree)
    return { gigsTotal: total / GiB, gigsAvailable: -1, percentAvailable: -1 };
  const free = (internalFree?.bytes ?? 0) + (externalFree?.bytes ?? 0);
  return { gigsTotal: total / GiB, gigsAvailable: free / GiB, percentAvailable: (free / total) * 100 };
}

/** `enrollmentTokenData` as Flotilla writes it at token creation: `{"EnrollSecret": …, "IdpUUID": …}`. */
export function enrollmentTokenData(d: AmapiDevice): { enrollSecret: string; idpUuid: string } {
  let parsed: unknown;
  try {
    parsed = typeof d.enrollmentTokenData === 'string' ? JSON.parse(d.enrollmentTokenData) : undefined;
  } catch {
    parsed = undefined;
  }
  const o = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
  return {
    enrollSecret: typeof o.EnrollSecret === 'string' ? o.EnrollSecret : '',
    idpUuid: typeof o.IdpUUID === 'string' ? o.IdpUUID : '',
  };
}

/** The host columns a Device sets (identity, names, OS, hardware, memory, storage, report time). */
export interface DeviceHostFields {
  uuid: string;
  hostname: string;
  computer_name: string;
  hardware_serial: string;
  hardware_model: string;
  hardware_vendor: string;
  cpu_type: string;
  os_version: string;
  build: string;
  memory: number;
  gigs_total_disk_space: number | null;
  gigs_disk_space_available: number | null;
  percent_disk_space_available: number | null;
  /** The device's `lastStatusReportTime`; undefined when it reports none (the stored one is kept). */
  detail_updated_at: Date | undefined;
}

/** An installed app as the software inventory keeps it. */
export interface InstalledApp {
  name: string;
  version: string;
  bundleIdentifier: string;
}

/** Everything a usable Device gives: its IDs, the host's fields, its policy state and its apps. */
export interface DeviceFacts {
  deviceName: string;
  enterpriseId: string;
  deviceId: string;
  isPersonal: boolean;
  host: DeviceHostFields;
  /** Last segment of `appliedPolicyName` (null when the device reports none). */
  appliedPolicyId: string | null;
  appliedPolicyVersion: number | null;
  lastPolicySyncTime: Date | undefined;
  lastStatusReportTime: Date | undefined;
  /** Installed apps, or undefined when the device sent no application reports (inventory kept). */
  apps: InstalledApp[] | undefined;
}

const cut = (s: unknown, n: number) => (typeof s === 'string' ? [...s].slice(0, n).join('') : '');

/**
 * Reads a Device Flotilla can map to a host; throws UnusableDevice naming what is missing. Like
 * Fleet it needs hardwareInfo (identity), softwareInfo and memoryInfo (the status-reporting
 * settings the default policy turns on), and an identity: an enterpriseSpecificId or a serial.
 */
export function deviceFacts(d: AmapiDevice): DeviceFacts {
  const ids = parseDeviceName(d.name);
  if (!ids) throw new UnusableDevice('the device name is not enterprises/{id}/devices/{id}');
  const hw = d.hardwareInfo;
  if (!hw || typeof hw !== 'object') throw new UnusableDevice('the device has no hardwareInfo');
  if (!d.softwareInfo || typeof d.softwareInfo !== 'object')
    throw new UnusableDevice('the device has no softwareInfo (are statusReportingSettings on?)');
  if (!d.memoryInfo || typeof d.memoryInfo !== 'object')
    throw new UnusableDevice('the device has no memoryInfo');
  if (!hw.enterpriseSpecificId && !hw.serialNumber)
    throw new UnusableDevice('the device has neither an enterpriseSpecificId nor a serial number');
  // The columns that keep them (android_devices) are 64 characters wide.
  if (String(hw.enterpriseSpecificId ?? '').length > 64 || ids.deviceId.length > 64)
    throw new UnusableDevice('the device ID or enterpriseSpecificId is longer than 64 characters');
  const name = displayNameOf(hw);
  const storage = storageOf(d);
  const policy = typeof d.appliedPolicyName === 'string' ? d.appliedPolicyName.split('/') : [];
  const apps = Array.isArray(d.applicationReports)
    ? d.applicationReports
        .filter((a) => a && a.state === 'INSTALLED' && typeof a.packageName === 'string' && a.packageName)
        .map((a) => ({
          // Fleet's software column limits (name 255, version 255, bundle identifier 255).
          name: cut(a.displayName || a.packageName, 255),
          version: cut(a.versionName, 255),
          bundleIdentifier: cut(a.packageName, 255),
        }))
    : undefined;
  return {
    deviceName: d.name,
    enterpriseId: ids.enterpriseId,
    deviceId: ids.deviceId,
    isPersonal: d.ownership === 'PERSONALLY_OWNED',
    host: {
      uuid: hostUuidOf(hw),
      hostname: cut(name, 255),
      computer_name: cut(name, 255),
      hardware_serial: cut(hw.serialNumber, 255),
      hardware_model: cut(hw.model, 255),
      hardware_vendor: cut(hw.brand, 255),
      cpu_type: cut(hw.hardware, 255),
      os_version: cut(`Android ${d.softwareInfo.androidVersion ?? ''}`.trim(), 255),
      build: cut(d.softwareInfo.androidBuildNumber, 255),
      memory: int64(d.memoryInfo.totalRam) ?? 0,
      gigs_total_disk_space: storage?.gigsTotal ?? null,
      gigs_disk_space_available: storage?.gigsAvailable ?? null,
      percent_disk_space_available: storage?.percentAvailable ?? null,
      detail_updated_at: googleTime(d.lastStatusReportTime),
    },
    appliedPolicyId: policy.length === 4 && policy[3] ? policy[3] : null,
    appliedPolicyVersion: int64(d.appliedPolicyVersion) ?? null,
    lastPolicySyncTime: googleTime(d.lastPolicySyncTime),
    lastStatusReportTime: googleTime(d.lastStatusReportTime),
    apps,
  };
}
