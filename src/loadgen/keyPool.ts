import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * RSA keys for the simulated devices, made before the run on libuv's thread pool. An RSA-2048 key
 * takes ~0.2 s of CPU here: one per device would make the load generator, not the server, the
 * bottleneck and stall the event loop it times requests on. Devices take turns with a few keys;
 * the server's work is the same (each device still gets its own certificate).
 */
export class KeyPool {
  private next = 0;

  private constructor(private readonly keys: string[]) {}

  static async make(size: number, bits = 2048): Promise<KeyPool> {
    const keys = await Promise.all(
      Array.from({ length: Math.max(1, size) }, async () => {
        const { privateKey } = await promisify(generateKeyPair)('rsa', {
          modulusLength: bits,
          publicKeyEncoding: { type: 'spki', format: 'pem' },
          privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
        });
        return privateKey;
      }),
    );
    return new KeyPool(keys);
  }

  take(): string {
    const key = this.keys[this.next];
    this.next = (this.next + 1) % this.keys.length;
    return key;
  }
}
