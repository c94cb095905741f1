/**
 * fleetd and the server tell each other what they support in the `X-Fleet-Capabilities` header: a
 * comma-separated list of Fleet's capability names.
 */
export const capabilitiesHeader = 'x-fleet-capabilities';

/**
 * What Flotilla advertises to orbit (on enroll, ping and every authenticated orbit answer). Fleet's
 * own list also names `linux_disk_encryption_escrow`, `luks_recovery_key_escrow`,
 * `setup_experience`, `web_setup_experience` and `macos_web_setup_experience`; they are left out on
 * purpose: orbit acts on them by calling endpoints Flotilla does not serve yet (`/orbit/luks_data`,
 * `/orbit/setup_experience/init` and `/status`), so advertising them would make fleetd call 404s.
 * Add each one back with its endpoint.
 */
export const serverOrbitCapabilities: readonly string[] = [
  'orbit_endpoints',
  'token_rotation',
  'end_user_email',
  'escrow_buddy',
];

/**
 * What the device endpoints advertise to Fleet Desktop: nothing, as in Fleet unless its
 * `error_reporting` switch is on (Flotilla does not take fleetd error reports).
 */
export const serverDeviceCapabilities: readonly string[] = [];

/** The header value for a list; undefined for an empty one (Fleet then sends no header). */
export function capabilitiesValue(list: readonly string[]): string | undefined {
  return list.length ? list.join(',') : undefined;
}

/** The capabilities a client sent: names split on commas, blanks dropped. */
export function parseCapabilities(header: string | string[] | undefined): ReadonlySet<string> {
  const raw = Array.isArray(header) ? header.join(',') : (header ?? '');
  const out = new Set<string>();
  for (const part of raw.split(',')) {
    const name = part.trim();
    if (name) out.add(name);
  }
  return out;
}
