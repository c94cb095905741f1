import { createHash } from 'node:crypto';
import { invalid } from '../../http/errors.js';
import { reservedNames } from '../../mdm/profiles/reservedNames.js';

/**
 * Upload validation of Android configuration profiles: a profile is a fragment of an AMAPI Policy,
 * a JSON object whose top-level keys are Policy fields (`cameraDisabled`, `passwordPolicies`, …).
 * Each host's profiles are merged into its own policy, so the fields the server sets itself, and
 * the Policy's own resource fields, are refused at upload.
 */

export interface ParsedAndroidProfile {
  name: string;
  /** The JSON as uploaded (downloaded back byte for byte). */
  rawJson: string;
  /** MD5 hex of the JSON, like the other platforms' checksums. */
  checksum: string;
}

const MANAGED_BY_SERVER =
  'The server sets it on every host (status reports feed host vitals and profile verification).';
const SOFTWARE = 'Software management is coming soon.';
const RESOURCE_FIELD = "It's the policy resource's own field, set by Google.";

/** Top-level Policy fields a profile may not set, and why (shown in the 422). */
export const refusedPolicyKeys: ReadonlyMap<string, string> = new Map([
  ['statusReportingSettings', MANAGED_BY_SERVER],
  ['applications', SOFTWARE],
  ['playStoreMode', SOFTWARE],
  ['appFunctions', SOFTWARE],
  ['installAppsDisabled', SOFTWARE],
  ['uninstallAppsDisabled', SOFTWARE],
  ['name', RESOURCE_FIELD],
  ['version', RESOURCE_FIELD],
]);

const fail = (reason: string) => invalid(reason, 'profile');

/** Keys of an AMAPI Policy: letters only, starting lower case (camelCase JSON field names). */
const POLICY_KEY = /^[a-z][A-Za-z]*$/;

export const md5Hex = (s: string) => createHash('md5').update(s).digest('hex');

/** Validates an upload named `name` (its file name without extension). Throws the 422. */
export function parseAndroidProfile(name: string, bytes: Buffer): ParsedAndroidProfile {
  const rawJson = bytes.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(rawJson);
  } catch {
    throw fail("Couldn't add. The file should include valid JSON.");
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw fail("Couldn't add. Android configuration profile should be a JSON object.");
  }
  const keys = Object.keys(doc);
  if (keys.length === 0) throw fail("Couldn't add. Android configuration profile can't be empty.");
  if (!keys.every((k) => POLICY_KEY.test(k))) {
    throw fail(
      "Couldn't add. Keys in declaration (DDM) profile must contain only letters and start with a uppercase letter. Keys in Android profile must contain only letters and start with a lowercase letter.",
    );
  }
  for (const k of keys) {
    const why = refusedPolicyKeys.get(k);
    if (why) throw fail(`Android configuration profile can't include "${k}" setting. ${why}`);
  }
  const trimmed = name.trim();
  if (!trimmed) throw fail("Couldn't add. The file name must not be empty.");
  if (reservedNames.has(trimmed)) throw fail(`Couldn't add. ${trimmed} is a reserved name.`);
  return { name: trimmed, rawJson, checksum: md5Hex(rawJson) };
}
