import { boolOf, IngestError, type Row } from './hostUpdate.js';

/** The MDM state a host reports about itself, as host_mdm records it. */
export interface ReportedMdm {
  enrolled: boolean;
  server_url: string;
  installed_from_dep: boolean;
  mdm_name: string;
  fleet_enroll_ref: string;
  is_server: boolean;
}

/** Fleet's name for its own MDM; Flotilla reports itself under it, as Fleet clients expect. */
export const fleetMdmName = 'Fleet';

/**
 * Fleet's well-known MDM solutions, guessed from a word in the server URL (Fleet's
 * MDMNameFromServerURL), checked in this fixed order; unknown solutions get ''.
 */
const knownMdmByUrl: [string, string][] = [
  ['kandji', 'Kandji'],
  ['jamf', 'Jamf'],
  ['jumpcloud', 'JumpCloud'],
  ['airwatch', 'VMware Workspace ONE'],
  ['awmdm', 'VMware Workspace ONE'],
  ['microsoft', 'Intune'],
  ['simplemdm', 'SimpleMDM'],
  ['fleetdm', fleetMdmName],
];

export function mdmNameFromServerUrl(serverUrl: string): string {
  const url = serverUrl.toLowerCase();
  return knownMdmByUrl.find(([word]) => url.includes(word))?.[1] ?? '';
}

/** The URL without its query string (Fleet stores it so), and one query parameter of it. */
function splitUrl(raw: string): { base: string; param: (name: string) => string } {
  const q = raw.indexOf('?');
  const base = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1).split('#')[0]);
  return { base, param: (name) => params.get(name) ?? '' };
}

/**
 * The `mdm` table of fleetd on macOS. The solution is Fleet when the enrollment profile is ours
 * (its payload identifier); otherwise it is guessed from the server URL. For Fleet, the enrollment
 * reference (the IdP account the end user signed in with) comes from the URL's enroll_reference
 * (or enrollment_reference) parameter. Returns undefined when the table gave nothing.
 */
export function reportedAppleMdm(
  rows: Row[],
  ourPayloadIdentifiers: readonly string[],
): ReportedMdm | undefined {
  if (rows.length === 0) return undefined; // the extension table is not there
  const r = rows[0];
  if (!r.enrolled) throw new IngestError('mdm.enrolled is missing');
  const enrolled = boolOf(r.enrolled, 'mdm.enrolled');
  const installedFromDep = r.installed_from_dep
    ? boolOf(r.installed_from_dep, 'mdm.installed_from_dep')
    : false;
  const ours = ourPayloadIdentifiers.includes(r.payload_identifier ?? '');
  const name = ours ? fleetMdmName : mdmNameFromServerUrl(r.server_url ?? '');
  const url = splitUrl(r.server_url ?? '');
  const enrollRef =
    name === fleetMdmName ? url.param('enroll_reference') || url.param('enrollment_reference') : '';
  return {
    enrolled,
    server_url: url.base,
    installed_from_dep: installedFromDep,
    mdm_name: name,
    fleet_enroll_ref: enrollRef.slice(0, 36),
    is_server: false,
  };
}

/**
 * The `mdm_windows` registry query. Enrolled when a discovery URL is present; automatic (Entra)
 * when an AAD resource id is too, unless our own enrollment record says the user enrolled from
 * Settings (`notInOobe`). Fleet when `isOurs` says the provider id or the discovery URL is ours.
 * No rows means no MDM at all; more than one is not what the query gives (undefined).
 */
export function reportedWindowsMdm(
  rows: Row[],
  isOurs: (providerId: string, discoveryUrl: string) => boolean,
  notInOobe: boolean | undefined,
): ReportedMdm | undefined {
  const none = {
    enrolled: false,
    server_url: '',
    installed_from_dep: false,
    mdm_name: '',
    fleet_enroll_ref: '',
    is_server: false,
  };
  if (rows.length === 0) return none;
  if (rows.length > 1) return undefined;
  const r = rows[0];
  const discoveryUrl = r.discovery_service_url ?? '';
  const enrolled = discoveryUrl !== '';
  const automatic = enrolled && (r.aad_resource_id ?? '') !== '' && notInOobe !== true;
  let name = '';
  if (enrolled) {
    name = isOurs(r.provider_id ?? '', discoveryUrl) ? fleetMdmName : mdmNameFromServerUrl(discoveryUrl);
  }
  return {
    ...none,
    enrolled,
    server_url: discoveryUrl,
    installed_from_dep: automatic,
    mdm_name: name,
    is_server: (r.installation_type ?? '').toLowerCase().includes('server'),
  };
}

/**
 * Fleet clears a host's critical-queries window once the host shows it has left its previous
 * (non-Fleet) MDM: macOS reports not enrolled from an ADE enrollment, Windows not enrolled at all.
 */
export function leftOtherMdm(platform: 'darwin' | 'windows', m: ReportedMdm): boolean {
  if (m.enrolled || m.mdm_name === fleetMdmName) return false;
  return platform === 'windows' || m.installed_from_dep;
}
