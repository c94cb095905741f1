/**
 * Fleet's variable names and how a profile's text refers to them: `$FLEET_VAR_<NAME>` or
 * `${FLEET_VAR_<NAME>}` for values the server fills per host, `$FLEET_SECRET_<NAME>` or
 * `${FLEET_SECRET_<NAME>}` for secrets stored through the secret API.
 */

/**
 * Fleet's variable names (without `$FLEET_VAR_`) as its `fleet_variables` table seeds them; prefix
 * forms (isPrefix) are followed by a certificate authority's name.
 */
export const fleetVariables: readonly { name: string; isPrefix: boolean }[] = [
  { name: 'NDES_SCEP_CHALLENGE', isPrefix: false },
  { name: 'NDES_SCEP_PROXY_URL', isPrefix: false },
  { name: 'HOST_END_USER_EMAIL_IDP', isPrefix: false },
  { name: 'HOST_HARDWARE_SERIAL', isPrefix: false },
  { name: 'HOST_END_USER_IDP_USERNAME', isPrefix: false },
  { name: 'HOST_END_USER_IDP_USERNAME_LOCAL_PART', isPrefix: false },
  { name: 'HOST_END_USER_IDP_GROUPS', isPrefix: false },
  { name: 'HOST_END_USER_IDP_DEPARTMENT', isPrefix: false },
  { name: 'HOST_END_USER_IDP_FULL_NAME', isPrefix: false },
  { name: 'HOST_UUID', isPrefix: false },
  { name: 'SCEP_RENEWAL_ID', isPrefix: false },
  { name: 'SCEP_WINDOWS_CERTIFICATE_ID', isPrefix: false },
  { name: 'DIGICERT_DATA_', isPrefix: true },
  { name: 'DIGICERT_PASSWORD_', isPrefix: true },
  { name: 'CUSTOM_SCEP_CHALLENGE_', isPrefix: true },
  { name: 'CUSTOM_SCEP_PROXY_URL_', isPrefix: true },
];

export const fleetVariablePrefix = 'FLEET_VAR_';
export const secretVariablePrefix = 'FLEET_SECRET_';

/** Names without the $FLEET_VAR_ / $FLEET_SECRET_ prefix, each once, in order of first use. */
export interface ProfileVariables {
  fleet: string[];
  secrets: string[];
}

/**
 * A reference to a variable, read whole: the name runs as long as word characters go, as Fleet
 * reads it (os.Expand rules), so `$FLEET_VAR_HOST_END_USER_IDP_USERNAME_LOCAL_PART` is one name and
 * never `..._USERNAME` followed by text. Group 1/2: the name of a `$X` / `${X}` reference.
 */
export const variableReference =
  /\$(?:(FLEET_VAR_\w+|FLEET_SECRET_\w+)|\{(FLEET_VAR_\w+|FLEET_SECRET_\w+)\})/g;

/** The kind and bare name of a matched reference (`FLEET_VAR_HOST_UUID` → fleet, `HOST_UUID`). */
export function splitReference(full: string): { kind: 'fleet' | 'secret'; name: string } {
  return full.startsWith(fleetVariablePrefix)
    ? { kind: 'fleet', name: full.slice(fleetVariablePrefix.length) }
    : { kind: 'secret', name: full.slice(secretVariablePrefix.length) };
}

/** Finds `$FLEET_VAR_X`, `${FLEET_VAR_X}`, `$FLEET_SECRET_X`, `${FLEET_SECRET_X}` in a profile's text. */
export function findProfileVariables(text: string): ProfileVariables {
  const fleet = new Set<string>();
  const secrets = new Set<string>();
  for (const m of text.matchAll(variableReference)) {
    const ref = splitReference(m[1] ?? m[2]);
    (ref.kind === 'fleet' ? fleet : secrets).add(ref.name);
  }
  return { fleet: [...fleet], secrets: [...secrets] };
}

/** Does the text refer to the secret `name` (either form)? */
export function usesSecret(text: string, name: string): boolean {
  return findProfileVariables(text).secrets.includes(name);
}

/**
 * The `fleet_variables` entry a name found in a profile stands for: the exact name, or the prefix
 * form it starts with (longest prefix first). Undefined for names Fleet does not define.
 */
export function fleetVariableEntry(name: string): { name: string; isPrefix: boolean } | undefined {
  const exact = fleetVariables.find((v) => !v.isPrefix && v.name === name);
  if (exact) return exact;
  return fleetVariables
    .filter((v) => v.isPrefix && name.startsWith(v.name) && name.length > v.name.length)
    .sort((a, b) => b.name.length - a.name.length)[0];
}
