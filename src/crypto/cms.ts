import { createHash, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import {
  algorithm,
  DerError,
  explicit,
  implicit,
  integer,
  octets,
  oid,
  readDer,
  seq,
  setOf,
  tlv,
  Tag,
  time,
  type DerNode,
} from './der.js';
import { digestOidByHash, hashByOid, OID, signatureHashByOid } from './oids.js';
import {
  certificateParts,
  certPem,
  publicKeyFromSpki,
  signatureAlgorithm,
  signBytes,
  toCertDer,
  toPrivateKey,
} from './x509.js';

/**
 * CMS (RFC 5652) SignedData: build and verify. Structure is read and written with our DER module;
 * every hash and signature runs in node:crypto.
 */
export class CmsError extends Error {}

/** A signed attribute: its OID and the already-encoded values of its SET. */
export interface CmsAttribute {
  oid: string;
  values: Buffer[];
}

export interface ParsedSignerInfo {
  /** issuerAndSerialNumber parts, or the subjectKeyIdentifier. */
  issuer?: Buffer;
  serial?: Buffer;
  subjectKeyId?: Buffer;
  hash: string;
  signatureAlgorithm: string;
  /** The raw `[0]` signedAttrs element, when present. */
  signedAttrsRaw?: Buffer;
  attributes: Map<string, DerNode[]>;
  signature: Buffer;
}

export interface ParsedSignedData {
  contentType: string;
  /** eContent when attached. */
  content?: Buffer;
  certificates: Buffer[];
  signers: ParsedSignerInfo[];
}

/** ContentInfo → its type and the `[0]` content element's inner node. */
export function parseContentInfo(der: Buffer): { contentType: string; content: DerNode } {
  const ci = readDer(der).expect(Tag.SEQUENCE, 'ContentInfo');
  const type = ci.child(0).oid();
  const wrapper = ci.child(1);
  if (!wrapper.isContext(0)) throw new DerError('ContentInfo content is not [0]');
  return { contentType: type, content: wrapper.child(0) };
}

/** The value of an OCTET STRING, joining BER chunks when it is constructed. */
export function octetStringValue(n: DerNode): Buffer {
  const isOctets = (n.tag & 0xdf) === Tag.OCTET_STRING || (n.tag & 0xc0) === 0x80;
  if (!isOctets) throw new DerError(`expected an OCTET STRING, got tag 0x${n.tag.toString(16)}`);
  return n.constructed ? Buffer.concat(n.children.map(octetStringValue)) : n.content;
}

function parseSignerInfo(si: DerNode): ParsedSignerInfo {
  const kids = si.expect(Tag.SEQUENCE, 'SignerInfo').children;
  let i = 1;
  const sid = kids[i++];
  const out: Partial<ParsedSignerInfo> = { attributes: new Map() };
  if (sid.tag === Tag.SEQUENCE) {
    out.issuer = sid.child(0).raw;
    out.serial = sid.child(1).expect(Tag.INTEGER, 'serial').content;
  } else if (sid.isContext(0)) {
    out.subjectKeyId = sid.content;
  } else throw new DerError('bad SignerIdentifier');
  const digestOid = kids[i++].child(0).oid();
  const hash = hashByOid[digestOid];
  if (!hash) throw new CmsError(`unsupported digest algorithm ${digestOid}`);
  out.hash = hash;
  if (kids[i]?.isContext(0)) {
    const attrs = kids[i++];
    out.signedAttrsRaw = attrs.raw;
    for (const a of attrs.children) {
      out.attributes!.set(a.child(0).oid(), a.child(1).expect(Tag.SET, 'attribute values').children);
    }
  }
  out.signatureAlgorithm = kids[i++].child(0).oid();
  out.signature = kids[i++].expect(Tag.OCTET_STRING, 'signature').content;
  return out as ParsedSignerInfo;
}

/** Parses a ContentInfo(SignedData) without verifying anything. */
export function parseSignedData(der: Buffer): ParsedSignedData {
  const { contentType, content } = parseContentInfo(der);
  if (contentType !== OID.signedData) throw new CmsError(`not SignedData (${contentType})`);
  const kids = content.expect(Tag.SEQUENCE, 'SignedData').children;
  const encap = kids[2].expect(Tag.SEQUENCE, 'encapContentInfo');
  const eType = encap.child(0).oid();
  const eContent = encap.children[1] ? octetStringValue(encap.child(1).child(0)) : undefined;
  const certificates: Buffer[] = [];
  let i = 3;
  if (kids[i]?.isContext(0)) {
    for (const c of kids[i].children) if (c.tag === Tag.SEQUENCE) certificates.push(c.raw);
    i++;
  }
  if (kids[i]?.isContext(1)) i++; // CRLs are ignored
  const signerSet = kids[i];
  if (!signerSet || signerSet.tag !== Tag.SET) throw new DerError('SignedData has no signerInfos');
  return {
    contentType: eType,
    content: eContent,
    certificates,
    signers: signerSet.children.map(parseSignerInfo),
  };
}

function findSignerCert(signer: ParsedSignerInfo, certificates: Buffer[]): Buffer {
  for (const der of certificates) {
    const p = certificateParts(der);
    if (signer.issuer && signer.serial && p.issuer.equals(signer.issuer) && p.serial.equals(signer.serial))
      return der;
    if (signer.subjectKeyId && p.subjectKeyId?.equals(signer.subjectKeyId)) return der;
  }
  throw new CmsError('signer certificate not included in the message');
}

/**
 * Checks one signer over `content`: with signed attributes, messageDigest must equal the content's
 * hash and the signature covers the attributes re-tagged as a DER SET; without them, the signature
 * covers the content itself.
 */
export function verifySigner(signer: ParsedSignerInfo, content: Buffer, certificates: Buffer[]): Buffer {
  const certDer = findSignerCert(signer, certificates);
  const publicKey = publicKeyFromSpki(certificateParts(certDer).spki);
  const sigHash = signatureHashByOid[signer.signatureAlgorithm];
  if (!(signer.signatureAlgorithm in signatureHashByOid))
    throw new CmsError(`unsupported signature algorithm ${signer.signatureAlgorithm}`);
  const hash = sigHash ?? signer.hash;
  let signed: Buffer;
  if (signer.signedAttrsRaw) {
    const md = signer.attributes.get(OID.messageDigest)?.[0];
    if (!md || !signer.attributes.has(OID.contentType))
      throw new CmsError('signed attributes lack messageDigest or contentType');
    const want = createHash(signer.hash).update(content).digest();
    const got = md.expect(Tag.OCTET_STRING, 'messageDigest').content;
    if (got.length !== want.length || !timingSafeEqual(got, want))
      throw new CmsError('message digest does not match the content');
    signed = Buffer.from(signer.signedAttrsRaw);
    signed[0] = Tag.SET;
  } else signed = content;
  if (!checkSignature(publicKey, hash, signed, signer.signature))
    throw new CmsError('signature does not verify');
  return certDer;
}

function checkSignature(key: KeyObject, hash: string, data: Buffer, signature: Buffer): boolean {
  try {
    return verify(hash, data, key, signature);
  } catch {
    return false;
  }
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CmsError) throw err;
    throw new CmsError(`malformed CMS: ${(err as Error).message}`);
  }
}

/** Verifies a detached SignedData (e.g. Apple's Mdm-Signature) over `content`. Throws CmsError. */
export function cmsVerifyDetached(
  content: Buffer,
  signatureDer: Buffer,
): { signerCertPem: string; signerCertDer: Buffer } {
  return wrap(() => {
    const sd = parseSignedData(signatureDer);
    if (sd.signers.length === 0) throw new CmsError('no signer');
    const signerCertDer = verifySigner(sd.signers[0], content, sd.certificates);
    // PEM only when asked for: the device hot path needs the DER alone.
    return {
      get signerCertPem() {
        return certPem(signerCertDer);
      },
      signerCertDer,
    };
  });
}

/** Verifies an attached SignedData and returns its content and signer. Throws CmsError. */
export function cmsVerifyAttached(der: Buffer): {
  content: Buffer;
  signerCertPem: string;
  signerCertDer: Buffer;
} {
  return wrap(() => {
    const sd = parseSignedData(der);
    if (!sd.content) throw new CmsError('no attached content');
    if (sd.signers.length === 0) throw new CmsError('no signer');
    const signerCertDer = verifySigner(sd.signers[0], sd.content, sd.certificates);
    return { content: sd.content, signerCertPem: certPem(signerCertDer), signerCertDer };
  });
}

export interface SignedDataOptions {
  content: Buffer;
  /** eContentType; `data` unless given. */
  contentType?: string;
  detached?: boolean;
  signerCert: string | Buffer;
  signerKey: string | Buffer | KeyObject;
  hash?: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  /** Attributes signed besides contentType, messageDigest and signingTime (e.g. SCEP's). */
  extraSignedAttributes?: CmsAttribute[];
  signingTime?: boolean;
  /** Certificates to include besides the signer's (in this order, after it unless `certsFirst`). */
  extraCerts?: Buffer[];
  certsFirst?: boolean;
}

export function attribute(type: string, ...values: Buffer[]): Buffer {
  return seq(oid(type), setOf(...values));
}

/** Builds a ContentInfo(SignedData) with one signer and signed attributes. */
export function buildSignedData(opts: SignedDataOptions): Buffer {
  const hash = opts.hash ?? 'sha256';
  const certDer = toCertDer(opts.signerCert);
  const key = toPrivateKey(opts.signerKey);
  const parts = certificateParts(certDer);
  const contentType = opts.contentType ?? OID.data;
  const attrs = [
    attribute(OID.contentType, oid(contentType)),
    attribute(OID.messageDigest, octets(createHash(hash).update(opts.content).digest())),
    ...(opts.signingTime === false ? [] : [attribute(OID.signingTime, time(new Date()))]),
    ...(opts.extraSignedAttributes ?? []).map((a) => attribute(a.oid, ...a.values)),
  ];
  const signedAttrs = setOf(...attrs);
  const signature = signBytes(key, hash, signedAttrs);
  const sigAlg =
    key.asymmetricKeyType === 'rsa' ? algorithm(OID.rsaEncryption) : signatureAlgorithm(key, hash);
  const signerInfo = seq(
    integer(1),
    seq(parts.issuer, tlv(Tag.INTEGER, parts.serial)),
    algorithm(digestOidByHash[hash]),
    implicit(0, signedAttrs),
    sigAlg,
    octets(signature),
  );
  const extra = opts.extraCerts ?? [];
  const certs = opts.certsFirst ? [...extra, certDer] : [certDer, ...extra];
  const encap = opts.detached
    ? seq(oid(contentType))
    : seq(oid(contentType), explicit(0, octets(opts.content)));
  const signedData = seq(
    integer(1),
    setOf(algorithm(digestOidByHash[hash])),
    encap,
    tlv(0xa0, certs),
    setOf(signerInfo),
  );
  return seq(oid(OID.signedData), explicit(0, signedData));
}

/** A degenerate certs-only SignedData (no signers), as SCEP uses to carry issued certificates. */
export function buildCertsOnly(certs: Buffer[]): Buffer {
  const signedData = seq(integer(1), setOf(), seq(oid(OID.data)), tlv(0xa0, certs), setOf());
  return seq(oid(OID.signedData), explicit(0, signedData));
}

/** Signs `content` as CMS SignedData (SHA-256, signed attributes, signer certificate included). */
export function cmsSign(
  content: Buffer,
  signer: { certPem: string; keyPem: string },
  opts: { detached?: boolean; extraCertsPem?: string[] } = {},
): Buffer {
  return buildSignedData({
    content,
    detached: opts.detached,
    signerCert: signer.certPem,
    signerKey: signer.keyPem,
    extraCerts: (opts.extraCertsPem ?? []).map((p) => toCertDer(p)),
  });
}
