import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM for secrets at rest. The stored form is base64(nonce ‖ ciphertext ‖ tag), the same
 * layout Fleet uses, keyed by the first 32 bytes of the server private key.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(serverPrivateKey: string) {
    const raw = Buffer.from(serverPrivateKey, 'utf8');
    if (raw.length < 32) throw new Error('server private key must be at least 32 bytes');
    this.key = raw.subarray(0, 32);
  }

  seal(plaintext: Buffer | string): Buffer {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.from(Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64'), 'utf8');
  }

  open(sealed: Buffer | string): Buffer {
    const raw = Buffer.from(sealed.toString(), 'base64');
    if (raw.length < 12 + 16) throw new Error('sealed value is too short');
    const nonce = raw.subarray(0, 12);
    const tag = raw.subarray(raw.length - 16);
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]);
  }
}
