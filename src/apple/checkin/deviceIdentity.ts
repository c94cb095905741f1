import { createHash, X509Certificate } from 'node:crypto';
import { cmsVerifyDetached } from '../../crypto/cms.js';
import { MdmRequestError } from './messages.js';
import type { DeviceCertificate } from './service.js';

const clientAuthOid = '1.3.6.1.5.5.7.3.2';
const CACHE_LIMIT = 20_000;

/** The CA that issues device identities (our SCEP CA), as the verifier needs it. */
export type IdentityCaProvider = () => Promise<{ x509: X509Certificate; certDer: Buffer }>;

/** Decodes a forwarded client certificate: URL-escaped PEM, plain PEM, or RFC 9440 `:base64 DER:`. */
export function decodeForwardedCertificate(value: string): Buffer {
  let v = value.trim();
  if (v.startsWith(':') && v.endsWith(':')) return Buffer.from(v.slice(1, -1), 'base64');
  if (v.includes('%')) {
    try {
      v = decodeURIComponent(v);
    } catch {
      throw new MdmRequestError('client certificate header is not URL-escaped PEM');
    }
  }
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(v);
  if (!m) throw new MdmRequestError('client certificate header holds no certificate');
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

/**
 * Works out which certificate a device request carries and checks that our SCEP CA issued it:
 * the signer of the `Mdm-Signature` (CMS detached signature over the exact body), or a client
 * certificate forwarded by a TLS terminator in a configured header. Verified certificates are
 * cached by hash, so the hot path parses and chain-checks each device certificate once.
 */
export class DeviceIdentityVerifier {
  private readonly verified = new Map<string, DeviceCertificate>();
  private caFingerprint = '';

  constructor(private readonly ca: IdentityCaProvider) {}

  async identify(body: Buffer, mdmSignature: string | undefined, forwardedCert: string | undefined): Promise<DeviceCertificate> {
    let der: Buffer;
    if (mdmSignature) {
      const sig = Buffer.from(mdmSignature, 'base64');
      if (sig.length === 0) throw new MdmRequestError('Mdm-Signature is not base64');
      try {
        der = cmsVerifyDetached(body, sig).signerCertDer;
      } catch (err) {
        throw new MdmRequestError(`Mdm-Signature does not verify: ${(err as Error).message}`);
      }
    } else if (forwardedCert) {
      der = decodeForwardedCertificate(forwardedCert);
    } else {
      throw new MdmRequestError('no device identity: Mdm-Signature header missing');
    }
    return this.checkIssuedByCa(der);
  }

  private async checkIssuedByCa(der: Buffer): Promise<DeviceCertificate> {
    const ca = await this.ca();
    if (ca.x509.fingerprint256 !== this.caFingerprint) {
      this.verified.clear();
      this.caFingerprint = ca.x509.fingerprint256;
    }
    const sha256 = createHash('sha256').update(der).digest('hex');
    const now = Date.now();
    const cached = this.verified.get(sha256);
    if (cached) {
      if (cached.notAfter.getTime() < now) throw new MdmRequestError('device certificate has expired');
      return cached;
    }
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(der);
    } catch {
      throw new MdmRequestError('device certificate does not parse');
    }
    if (!x509.checkIssued(ca.x509) || !x509.verify(ca.x509.publicKey)) {
      throw new MdmRequestError('device certificate was not issued by the SCEP CA');
    }
    const notAfter = new Date(x509.validTo);
    if (new Date(x509.validFrom).getTime() > now + 5 * 60_000 || notAfter.getTime() < now) {
      throw new MdmRequestError('device certificate is not valid now');
    }
    const eku = x509.keyUsage;
    if (eku && eku.length && !eku.includes(clientAuthOid)) {
      throw new MdmRequestError('device certificate is not for client authentication');
    }
    const cert: DeviceCertificate = { der, sha256, x509, notAfter };
    if (this.verified.size >= CACHE_LIMIT) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(sha256, cert);
    return cert;
  }
}
