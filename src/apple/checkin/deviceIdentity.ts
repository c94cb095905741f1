import { createHash, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { cmsVerifyDetached } from '../../crypto/cms.js';
import { readDer, Tag } from '../../crypto/der.js';
import { OID, signatureHashByOid } from '../../crypto/oids.js';
import { certificateParts } from '../../crypto/x509.js';
import { MdmRequestError } from './messages.js';
import type { DeviceCertificate } from './service.js';

const CACHE_LIMIT = 20_000;

/** The CA that issues device identities (our SCEP CA), as the verifier needs it. */
export type IdentityCaProvider = () => Promise<{ x509: X509Certificate; certDer: Buffer }>;

/** CAs of a previous MDM whose device identities are still accepted (see `flotilla import`). */
export type ImportedCaProvider = () => Promise<X509Certificate[]>;

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
  /** Issuers whose certificates are accepted: our CA first, then imported ones. */
  private issuers: { subject: Buffer; key: KeyObject }[] = [];

  constructor(
    private readonly ca: IdentityCaProvider,
    private readonly importedCas: ImportedCaProvider = async () => [],
  ) {}

  async identify(
    body: Buffer,
    mdmSignature: string | undefined,
    forwardedCert: string | undefined,
  ): Promise<DeviceCertificate> {
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
    const imported = await this.importedCas();
    const fingerprint = [ca.x509, ...imported].map((c) => c.fingerprint256).join(',');
    if (fingerprint !== this.caFingerprint) {
      this.verified.clear();
      this.caFingerprint = fingerprint;
      this.issuers = [
        { subject: certificateParts(ca.certDer).subject, key: ca.x509.publicKey },
        ...imported.map((c) => ({ subject: certificateParts(c.raw).subject, key: c.publicKey })),
      ];
    }
    const sha256 = createHash('sha256').update(der).digest('hex');
    const now = Date.now();
    const cached = this.verified.get(sha256);
    if (cached) {
      if (cached.notAfter.getTime() < now) throw new MdmRequestError('device certificate has expired');
      return cached;
    }
    // Checked on the DER with the CA's cached key: building an X509Certificate per new device
    // costs OpenSSL several times more than the signature check itself.
    let facts: CertificateFacts;
    try {
      facts = certificateFacts(der);
    } catch {
      throw new MdmRequestError('device certificate does not parse');
    }
    if (!this.issuers.some((i) => facts.issuer.equals(i.subject) && signedBy(facts, i.key))) {
      throw new MdmRequestError('device certificate was not issued by the SCEP CA');
    }
    if (facts.notBefore.getTime() > now + 5 * 60_000 || facts.notAfter.getTime() < now) {
      throw new MdmRequestError('device certificate is not valid now');
    }
    if (
      facts.extendedKeyUsage &&
      facts.extendedKeyUsage.length &&
      !facts.extendedKeyUsage.includes(OID.clientAuth)
    ) {
      throw new MdmRequestError('device certificate is not for client authentication');
    }
    let x509: X509Certificate | undefined;
    const cert: DeviceCertificate = {
      der,
      sha256,
      notAfter: facts.notAfter,
      // Parsed only when a check-in needs it (Authenticate reads the subject and stores the PEM).
      get x509() {
        return (x509 ??= new X509Certificate(der));
      },
    };
    if (this.verified.size >= CACHE_LIMIT) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(sha256, cert);
    return cert;
  }
}

interface CertificateFacts {
  tbs: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
  issuer: Buffer;
  notBefore: Date;
  notAfter: Date;
  extendedKeyUsage?: string[];
}

/** The fields of an X.509 certificate the CA check needs, read from its DER. Throws on malformed input. */
function certificateFacts(der: Buffer): CertificateFacts {
  const cert = readDer(der).expect(Tag.SEQUENCE, 'certificate');
  const tbs = cert.child(0).expect(Tag.SEQUENCE, 'tbsCertificate');
  const signatureAlgorithm = cert.child(1).expect(Tag.SEQUENCE, 'signatureAlgorithm').child(0).oid();
  const sigBits = cert.child(2).expect(Tag.BIT_STRING, 'signatureValue').content;
  if (sigBits[0] !== 0) throw new Error('signature has unused bits');
  const i = tbs.child(0).isContext(0) ? 1 : 0;
  const validity = tbs.child(i + 3).expect(Tag.SEQUENCE, 'validity');
  let extendedKeyUsage: string[] | undefined;
  const extensions = tbs.children.slice(i + 6).find((n) => n.isContext(3));
  if (extensions) {
    for (const ext of extensions.child(0).children) {
      if (ext.child(0).oid() !== OID.extKeyUsage) continue;
      const value = ext.children[ext.children.length - 1]
        .expect(Tag.OCTET_STRING, 'extnValue')
        .parseContent();
      extendedKeyUsage = value.children.map((n) => n.oid());
    }
  }
  return {
    tbs: tbs.raw,
    signatureAlgorithm,
    signature: sigBits.subarray(1),
    issuer: tbs.child(i + 2).expect(Tag.SEQUENCE, 'issuer').raw,
    notBefore: validity.child(0).time(),
    notAfter: validity.child(1).time(),
    extendedKeyUsage,
  };
}

/** True when the CA key made the certificate's signature (RSA PKCS#1 v1.5 or ECDSA). */
function signedBy(facts: CertificateFacts, caKey: KeyObject): boolean {
  const hash = signatureHashByOid[facts.signatureAlgorithm];
  if (!hash) return false;
  try {
    return verify(hash, facts.tbs, caKey, facts.signature);
  } catch {
    return false;
  }
}
