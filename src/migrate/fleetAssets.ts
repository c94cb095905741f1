import { createDecipheriv } from 'node:crypto';
import { ImportError } from './errors.js';

/**
 * Fleet's encryption of `mdm_config_assets` values: AES-256-GCM keyed by the first 32 bytes of the
 * server private key (FLEET_SERVER_PRIVATE_KEY): nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes, as
 * Go's cipher.AEAD Seal appends it). Fleet's datastore writes those bytes as they are into the blob;
 * a base64 text of them is accepted too (what some exports hold). A wrong key fails the tag check
 * either way, so trying both forms cannot accept a wrong key.
 */
export function decryptFleetAsset(name: string, stored: Buffer, privateKey: string): Buffer {
  const key = Buffer.from(privateKey, 'utf8');
  if (key.length < 32)
    throw new ImportError('--fleet-private-key must be at least 32 bytes (FLEET_SERVER_PRIVATE_KEY)');
  const forms = [stored, Buffer.from(stored.toString('latin1').trim(), 'base64')];
  for (const raw of forms) {
    if (raw.length < 12 + 16) continue;
    try {
      const d = createDecipheriv('aes-256-gcm', key.subarray(0, 32), raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
    } catch {
      // not this form (or not this key)
    }
  }
  if (forms.every((raw) => raw.length < 12 + 16))
    throw new ImportError(`Fleet asset ${name} is too short to be encrypted`);
  throw new ImportError(
    `cannot decrypt Fleet asset ${name}: --fleet-private-key is not the key this Fleet server encrypted with`,
  );
}
