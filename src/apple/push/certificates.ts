import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import type { AppConfigService } from '../../appconfig/service.js';
import { AssetName, type ConfigAssetService } from '../../configassets/service.js';
import { conflict, HttpError, invalid } from '../../http/errors.js';
import type { ApplePushStore } from './store.js';

/** The push certificate in use, with what the pusher needs from it. */
export interface ApnsCertificate {
  certPem: string;
  keyPem: string;
  topic: string;
  notAfter: Date;
}

/** Fleet's answer for Apple MDM routes while no APNs certificate is configured (400). */
export function appleMdmNotConfigured(): HttpError {
  return new HttpError(400, 'Bad request', [
    {
      name: 'base',
      reason:
        "MDM features aren't turned on. Upload an APNs certificate first: GET /api/v1/fleet/mdm/apple/request_csr, have it signed, then POST /api/v1/fleet/mdm/apple/apns_certificate.",
    },
  ]);
}

const topicPrefix = 'com.apple.mgmt.';

/** Reads the first certificate of a PEM bundle, or DER bytes. Throws 422 when it is neither. */
export function parseCertificate(bytes: Buffer): X509Certificate {
  const text = bytes.toString('latin1');
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  try {
    return new X509Certificate(m ? Buffer.from(m[0], 'latin1') : bytes);
  } catch {
    throw invalid('the file is not a PEM or DER certificate', 'certificate');
  }
}

/**
 * The push topic from the certificate subject's UID attribute (Apple's MDM push certificates carry
 * `UID=com.apple.mgmt.External.<uuid>`). Throws 422 when it is missing or not an MDM topic.
 */
export function topicFromCertificate(x509: X509Certificate): string {
  const uid = x509.subject
    .split('\n')
    .map((line) => /^UID=(.*)$/.exec(line)?.[1])
    .find((v) => v !== undefined);
  if (!uid)
    throw invalid(
      'the certificate has no UID attribute with the push topic; is it an MDM push certificate?',
      'certificate',
    );
  if (!uid.startsWith(topicPrefix)) {
    throw invalid(
      `the certificate's topic "${uid}" is not an MDM push topic (${topicPrefix}...)`,
      'certificate',
    );
  }
  return uid;
}

/** One attribute (e.g. CN) from a distinguished name as Node prints it. */
function dnAttribute(dn: string, name: string): string {
  return (
    dn
      .split('\n')
      .map((line) => (line.startsWith(`${name}=`) ? line.slice(name.length + 1) : undefined))
      .find((v) => v !== undefined) ?? ''
  );
}

interface CachedCertificate {
  value: ApnsCertificate | null;
  loadedAt: number;
}

/**
 * The APNs push certificate and key: CSR, upload with checks, status, delete. `current()` reads
 * from storage with a short cache, so a certificate renewed by any process is used without a
 * restart (at once in the process that took the upload).
 */
export class ApnsCertificateService {
  private cache?: CachedCertificate;

  constructor(
    private readonly assets: ConfigAssetService,
    private readonly store: ApplePushStore,
    private readonly appConfig: AppConfigService,
    private readonly cacheMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  async current(): Promise<ApnsCertificate | null> {
    if (this.cache && this.now() - this.cache.loadedAt < this.cacheMs) return this.cache.value;
    const got = await this.assets.get([AssetName.apnsCert, AssetName.apnsKey], { fresh: true });
    let value: ApnsCertificate | null = null;
    const cert = got[AssetName.apnsCert];
    const key = got[AssetName.apnsKey];
    if (cert && key) {
      const x509 = parseCertificate(cert);
      value = {
        certPem: x509.toString(),
        keyPem: key.toString('utf8'),
        topic: topicFromCertificate(x509),
        notAfter: new Date(x509.validTo),
      };
    }
    this.cache = { value, loadedAt: this.now() };
    return value;
  }

  invalidate(): void {
    this.cache = undefined;
  }

  /**
   * Creates the APNs private key once and returns a CSR for it (PEM). Apple only accepts it after
   * an MDM vendor signed it; see the README for the flow.
   */
  async requestCsr(opts: { organization: string; email?: string }): Promise<string> {
    let keyPem = (await this.assets.getOne(AssetName.apnsKey, { fresh: true }))?.toString('utf8');
    if (!keyPem) {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
      await this.assets.set({ [AssetName.apnsKey]: keyPem });
    }
    const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
    const subject: forge.pki.CertificateField[] = [
      { name: 'commonName', value: 'Flotilla APNs' },
      { name: 'organizationName', value: opts.organization || 'Flotilla' },
      { name: 'countryName', value: 'US' },
    ];
    if (opts.email) subject.push({ name: 'emailAddress', value: opts.email });
    csr.setSubject(subject);
    csr.sign(key, forge.md.sha256.create());
    return forge.pki.certificationRequestToPem(csr);
  }

  /**
   * Checks an uploaded push certificate and makes it the one in use. Refused (422) when it is not
   * a certificate, has no MDM topic, has expired, or does not belong to the stored key; refused
   * (409) when its topic differs from the one enrolled devices use (they would all be orphaned).
   */
  async upload(bytes: Buffer): Promise<ApnsCertificate> {
    const x509 = parseCertificate(bytes);
    const topic = topicFromCertificate(x509);
    if (new Date(x509.validTo).getTime() <= this.now())
      throw invalid('the certificate has expired', 'certificate');
    const keyPem = (await this.assets.getOne(AssetName.apnsKey, { fresh: true }))?.toString('utf8');
    if (!keyPem)
      throw invalid(
        'no APNs key is stored: request a CSR first (GET /api/v1/fleet/mdm/apple/request_csr)',
        'certificate',
      );
    if (!x509.checkPrivateKey(createPrivateKey(keyPem))) {
      throw invalid(
        'the certificate does not match the stored APNs key (it was made from another CSR)',
        'certificate',
      );
    }
    const others = await this.store.countEnrolledWithOtherTopic(topic);
    if (others > 0) {
      throw conflict(
        `the certificate's topic ${topic} differs from the topic of ${others} enrolled device(s); ` +
          'renew the existing push certificate with the same Apple ID instead, or those devices can no longer be reached',
      );
    }
    const certPem = x509.toString();
    await this.assets.set({ [AssetName.apnsCert]: certPem });
    this.invalidate();
    await this.appConfig.patch({ mdm: { enabled_and_configured: true } });
    return { certPem, keyPem, topic, notAfter: new Date(x509.validTo) };
  }

  /** Removes the certificate and its key; Apple MDM is off afterwards. */
  async delete(): Promise<void> {
    await this.assets.delete([AssetName.apnsCert, AssetName.apnsKey]);
    this.invalidate();
    await this.appConfig.patch({ mdm: { enabled_and_configured: false } });
  }

  /** Fleet's APNs status: `{common_name, serial_number, issuer, renew_date}`; null when none. */
  async status(): Promise<{
    common_name: string;
    serial_number: string;
    issuer: string;
    renew_date: string;
  } | null> {
    const cur = await this.current();
    if (!cur) return null;
    const x509 = new X509Certificate(cur.certPem);
    return {
      common_name: dnAttribute(x509.subject, 'CN'),
      serial_number: BigInt(`0x${x509.serialNumber}`).toString(10),
      issuer: dnAttribute(x509.issuer, 'CN'),
      renew_date: cur.notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
  }
}
