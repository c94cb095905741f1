import type { HostMdmRow, HostRow } from '../../hosts/store.js';

/**
 * Who may be asked to enroll, unenroll or migrate, as Fleet decides it for orbit's config
 * notifications and Fleet Desktop. Pure functions of the host, its host_mdm row and whether it is
 * connected to Flotilla's own MDM (that last one costs a query, so callers pass it lazily).
 */

/** The MDM name Fleet gives hosts enrolled in its own MDM. */
export const fleetMdmName = 'Fleet';

type Host = Pick<HostRow, 'platform' | 'osquery_host_id' | 'os_version'>;

/** Fleet calls a host osquery-enrolled once it has an osquery identifier (orbit enroll sets it). */
export function isOsqueryEnrolled(host: Pick<HostRow, 'osquery_host_id'>): boolean {
  return Boolean(host.osquery_host_id);
}

/**
 * The host's ADE state as the DEP sync recorded it: `assigned` = ABM assigns it to this server
 * (a live host_dep_assignments row), `profileAssigned` = Apple accepted our ADE profile for it.
 */
export interface DepState {
  assigned: boolean;
  profileAssigned: boolean;
}

/** Reads a host's DepState (the ADE area implements it). */
export interface DepAssignments {
  depState(hostId: number): Promise<DepState>;
}

/**
 * `renew_enrollment_profile`: a Mac ABM assigns to this server that osquery sees but that is not
 * MDM-enrolled; orbit then runs `profiles renew -type enrollment` to bring up the ADE prompt.
 */
export function needsEnrollmentProfileRenewal(
  host: Host,
  mdm: HostMdmRow | undefined,
  dep: DepState,
): boolean {
  return host.platform === 'darwin' && isOsqueryEnrolled(host) && !mdm?.enrolled && dep.assigned;
}

/**
 * Fleet's version test for manual migration: the OS version reads `macOS <semver>` and the version
 * is strictly greater than 14.0.0 (so 14.1 qualifies, 14.0 does not: Fleet's comparison, kept
 * as is). Anything unparsable is not eligible.
 */
export function isMacOsVersionOkForManualMigration(osVersion: string): boolean {
  const parts = osVersion.split(' ');
  if (parts.length < 2 || parts[0] !== 'macOS') return false;
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(parts[1]);
  if (!m) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
  if (major !== 14) return major > 14;
  if (minor !== 0 || patch !== 0) return true;
  return false; // 14.0.0 (or a 14.0.0 pre-release) is not greater than 14.0.0
}

/**
 * A Mac enrolled by hand in another MDM that may move to Flotilla: recent macOS, osquery-enrolled,
 * not from ADE, MDM-enrolled, and either not connected to Flotilla's MDM or reported under
 * another MDM's name.
 */
export async function isEligibleForManualMigration(
  host: Host,
  mdm: HostMdmRow | undefined,
  dep: DepState,
  connectedToFleet: () => Promise<boolean>,
): Promise<boolean> {
  if (!isMacOsVersionOkForManualMigration(host.os_version)) return false;
  if (!isOsqueryEnrolled(host) || dep.assigned) return false;
  if (!mdm || mdm.installed_from_dep || dep.profileAssigned || !mdm.enrolled) return false;
  return mdm.mdm_name !== fleetMdmName || !(await connectedToFleet());
}

/**
 * ADE migration: a Mac ABM assigns to this server, with our ADE profile accepted by Apple, still
 * enrolled in another MDM (or not connected to ours).
 */
export async function isEligibleForDepMigration(
  host: Host,
  mdm: HostMdmRow | undefined,
  dep: DepState,
  connectedToFleet: () => Promise<boolean>,
): Promise<boolean> {
  if (!isOsqueryEnrolled(host) || !dep.assigned || !dep.profileAssigned || !mdm?.enrolled) return false;
  return mdm.mdm_name !== fleetMdmName || !(await connectedToFleet());
}

/** A Windows host orbit should enroll in Flotilla's MDM: not a server and not MDM-enrolled. */
export function isEligibleForWindowsEnrollment(host: Host, mdm: HostMdmRow | undefined): boolean {
  return (
    host.platform === 'windows' && isOsqueryEnrolled(host) && (!mdm || (!mdm.is_server && !mdm.enrolled))
  );
}

/** A Windows host enrolled in another MDM (not a server) that may move to Flotilla's. */
export function isEligibleForWindowsMigration(host: Host, mdm: HostMdmRow | undefined): boolean {
  return (
    host.platform === 'windows' &&
    isOsqueryEnrolled(host) &&
    Boolean(mdm) &&
    !mdm!.is_server &&
    mdm!.enrolled &&
    mdm!.mdm_name !== fleetMdmName
  );
}

/** A Windows host still connected to Flotilla's MDM (asked to unenroll when Windows MDM is off). */
export async function isEligibleForWindowsUnenrollment(
  host: Host,
  mdm: HostMdmRow | undefined,
  connectedToFleet: () => Promise<boolean>,
): Promise<boolean> {
  // Connected implies host_mdm says enrolled, so the query is skipped for the others.
  if (host.platform !== 'windows' || !isOsqueryEnrolled(host) || !mdm?.enrolled) return false;
  return connectedToFleet();
}
