import { createPublicKey, verify, type KeyObject } from 'node:crypto';

/**
 * A deliberately lenient PKCS#10 reader for the CSRs Windows sends during MS-WSTEP enrollment.
 * Real Windows CSRs carry a PrintableString CN with `!` and a trailing NUL and may be signed with
 * SHA-1 under the ISO OID 1.3.14.3.2.29, which strict parsers reject. We walk the DER ourselves,
 * keep the exact CertificationRequestInfo bytes, and verify the self-signature with node:crypto.
 */
export class CsrError extends Error {}

export interface ParsedCsr {
  publicKey: KeyObject;
  publicKeyPem: string;
  /** Subject attributes by short name (CN, O, OU ...), NULs stripped. */
  subject: Record<string, string>;
  signatureOid: string;
  /** SubjectPublicKeyInfo DER, exactly as in the request. */
  spkiDer: Buffer;
  /** Extension elements (DER) from the PKCS#9 extensionRequest attribute, to copy into the certificate. */
  requestedExtensions: { oid: string; der: Buffer }[];
}

const extensionRequestOid = '1.2.840.113549.1.9.14';

interface Tlv {
  tag: number;
  start: number;
  headerLen: number;
  len: number;
  end: number;
}

function readTlv(buf: Buffer, at: number): Tlv {
  if (at + 2 > buf.length) throw new CsrError('truncated DER');
  const tag = buf[at];
  let len = buf[at + 1];
  let headerLen = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || at + 2 + n > buf.length) throw new CsrError('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[at + 2 + i];
    headerLen += n;
  }
  const end = at + headerLen + len;
  if (end > buf.length) throw new CsrError('truncated DER');
  return { tag, start: at, headerLen, len, end };
}

function childrenOf(buf: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let at = t.start + t.headerLen;
  while (at < t.end) {
    const c = readTlv(buf, at);
    out.push(c);
    at = c.end;
  }
  return out;
}

function decodeOid(bytes: Buffer): string {
  if (bytes.length === 0) throw new CsrError('empty OID');
  const parts = [Math.floor(bytes[0] / 40), bytes[0] % 40];
  let v = 0;
  for (let i = 1; i < bytes.length; i++) {
    v = v * 128 + (bytes[i] & 0x7f);
    if (!(bytes[i] & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

const content = (buf: Buffer, t: Tlv) => buf.subarray(t.start + t.headerLen, t.end);

const signatureHashes: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.3.14.3.2.29': 'sha1', // ISO sha1WithRSASignature, used by Windows
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

const attributeNames: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '1.2.840.113549.1.9.1': 'E',
};

/** Parses and verifies a DER PKCS#10 request; throws CsrError when it is not one. */
export function parseWindowsCsr(der: Buffer): ParsedCsr {
  try {
    const outer = readTlv(der, 0);
    if (outer.tag !== 0x30 || outer.end !== der.length) throw new CsrError('not a DER SEQUENCE');
    const [cri, sigAlg, sig] = childrenOf(der, outer);
    if (!cri || !sigAlg || !sig || cri.tag !== 0x30 || sigAlg.tag !== 0x30 || sig.tag !== 0x03) {
      throw new CsrError('not a PKCS#10 CertificationRequest');
    }
    const criParts = childrenOf(der, cri);
    if (
      criParts.length < 3 ||
      criParts[0].tag !== 0x02 ||
      criParts[1].tag !== 0x30 ||
      criParts[2].tag !== 0x30
    ) {
      throw new CsrError('bad CertificationRequestInfo');
    }
    const version = content(der, criParts[0]);
    if (version.length !== 1 || version[0] !== 0) throw new CsrError('unsupported CSR version');
    if (criParts[3] && criParts[3].tag !== 0xa0) throw new CsrError('bad CSR attributes');

    const subject: Record<string, string> = {};
    for (const rdn of childrenOf(der, criParts[1])) {
      for (const atv of childrenOf(der, rdn)) {
        const [oid, value] = childrenOf(der, atv);
        if (!oid || !value || oid.tag !== 0x06) throw new CsrError('bad subject');
        const key = attributeNames[decodeOid(content(der, oid))] ?? decodeOid(content(der, oid));
        subject[key] = content(der, value)
          .toString(value.tag === 0x1e ? 'utf16le' : 'latin1')
          .replace(/\0+$/g, '');
      }
    }
    if (Object.keys(subject).length === 0) throw new CsrError('CSR subject is empty');

    const spkiDer = der.subarray(criParts[2].start, criParts[2].end);
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
    } catch {
      throw new CsrError('CSR public key is unreadable');
    }

    const algOid = childrenOf(der, sigAlg)[0];
    if (!algOid || algOid.tag !== 0x06) throw new CsrError('bad signature algorithm');
    const signatureOid = decodeOid(content(der, algOid));
    const hash = signatureHashes[signatureOid];
    if (!hash) throw new CsrError(`unsupported CSR signature algorithm ${signatureOid}`);
    const sigBytes = content(der, sig);
    if (sigBytes[0] !== 0) throw new CsrError('bad signature bit string');
    const ok = verify(hash, der.subarray(cri.start, cri.end), publicKey, sigBytes.subarray(1));
    if (!ok) throw new CsrError('CSR signature does not verify');
    return {
      publicKey,
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      subject,
      signatureOid,
      spkiDer: Buffer.from(spkiDer),
      requestedExtensions: criParts[3] ? requestedExtensions(der, criParts[3]) : [],
    };
  } catch (err) {
    if (err instanceof CsrError) throw err;
    throw new CsrError(`not a PKCS#10 request: ${(err as Error).message}`);
  }
}

/** Extensions asked for in the CSR's extensionRequest attribute (Windows sends 1.3.6.1.4.1.311.66.1.0). */
function requestedExtensions(der: Buffer, attributes: Tlv): { oid: string; der: Buffer }[] {
  const out: { oid: string; der: Buffer }[] = [];
  for (const attr of childrenOf(der, attributes)) {
    const [type, values] = childrenOf(der, attr);
    if (!type || !values || type.tag !== 0x06 || decodeOid(content(der, type)) !== extensionRequestOid)
      continue;
    for (const exts of childrenOf(der, values)) {
      if (exts.tag !== 0x30) throw new CsrError('bad extensionRequest');
      for (const ext of childrenOf(der, exts)) {
        const extOid = childrenOf(der, ext)[0];
        if (ext.tag !== 0x30 || !extOid || extOid.tag !== 0x06) throw new CsrError('bad requested extension');
        out.push({
          oid: decodeOid(content(der, extOid)),
          der: Buffer.from(der.subarray(ext.start, ext.end)),
        });
      }
    }
  }
  return out;
}

/** Decodes base64 that may contain line breaks or the URL-safe alphabet. */
export function decodeBase64Lenient(s: string): Buffer {
  const clean = s.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length === 0) throw new CsrError('not base64');
  return Buffer.from(clean, 'base64');
}
