import { createCertificateAuthority } from '../crypto/certificateAuthority.js';
import type { Transaction } from 'kysely';
import { isUniqueViolation } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
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
  /**
   * Our own Apple SCEP CAs retired by `flotilla certs rotate-ca apple`, newest first (PEM bundle):
   * still trusted for device identities and renewals, never used to issue. Kept apart from the
   * imported CAs because these always come with their keys, which FileVault escrow still needs.
   */
  applePreviousCaCerts: 'apple_previous_ca_certs',
  /** Their private keys, in the same order (FileVault keys escrowed to a retired CA open with them). */
  applePreviousCaKeys: 'apple_previous_ca_keys',
  /** Windows WSTEP CAs retired by `flotilla certs rotate-ca windows`, newest first (PEM bundle). */
  windowsPreviousCaCerts: 'windows_previous_ca_certs',
  /** Their private keys, in the same order (BitLocker keys sealed to a retired CA open with them). */
  windowsPreviousCaKeys: 'windows_previous_ca_keys',
} as const;
export type AssetName = (typeof AssetName)[keyof typeof AssetName];

/** Server-wide MDM secrets, sealed with the server key before they reach the database. */
export class ConfigAssetService {
  private cache = new Map<string, Buffer>();
  /** When each cached name was last read from the database (for `maxAgeMs`). */
  private readAt = new Map<string, number>();
  /** Reads under way for `maxAgeMs` callers, so a burst of requests shares one query. */
  private refreshing = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: ConfigAssetStore,
    private readonly box: SecretBox,
  ) {}

  /**
   * Reads assets, decrypting them; cached until `set` or `invalidate` (they change rarely). With
   * `maxAgeMs` a cached value older than that is read again, so a change another process made (a
   * CA rotated by the CLI) reaches this one without a restart.
   */
  async get(
    names: AssetName[],
    opts: { fresh?: boolean; maxAgeMs?: number } = {},
  ): Promise<Partial<Record<AssetName, Buffer>>> {
    const now = Date.now();
    // With maxAgeMs an absent asset is remembered as absent for that long too (no query per call).
    const stale = (n: string) =>
      opts.maxAgeMs === undefined
        ? !this.cache.has(n)
        : !this.readAt.has(n) || now - this.readAt.get(n)! >= opts.maxAgeMs;
    // With maxAgeMs the names are read together, so values that belong together (a certificate
    // bundle and its keys) always come from one read.
    const wanted =
      opts.fresh || (opts.maxAgeMs !== undefined && names.some(stale)) ? names : names.filter(stale);
    if (wanted.length) {
      const key = wanted.join(',');
      let read = opts.maxAgeMs !== undefined ? this.refreshing.get(key) : undefined;
      if (!read) {
        const r: Promise<unknown> = this.read(wanted).finally(() => {
          if (this.refreshing.get(key) === r) this.refreshing.delete(key);
        });
        read = r;
        if (opts.maxAgeMs !== undefined) this.refreshing.set(key, r);
      }
      await read;
    }
    const out: Partial<Record<AssetName, Buffer>> = {};
    for (const n of names) {
      const v = this.cache.get(n);
      if (v) out[n] = v;
    }
    return out;
  }

  private async read(names: string[]): Promise<void> {
    const at = Date.now();
    const sealed = await this.store.getSealed(names);
    for (const n of names) {
      const v = sealed.get(n);
      if (v) this.cache.set(n, this.box.open(v));
      else this.cache.delete(n);
      this.readAt.set(n, at);
    }
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
    this.remember(values);
  }

  private remember(values: Partial<Record<AssetName, Buffer | string>>): void {
    for (const [name, v] of Object.entries(values)) {
      this.cache.set(name, Buffer.isBuffer(v) ? v : Buffer.from(v as string));
      this.readAt.set(name, Date.now());
    }
  }

  /**
   * Replaces assets in one transaction only if each of `expected` still holds the value read
   * before (compared by checksum; null: no live row), running `alongside` in that transaction.
   * False, with nothing written, when another writer got there first.
   */
  async replaceIf(
    expected: Partial<Record<AssetName, Buffer | string | null>>,
    values: Partial<Record<AssetName, Buffer | string>>,
    alongside?: (trx: Transaction<DB>) => Promise<unknown>,
  ): Promise<boolean> {
    const sealed: Record<string, Buffer> = {};
    const sums: Record<string, string> = {};
    for (const [name, v] of Object.entries(values)) {
      const plain = Buffer.isBuffer(v) ? v : Buffer.from(v as string);
      sealed[name] = this.box.seal(plain);
      sums[name] = md5Hex(plain);
    }
    const expectedSums = Object.fromEntries(
      Object.entries(expected).map(([n, v]) => [n, v === null || v === undefined ? null : md5Hex(v)]),
    );
    const done = await this.store.replaceSealedIf(expectedSums, sealed, sums, alongside);
    if (done) this.remember(values);
    else this.invalidate();
    return done;
  }

  async delete(names: AssetName[]): Promise<void> {
    await this.store.softDelete(names);
    for (const n of names) {
      this.cache.delete(n);
      this.readAt.delete(n);
    }
  }

  invalidate(): void {
    this.cache.clear();
    this.readAt.clear();
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
