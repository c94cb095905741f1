import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { randomSerialHex } from './certificateAuthority.js';
import { bitString, bool, explicit, implicit, integer, octets, oid, readDer, seq, Tag, time } from './der.js';
import { encodeName } from './name.js';
import { OID } from './oids.js';
import { certificateParts, certPem, signatureAlgorithm, signBytes, toCertDer, toPrivateKey } from './x509.js';

/**
 * Issues end-entity certificates from one of our CAs. The TBSCertificate is assembled with our DER
 * writer (so the issuer Name is the CA's subject byte for byte) and signed by node:crypto.
 */
export interface IssuedCertificate {
  certPem: string;
  certDer: Buffer;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
}

export interface IssuingCa {
  certDer: Buffer;
  key: KeyObject;
}

/** Parsed CA material, cached by PEM (the same CA issues every certificate). */
const caCache = new Map<string, IssuingCa>();

export function issuingCa(ca: { certPem: string; keyPem: string }): IssuingCa {
  const cacheKey = ca.certPem + ca.keyPem;
  let hit = caCache.get(cacheKey);
  if (!hit) {
    hit = { certDer: toCertDer(ca.certPem), key: toPrivateKey(ca.keyPem) };
    if (caCache.size > 32) caCache.clear();
    caCache.set(cacheKey, hit);
  }
  return hit;
}

function extension(type: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(type), bool(true), octets(value)) : seq(oid(type), octets(value));
}

/** Key identifier = SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2, method 1). */
function keyIdentifier(spki: Buffer): Buffer {
  const bits = readDer(spki).child(1).content.subarray(1);
  return createHash('sha1').update(bits).digest();
}

export interface IssueFromSpkiOptions {
  /** SubjectPublicKeyInfo DER. */
  spki: Buffer;
  /** Subject Name DER (e.g. copied verbatim from a CSR). */
  subjectDer: Buffer;
  days: number;
  ca: IssuingCa;
  usage: 'client' | 'server';
  serialHex?: string;
  /** Raw Extension elements to copy (e.g. a CSR's subjectAltName). */
  extraExtensions?: Buffer[];
  now?: Date;
}

export function issueFromSpki(opts: IssueFromSpkiOptions): IssuedCertificate {
  const ca = certificateParts(opts.ca.certDer);
  const serialHex = (opts.serialHex ?? randomSerialHex()).toLowerCase();
  const now = opts.now ?? new Date();
  // A little slack for devices whose clocks run behind.
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 10 * 60_000);
  const notAfter = new Date(Math.floor(now.getTime() / 1000) * 1000 + opts.days * 86_400_000);
  const publicKey = createPublicKey({ key: opts.spki, format: 'der', type: 'spki' });
  const isRsa = publicKey.asymmetricKeyType === 'rsa';
  // digitalSignature (+ keyEncipherment for RSA keys, used by TLS and by key transport).
  const keyUsage = isRsa ? bitString(Buffer.from([0xa0]), 5) : bitString(Buffer.from([0x80]), 7);
  const extensions = [
    extension(OID.basicConstraints, true, seq()),
    extension(OID.keyUsage, true, keyUsage),
    extension(OID.extKeyUsage, false, seq(oid(opts.usage === 'client' ? OID.clientAuth : OID.serverAuth))),
    extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(opts.spki))),
    ...(ca.subjectKeyId
      ? [extension(OID.authorityKeyIdentifier, false, seq(implicit(0, octets(ca.subjectKeyId))))]
      : []),
    ...(opts.extraExtensions ?? []),
  ];
  const hash = 'sha256';
  const sigAlg = signatureAlgorithm(opts.ca.key, hash);
  const tbs = seq(
    explicit(0, integer(2)),
    integer(Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex')),
    sigAlg,
    ca.subject,
    seq(time(notBefore), time(notAfter)),
    opts.subjectDer,
    opts.spki,
    explicit(3, seq(...extensions)),
  );
  const certDer = seq(tbs, sigAlg, bitString(signBytes(opts.ca.key, hash, tbs)));
  const serial = readDer(certDer).child(0).child(1).expect(Tag.INTEGER, 'serial').content;
  return {
    certPem: certPem(certDer),
    certDer,
    serialHex: serial.toString('hex').replace(/^00(?=[89a-f])/, ''),
    notBefore,
    notAfter,
  };
}

/** Issues a certificate for a public key, signed by the given CA. */
export function issueCertificate(opts: {
  publicKeyPem: string;
  subject: Record<string, string>;
  days: number;
  ca: { certPem: string; keyPem: string };
  usage: 'client' | 'server';
  serialHex?: string;
}): IssuedCertificate {
  const spki = createPublicKey(opts.publicKeyPem).export({ type: 'spki', format: 'der' });
  return issueFromSpki({
    spki,
    subjectDer: encodeName(opts.subject),
    days: opts.days,
    ca: issuingCa(opts.ca),
    usage: opts.usage,
    serialHex: opts.serialHex,
  });
}

/** A short-lived self-signed certificate (e.g. the throwaway signer of a SCEP request). */
export function selfSignedCertificate(opts: {
  privateKey: KeyObject;
  subject: Record<string, string>;
  hours?: number;
}): IssuedCertificate {
  const spki = createPublicKey(opts.privateKey).export({ type: 'spki', format: 'der' });
  const name = encodeName(opts.subject);
  const serialHex = randomSerialHex();
  const now = Math.floor(Date.now() / 1000) * 1000;
  const notBefore = new Date(now - 10 * 60_000);
  const notAfter = new Date(now + (opts.hours ?? 1) * 3_600_000);
  const hash = 'sha256';
  const sigAlg = signatureAlgorithm(opts.privateKey, hash);
  const tbs = seq(
    explicit(0, integer(2)),
    integer(Buffer.from(serialHex, 'hex')),
    sigAlg,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
    explicit(3, seq(extension(OID.keyUsage, true, bitString(Buffer.from([0xa0]), 5)))),
  );
  const certDer = seq(tbs, sigAlg, bitString(signBytes(opts.privateKey, hash, tbs)));
  return { certPem: certPem(certDer), certDer, serialHex, notBefore, notAfter };
}
