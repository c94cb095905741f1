import { createPrivateKey, createPublicKey, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { algorithm, DerError, derToPem, pemToDer, readDer, Tag, type DerNode } from './der.js';
import { OID } from './oids.js';

/** The parts of an X.509 certificate that CMS and issuing need, as raw DER slices. */
export interface CertificateParts {
  der: Buffer;
  /** Serial number INTEGER content bytes (as encoded, may start with 0x00). */
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  spki: Buffer;
  /** The subjectKeyIdentifier extension value, when present. */
  subjectKeyId?: Buffer;
}

export function certificateParts(der: Buffer): CertificateParts {
  const cert = readDer(der).expect(Tag.SEQUENCE, 'certificate');
  const tbs = cert.child(0).expect(Tag.SEQUENCE, 'tbsCertificate');
  let i = 0;
  if (tbs.child(0).isContext(0)) i = 1;
  const serial = tbs.child(i).expect(Tag.INTEGER, 'serial').content;
  const issuer = tbs.child(i + 2).expect(Tag.SEQUENCE, 'issuer').raw;
  const subject = tbs.child(i + 4).expect(Tag.SEQUENCE, 'subject').raw;
  const spki = tbs.child(i + 5).expect(Tag.SEQUENCE, 'subjectPublicKeyInfo').raw;
  let subjectKeyId: Buffer | undefined;
  const extsWrapper = tbs.children.slice(i + 6).find((n) => n.isContext(3));
  if (extsWrapper) {
    for (const ext of extsWrapper.child(0).children) {
      if (ext.child(0).oid() === OID.subjectKeyIdentifier) {
        subjectKeyId = ext.children[ext.children.length - 1].parseContent().content;
      }
    }
  }
  return { der, serial, issuer, subject, spki, subjectKeyId };
}

/** Accepts PEM or DER and returns DER. */
export function toCertDer(cert: string | Buffer): Buffer {
  if (typeof cert === 'string') return pemToDer(cert);
  if (cert.length && cert[0] !== Tag.SEQUENCE) return pemToDer(cert.toString('latin1'));
  return cert;
}

export function certPem(der: Buffer): string {
  return derToPem(der, 'CERTIFICATE');
}

export function toPrivateKey(key: string | Buffer | KeyObject): KeyObject {
  if (typeof key === 'string' || Buffer.isBuffer(key)) return createPrivateKey(key);
  return key;
}

export function toPublicKey(key: string | Buffer | KeyObject): KeyObject {
  if (typeof key === 'string' || Buffer.isBuffer(key)) return createPublicKey(key);
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** The signature AlgorithmIdentifier for a key and hash (RSA PKCS#1 v1.5 or ECDSA). */
export function signatureAlgorithm(key: KeyObject, hash: string): Buffer {
  if (key.asymmetricKeyType === 'rsa') {
    const byHash: Record<string, string> = {
      sha1: OID.sha1WithRSA,
      sha256: OID.sha256WithRSA,
      sha384: OID.sha384WithRSA,
      sha512: OID.sha512WithRSA,
    };
    return algorithm(byHash[hash]);
  }
  if (key.asymmetricKeyType === 'ec') {
    const byHash: Record<string, string> = {
      sha1: OID.ecdsaWithSHA1,
      sha256: OID.ecdsaWithSHA256,
      sha384: OID.ecdsaWithSHA384,
      sha512: OID.ecdsaWithSHA512,
    };
    return algorithm(byHash[hash], false);
  }
  throw new DerError(`unsupported key type ${key.asymmetricKeyType}`);
}

/** Signs with node:crypto (PKCS#1 v1.5 for RSA, DER-encoded ECDSA). */
export function signBytes(key: KeyObject, hash: string, data: Buffer): Buffer {
  return sign(hash, data, key);
}

/**
 * A public key from a SubjectPublicKeyInfo. RSA keys are imported as PKCS#1 (the BIT STRING's
 * content): OpenSSL 3 decodes that form about fifty times faster than an SPKI or a whole
 * certificate, which matters on the device hot path (each new device certificate).
 */
export function publicKeyFromSpki(spki: Buffer): KeyObject {
  const node = readDer(spki).expect(Tag.SEQUENCE, 'subjectPublicKeyInfo');
  if (node.child(0).child(0).oid() === OID.rsaEncryption) {
    const bits = node.child(1).expect(Tag.BIT_STRING, 'subjectPublicKey').content;
    if (bits[0] === 0) return createPublicKey({ key: bits.subarray(1), format: 'der', type: 'pkcs1' });
  }
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}

/** Small bounded cache of parsed certificates: the same device certificate signs every request. */
const parsedCertCache = new Map<string, { x509: X509Certificate; publicKey: KeyObject }>();
const parsedCertCacheMax = 5000;

export function parsedCertificate(der: Buffer): { x509: X509Certificate; publicKey: KeyObject } {
  const key = der.toString('base64');
  let hit = parsedCertCache.get(key);
  if (!hit) {
    const x509 = new X509Certificate(der);
    hit = { x509, publicKey: x509.publicKey };
    if (parsedCertCache.size >= parsedCertCacheMax) parsedCertCache.clear();
    parsedCertCache.set(key, hit);
  }
  return hit;
}

export type { DerNode };
