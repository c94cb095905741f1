import * as plist from 'plist';
import { parsePlist, type PlistValue } from '../plist/parse.js';

/** What a redacted secret reads as. */
export const redactedValue = '******';

/**
 * Plist keys whose values are secrets, wherever they sit in a command or its result: the lock and
 * erase PIN (DeviceLock, EraseDevice), ClearPasscode's UnlockToken, passcodes, recovery-lock and
 * firmware passwords (SetRecoveryLock, VerifyRecoveryLock, SetFirmwarePassword,
 * VerifyFirmwarePassword), the FileVault unlock password and rotated key (RotateFileVaultKey), local
 * admin password hashes (SetAutoAdminPassword, AccountConfiguration) and the Activation Lock bypass
 * code a device reports. Lost Mode's message and phone number are not secrets.
 */
export const secretPlistKeys: ReadonlySet<string> = new Set([
  'PIN',
  'UnlockToken',
  'Passcode',
  'NewPasscode',
  'CurrentPasscode',
  'RecoveryLockPassword',
  'NewPassword',
  'CurrentPassword',
  'Password',
  'passwordHash',
  'EncryptedNewRecoveryKey',
  'ActivationLockBypassCode',
]);

function isDict(v: PlistValue): v is { [key: string]: PlistValue } {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date)
  );
}

/** Replaces secret values in place; returns whether anything was replaced. */
function scrub(v: PlistValue): boolean {
  let changed = false;
  if (Array.isArray(v)) {
    for (const x of v) changed = scrub(x) || changed;
  } else if (isDict(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (secretPlistKeys.has(k)) {
        v[k] = redactedValue;
        changed = true;
      } else changed = scrub(x) || changed;
    }
  }
  return changed;
}

/**
 * An Apple command plist or command result with every secret value replaced by `******` (as a
 * `<string>`, whatever its type was). The bytes come back unchanged when there is no secret, and as
 * a re-encoded, well-formed XML plist when something was redacted. Returns null when the bytes are
 * not a plist we can read: unreadable content is withheld rather than shown unchecked.
 */
export function redactApplePlist(bytes: Buffer): Buffer | null {
  let doc: PlistValue;
  try {
    doc = parsePlist(bytes);
  } catch {
    return null;
  }
  if (!scrub(doc)) return bytes;
  return Buffer.from(plist.build(doc as unknown as plist.PlistValue), 'utf8');
}
