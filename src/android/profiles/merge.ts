import type { AmapiPolicy } from '../../clients/amapi/types.js';

/** One profile as the merge takes it: its UUID, name and Policy fragment. */
export interface MergeInput {
  uuid: string;
  name: string;
  policy: AmapiPolicy;
}

export interface MergedPolicy {
  /** The merged Policy fragment, without the fields the server overlays. */
  policy: AmapiPolicy;
  /** Each top-level key and the profile whose value is in the policy. */
  settingsOrigin: Record<string, string>;
  /** Profiles none of whose keys made it into the policy: a later profile set them all. */
  overridden: string[];
}

/** The status-report switches every host's policy turns on (vitals and profile verification read them). */
export const statusReportingSettings = {
  applicationReportsEnabled: true,
  commonCriteriaModeEnabled: true,
  deviceSettingsEnabled: true,
  displayInfoEnabled: true,
  hardwareStatusEnabled: true,
  memoryInfoEnabled: true,
  networkInfoEnabled: true,
  powerManagementEventsEnabled: true,
  softwareInfoEnabled: true,
  systemPropertiesEnabled: true,
} as const;

/** Byte order, not locale order: the same names sort the same on every server. */
const byName = (a: MergeInput, b: MergeInput) =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0;

/**
 * Merges a host's profiles into one Policy: by name ascending, top-level key by key, a later
 * profile's value replacing an earlier one's whole (no deep merge: AMAPI fields are units, e.g.
 * `passwordPolicies` is one list).
 */
export function mergeProfiles(profiles: MergeInput[]): MergedPolicy {
  const sorted = [...profiles].sort(byName);
  const policy: AmapiPolicy = {};
  const settingsOrigin: Record<string, string> = {};
  for (const p of sorted) {
    for (const [k, v] of Object.entries(p.policy)) {
      policy[k] = v;
      settingsOrigin[k] = p.uuid;
    }
  }
  const winners = new Set(Object.values(settingsOrigin));
  const overridden = sorted
    .filter((p) => Object.keys(p.policy).length > 0 && !winners.has(p.uuid))
    .map((p) => p.uuid);
  return { policy, settingsOrigin, overridden };
}

/** The policy a host is sent: the merged profiles with the server's fields on top. */
export function hostPolicy(merged: MergedPolicy): AmapiPolicy {
  return { ...merged.policy, statusReportingSettings: { ...statusReportingSettings } };
}
