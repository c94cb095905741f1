import { createCertificateAuthority } from '../crypto/certificateAuthority.js';
import { isUniqueViolation } from '../db/dialect.js';
import type { SecretBox } from '../crypto/secretbox.js';
import { md5Hex, type ConfigAssetStore } from './store.js';

/** Names of the server-wide secrets, as Fleet names them where Fleet has them. */
export const AssetName = {
  appleScepCaCert: 'ca_cert',
  appleScepCaKey: 'ca_key',
  apnsCert: 'apns_cert',
  apnsKey: 'apns_key',
  windowsWstepCert: 'wstep_cert',
  windowsWstepKey: 'wstep_key',
  abmCert: 'abm_cert',
  abmKey: 'abm_key',
  /** The token Google's Pub/Sub push URL carries (`?token=`). */
  androidPubsubToken: 'android_pubsub_token',
  /** The Google Cloud service-account JSON Flotilla calls AMAPI and Pub/Sub with. */
  androidServiceAccount: 'android_service_account',
  /** PEM bundle of SCEP CAs imported from a previous MDM: trusted for device identities, never used to issue. */
  appleImportedCaCerts: 'apple_imported_ca_certs',
  /** Their private keys when the operator supplied them (kept sealed, for a later re-issue). */
  appleImportedCaKeys: 'apple_imported_ca_keys',
} as const;
export type AssetName = (typeof AssetName)[keyof typeof AssetName];

/** Server-wide MDM secrets, sealed with the server key before they reach the database. */
export class ConfigAssetService {
  private cache = new Map<string, Buffer>();

  constructor(
    private readonly store: ConfigAssetStore,
    private readonly box: SecretBox,
  ) {}

  /** Reads assets, decrypting them; cached until `set` or `invalidate` (they change rarely). */
  async get(names: AssetName[], opts: { fresh?: boolean } = {}): Promise<Partial<Record<AssetName, Buffer>>> {
    const wanted = opts.fresh ? names : names.filter((n) => !this.cache.has(n));
    if (wanted.length) {
      const sealed = await this.store.getSealed(wanted);
      for (const n of wanted) {
        const v = sealed.get(n);
        if (v) this.cache.set(n, this.box.open(v));
        else this.cache.delete(n);
      }
    }
    const out: Partial<Record<AssetName, Buffer>> = {};
    for (const n of names) {
      const v = this.cache.get(n);
      if (v) out[n] = v;
    }
    return out;
  }

  async getOne(name: AssetName, opts: { fresh?: boolean } = {}): Promise<Buffer | undefined> {
    return (await this.get([name], opts))[name];
  }

  async set(values: Partial<Record<AssetName, Buffer | string>>): Promise<void> {
    const sealed: Record<string, Buffer> = {};
    const sums: Record<string, string> = {};
    for (const [name, v] of Object.entries(values)) {
      const plain = Buffer.isBuffer(v) ? v : Buffer.from(v as string);
      sealed[name] = this.box.seal(plain);
      sums[name] = md5Hex(plain);
    }
    await this.store.replaceSealed(sealed, sums);
    for (const [name, v] of Object.entries(values))
      this.cache.set(name, Buffer.isBuffer(v) ? v : Buffer.from(v as string));
  }

  async delete(names: AssetName[]): Promise<void> {
    await this.store.softDelete(names);
    for (const n of names) this.cache.delete(n);
  }

  invalidate(): void {
    this.cache.clear();
  }

  /**
   * Creates the Apple SCEP CA and the Windows WSTEP CA on first start. Safe with several processes
   * starting at once: only names with no live row are inserted, and every process then reads back
   * whatever won.
   */
  async ensureBuiltinCertificateAuthorities(): Promise<string[]> {
    const have = await this.get([AssetName.appleScepCaCert, AssetName.windowsWstepCert], { fresh: true });
    const sealed: Record<string, Buffer> = {};
    const sums: Record<string, string> = {};
    const add = (certName: AssetName, keyName: AssetName, cn: string) => {
      const ca = createCertificateAuthority(cn);
      sealed[certName] = this.box.seal(ca.certPem);
      sums[certName] = md5Hex(ca.certPem);
      sealed[keyName] = this.box.seal(ca.keyPem);
      sums[keyName] = md5Hex(ca.keyPem);
    };
    if (!have[AssetName.appleScepCaCert])
      add(AssetName.appleScepCaCert, AssetName.appleScepCaKey, 'Flotilla Apple MDM CA');
    if (!have[AssetName.windowsWstepCert])
      add(AssetName.windowsWstepCert, AssetName.windowsWstepKey, 'Flotilla Windows MDM CA');
    if (Object.keys(sealed).length === 0) return [];
    try {
      return await this.store.insertMissingSealed(sealed, sums);
    } catch (err) {
      // Another process created them at the same moment; its pair stands.
      if (isUniqueViolation(err)) return [];
      throw err;
    } finally {
      this.invalidate();
    }
  }
}
