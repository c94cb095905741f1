import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import {
  bitString,
  implicit,
  integer,
  oid,
  printable,
  readDer,
  seq,
  setOf,
  Tag,
  utf8,
  type DerNode,
} from './der.js';
import { encodeName, parseName, type NameAttribute } from './name.js';
import { OID, signatureHashByOid } from './oids.js';
import { signatureAlgorithm, signBytes, toPublicKey } from './x509.js';

/** PKCS#10 certificate signing requests: parsing with signature check, and building. */
export class CsrError extends Error {}

export interface ParsedCsr {
  subjectRaw: Buffer;
  subject: NameAttribute[];
  spki: Buffer;
  publicKey: KeyObject;
  /** PKCS#9 challengePassword, when present. */
  challengePassword?: string;
  /** Extensions requested (raw Extension elements by OID), e.g. subjectAltName to copy. */
  requestedExtensions: Map<string, Buffer>;
}

/** Parses a DER CSR and checks its self-signature. Throws CsrError on anything malformed. */
export function parseCsr(der: Buffer): ParsedCsr {
  try {
    const csr = readDer(der).expect(Tag.SEQUENCE, 'CertificationRequest');
    const info = csr.child(0).expect(Tag.SEQUENCE, 'CertificationRequestInfo');
    const sigAlg = csr.child(1).child(0).oid();
    const sigBits = csr.child(2).expect(Tag.BIT_STRING, 'signature').content;
    const subjectRaw = info.child(1).expect(Tag.SEQUENCE, 'subject').raw;
    const spki = info.child(2).expect(Tag.SEQUENCE, 'subjectPublicKeyInfo').raw;
    const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    const hash = signatureHashByOid[sigAlg];
    if (!hash) throw new CsrError(`unsupported CSR signature algorithm ${sigAlg}`);
    let valid = false;
    try {
      valid = verify(hash, info.raw, publicKey, sigBits.subarray(1));
    } catch {
      valid = false;
    }
    if (!valid) throw new CsrError('CSR signature does not verify');
    let challengePassword: string | undefined;
    const requestedExtensions = new Map<string, Buffer>();
    const attrs: DerNode | undefined = info.children[3];
    if (attrs?.isContext(0)) {
      for (const a of attrs.children) {
        const type = a.child(0).oid();
        const values = a.child(1).expect(Tag.SET, 'attribute values').children;
        if (type === OID.challengePassword && values[0]) challengePassword = values[0].text();
        if (type === OID.extensionRequest && values[0]) {
          for (const ext of values[0].children) requestedExtensions.set(ext.child(0).oid(), ext.raw);
        }
      }
    }
    return {
      subjectRaw,
      subject: parseName(subjectRaw),
      spki,
      publicKey,
      challengePassword,
      requestedExtensions,
    };
  } catch (err) {
    if (err instanceof CsrError) throw err;
    throw new CsrError(`malformed CSR: ${(err as Error).message}`);
  }
}

/** Builds and signs a CSR with node:crypto. */
export function buildCsr(opts: {
  privateKey: KeyObject;
  subject: Record<string, string> | [string, string][];
  challengePassword?: string;
  hash?: string;
}): Buffer {
  const hash = opts.hash ?? 'sha256';
  const spki = toPublicKey(opts.privateKey).export({ type: 'spki', format: 'der' });
  const attributes: Buffer[] = [];
  if (opts.challengePassword !== undefined) {
    attributes.push(seq(oid(OID.challengePassword), setOf(printableOrUtf8(opts.challengePassword))));
  }
  const info = seq(integer(0), encodeName(opts.subject), spki, implicit(0, setOf(...attributes)));
  const signature = signBytes(opts.privateKey, hash, info);
  return seq(info, signatureAlgorithm(opts.privateKey, hash), bitString(signature));
}

function printableOrUtf8(s: string): Buffer {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(s) ? printable(s) : utf8(s);
}
