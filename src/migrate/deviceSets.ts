import { platformFromProductName } from '../apple/checkin/messages.js';
import { parsePlistDict, type PlistValue } from '../apple/plist/parse.js';
import type {
  ImportedAssociation,
  ImportedDevice,
  ImportedDeviceSet,
  ImportedEnrollment,
  ImportedHost,
  ImportedUser,
} from './model.js';
import { identityFacts } from './sourceDb.js';

/** Device-channel enrollment types that make a host (as the lifecycle's turn-on does). */
const hostTypes = new Set(['Device', 'User Enrollment (Device)']);
const osName: Record<string, string> = { darwin: 'macOS', ios: 'iOS', ipados: 'iPadOS' };

function str(v: PlistValue | undefined): string {
  return typeof v === 'string' ? v : '';
}

/** A host as the first TokenUpdate would have made it, from the stored Authenticate message. */
export function hostFromAuthenticate(d: ImportedDevice, personal: boolean): ImportedHost {
  let auth: Record<string, PlistValue> = {};
  try {
    auth = parsePlistDict(d.authenticate);
  } catch {
    // An unreadable message only costs the vitals.
  }
  const platform = platformFromProductName(str(auth.ProductName) || undefined);
  const version = str(auth.OSVersion);
  return {
    hardwareSerial: d.serialNumber ?? '',
    platform,
    hostname: str(auth.DeviceName),
    computerName: str(auth.DeviceName),
    hardwareModel: platform === 'darwin' ? str(auth.Model) || str(auth.ProductName) : str(auth.ProductName),
    osVersion: version ? `${osName[platform]} ${version}` : '',
    teamName: null,
    installedFromDep: false,
    personal,
    labels: [],
    profiles: [],
    declarations: [],
  };
}

/**
 * Groups a batch's rows by device. Associations get the identity certificate's expiry when the
 * source does not keep it; the device's enabled device-channel enrollment decides whether it has a
 * host, made by `host` (the source's own host row, or one built from the Authenticate message).
 */
export function groupDeviceSets(
  devices: ImportedDevice[],
  users: ImportedUser[],
  enrollments: ImportedEnrollment[],
  associations: ImportedAssociation[],
  host: (d: ImportedDevice, personal: boolean) => ImportedHost | undefined,
): ImportedDeviceSet[] {
  const sets = new Map<string, ImportedDeviceSet>(
    devices.map((device) => [device.id, { device, users: [], enrollments: [], associations: [] }]),
  );
  for (const u of users) sets.get(u.deviceId)?.users.push(u);
  for (const e of enrollments) sets.get(e.deviceId)?.enrollments.push(e);
  for (const a of associations) {
    const set = sets.get(a.id);
    if (!set) continue;
    const facts = identityFacts(set.device.identityCertPem);
    set.associations.push({
      ...a,
      notValidAfter: a.notValidAfter ?? (facts && facts.sha256 === a.sha256 ? facts.notAfter : null),
    });
  }
  for (const set of sets.values()) {
    const channel = set.enrollments.find((e) => e.id === set.device.id && hostTypes.has(e.type) && e.enabled);
    if (channel) set.host = host(set.device, channel.type === 'User Enrollment (Device)');
  }
  return [...sets.values()];
}
