/**
 * Which platform a JSON upload is for, so Apple's DDM declarations and Android's policy fragments
 * (both `.json`) go to exactly one platform. Declarations use Apple's capitalised keys (`Type`,
 * `Identifier`, `Payload`); AMAPI policy fields are camelCase (`cameraDisabled`).
 *
 * - `declaration`: a JSON object whose keys all start with an upper-case letter;
 * - `android`: any other well-formed JSON (arrays, scalars, `{}`, mixed keys), which Android's
 *   validation then accepts or refuses with its own message;
 * - `invalid`: not JSON at all (Apple's declaration parser reports it, as before Android existed).
 */
export type JsonProfileKind = 'declaration' | 'android' | 'invalid';

export function jsonProfileKind(bytes: Buffer): JsonProfileKind {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'invalid';
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return 'android';
  const keys = Object.keys(doc);
  if (keys.length > 0 && keys.every((k) => /^[A-Z]/.test(k))) return 'declaration';
  return 'android';
}

/** Does the content start like JSON (an object or an array)? Cheap: no parse. */
export function looksLikeJson(bytes: Buffer): boolean {
  const head = bytes.subarray(0, 64).toString('utf8').trimStart();
  return head.startsWith('{') || head.startsWith('[');
}
