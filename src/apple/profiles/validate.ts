import { createHash } from 'node:crypto';
import { parse as parsePlist } from 'plist';
import { cmsVerifyAttached } from '../../crypto/cms.js';
import { badRequest, invalid } from '../../http/errors.js';
import { reservedNames } from '../../mdm/profiles/reservedNames.js';

/**
 * Upload validation for configuration profiles and DDM declarations, with Fleet's messages where
 * it has them. Pure functions: bytes in, parsed facts out, or an HttpError.
 */

/** Payload types the server manages itself; custom profiles may not carry them. */
export const reservedPayloadTypes = new Map<string, string>([
  ['com.apple.MCX.FileVault2', 'FileVault'],
  ['com.apple.security.FDERecoveryKeyEscrow', 'FileVault'],
  ['com.apple.mdm', 'MDM enrollment'],
  ['com.apple.security.scep', 'SCEP'],
]);

/** PayloadIdentifiers of the profiles Fleet installs itself. */
export const reservedIdentifiers = new Set([
  'com.fleetdm.fleetd.config',
  'com.fleetdm.fleet.mdm.filevault',
  'com.fleetdm.caroot',
  'com.fleetdm.fleet.mdm.apple.mdm',
]);

/** Declaration types that are not configurations an admin may send (reserved or unsafe). */
export const forbiddenDeclarationTypes = new Set([
  'com.apple.configuration.legacy',
  'com.apple.configuration.legacy.interactive',
  'com.apple.configuration.management.server-capabilities',
  'com.apple.configuration.management.status-subscriptions',
  'com.apple.configuration.softwareupdate.enforcement.specific',
  'com.apple.configuration.screensharing.connection',
  'com.apple.configuration.screensharing.connection.group',
  'com.apple.configuration.security.passkey.attestation',
]);

export interface ParsedAppleProfile {
  kind: 'apple';
  identifier: string;
  name: string;
  scope: 'System' | 'User';
  payloadUuid: string;
  /** Bytes as uploaded (signed profiles stay signed). */
  bytes: Buffer;
  checksum: string;
}

export interface ParsedDeclaration {
  kind: 'declaration';
  identifier: string;
  name: string;
  type: string;
  rawJson: string;
  scope: 'System' | 'User';
}

export const md5Hex = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** ServerToken of a declaration: upper-case hex MD5 of its JSON and secrets timestamp. */
export function declarationToken(rawJson: string, secretsUpdatedAt: string | null): string {
  return md5Hex(rawJson + (secretsUpdatedAt ?? '')).toUpperCase();
}

const profileError = (reason: string) => invalid(reason, 'profile');

function fileBaseName(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/** The plist inside a signed profile (CMS SignedData with attached content), or the bytes as they are. */
export function unwrapSigned(bytes: Buffer): Buffer {
  if (bytes[0] !== 0x30) return bytes;
  try {
    return cmsVerifyAttached(bytes).content;
  } catch (err) {
    throw profileError(`Couldn't add. The signed profile could not be verified: ${(err as Error).message}`);
  }
}

function isDict(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Uint8Array) &&
    !(v instanceof Date)
  );
}

function collectPayloadTypes(payloads: unknown, into: string[]): void {
  if (!Array.isArray(payloads)) return;
  for (const p of payloads) {
    if (!isDict(p)) continue;
    if (typeof p.PayloadType === 'string') into.push(p.PayloadType);
    collectPayloadTypes(p.PayloadContent, into);
  }
}

/** FileVault options (FDEFileVaultOptions) that Fleet finds inside a `com.apple.MCX` payload. */
const fileVaultOptionKeys = ['dontAllowFDEDisable', 'dontAllowFDEEnable', 'DestroyFVKeyOnStandby'];

/** Does a top-level payload of type com.apple.MCX carry FileVault options (Fleet's check)? */
function hasFileVaultOptions(payloads: unknown): boolean {
  if (!Array.isArray(payloads)) return false;
  return payloads.some(
    (p) => isDict(p) && p.PayloadType === 'com.apple.MCX' && fileVaultOptionKeys.some((k) => k in p),
  );
}

/** Payload types Fleet screens that it does not manage itself (no longer supported by macOS). */
const unsupportedPayloadTypes = new Set(['com.apple.security.FDERecoveryRedirect']);

/** Fleet's message for FileVault settings in a custom profile, as its upload endpoints word it. */
export const fileVaultSettingsMessage =
  "Couldn't add. The configuration profile can't include FileVault settings. To control these settings use disk encryption endpoint.";

export function parseAppleProfile(bytes: Buffer): ParsedAppleProfile {
  const content = unwrapSigned(bytes);
  if (content !== bytes) {
    // Filling a variable would break the signature of a profile delivered as uploaded.
    const text = content.toString('utf8');
    if (/\$\{?FLEET_VAR_\w/.test(text))
      throw profileError('a signed profile cannot contain Fleet variables ($FLEET_VAR_*)');
    if (/\$\{?FLEET_SECRET_\w/.test(text))
      throw profileError('a signed profile cannot contain secret variables ($FLEET_SECRET_*)');
  }
  let root: unknown;
  try {
    // Silence the XML parser's own console noise; a bad document throws either way.
    root = parsePlistQuietly(content.toString('utf8'));
  } catch {
    throw profileError("Couldn't add. The file should include valid XML.");
  }
  if (!isDict(root)) throw profileError("Couldn't add. The file should include valid XML.");
  if (root.PayloadType !== 'Configuration') {
    throw profileError(
      `invalid PayloadType: ${String(root.PayloadType ?? '')} (the top level must be Configuration)`,
    );
  }
  const identifier = typeof root.PayloadIdentifier === 'string' ? root.PayloadIdentifier.trim() : '';
  const name = typeof root.PayloadDisplayName === 'string' ? root.PayloadDisplayName.trim() : '';
  if (!identifier) throw profileError('empty PayloadIdentifier in profile');
  if (!name) throw profileError('empty PayloadDisplayName in profile');
  if (reservedIdentifiers.has(identifier)) {
    throw profileError(`payload identifier ${identifier} is not allowed`);
  }
  if (reservedNames.has(name)) throw profileError(`payload display name ${name} is not allowed`);
  const types: string[] = [];
  collectPayloadTypes(root.PayloadContent, types);
  if (hasFileVaultOptions(root.PayloadContent)) throw profileError(fileVaultSettingsMessage);
  for (const t of types) {
    const what = reservedPayloadTypes.get(t);
    if (what === 'FileVault') throw profileError(fileVaultSettingsMessage);
  }
  const unsupported = types.filter((t) => unsupportedPayloadTypes.has(t));
  if (unsupported.length) throw profileError(`unsupported PayloadType(s): ${unsupported.join(', ')}`);
  for (const t of types) {
    const what = reservedPayloadTypes.get(t);
    if (what) {
      throw profileError(
        `Couldn't add. The configuration profile can't include ${what} settings (unsupported PayloadType ${t}).`,
      );
    }
  }
  const scope = root.PayloadScope === 'User' ? 'User' : 'System';
  const payloadUuid = typeof root.PayloadUUID === 'string' ? root.PayloadUUID : '';
  return { kind: 'apple', identifier, name, scope, payloadUuid, bytes, checksum: md5Hex(bytes) };
}

function parsePlistQuietly(xml: string): unknown {
  const orig = console.error;
  console.error = () => {};
  try {
    return parsePlist(xml);
  } finally {
    console.error = orig;
  }
}

export function parseDeclaration(bytes: Buffer, filename: string): ParsedDeclaration {
  const text = bytes.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw profileError("Couldn't add. The file should include valid JSON.");
  }
  if (!isDict(doc)) throw profileError("Couldn't add. The file should include valid JSON.");
  const type = doc.Type;
  const identifier = doc.Identifier;
  if (typeof type !== 'string' || !type)
    throw profileError('Couldn\'t add. The declaration must include "Type".');
  if (typeof identifier !== 'string' || !identifier.trim()) {
    throw profileError('Couldn\'t add. The declaration must include "Identifier".');
  }
  if (doc.Payload !== undefined && !isDict(doc.Payload)) {
    throw profileError('Couldn\'t add. The declaration "Payload" must be an object.');
  }
  if (!type.startsWith('com.apple.configuration.')) {
    throw profileError('Only configuration declarations (com.apple.configuration.*) are supported.');
  }
  if (forbiddenDeclarationTypes.has(type)) {
    throw profileError(
      `Only configuration declarations that don't require an asset reference are supported. Type ${type} is not allowed.`,
    );
  }
  if (/\$\{?FLEET_VAR_/.test(text)) {
    // Fleet's refusal, word for word (a 400): declarations take secrets, not Fleet variables.
    throw badRequest('Fleet variables ($FLEET_VAR_*) are not currently supported in DDM profiles');
  }
  const name = fileBaseName(filename).trim();
  if (!name) throw profileError("Couldn't add. The file name must not be empty.");
  if (reservedNames.has(name)) throw profileError(`Couldn't add. ${name} is a reserved name.`);
  const scope = doc.Scope === 'User' ? 'User' : 'System';
  return { kind: 'declaration', identifier: identifier.trim(), name, type, rawJson: text, scope };
}
