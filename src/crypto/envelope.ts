import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import forge from 'node-forge';
import { CmsError, octetStringValue, parseContentInfo } from './cms.js';
import { algorithm, explicit, implicit, integer, octets, oid, seq, setOf, Tag, tlv } from './der.js';
import { OID } from './oids.js';
import { certificateParts, parsedCertificate, toCertDer, toPrivateKey } from './x509.js';

/**
 * CMS EnvelopedData (RFC 5652 §6) with RSA key transport, as SCEP uses it: the content is encrypted
 * with a random key (AES-CBC or 3DES-CBC) and that key with each recipient's RSA public key.
 */
export type ContentCipher = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | 'des-ede3-cbc' | 'des-cbc';

const cipherByOid: Record<string, { name: ContentCipher; keyLen: number }> = {
  [OID.aes128Cbc]: { name: 'aes-128-cbc', keyLen: 16 },
  [OID.aes192Cbc]: { name: 'aes-192-cbc', keyLen: 24 },
  [OID.aes256Cbc]: { name: 'aes-256-cbc', keyLen: 32 },
  [OID.desEde3Cbc]: { name: 'des-ede3-cbc', keyLen: 24 },
  [OID.desCbc]: { name: 'des-cbc', keyLen: 8 },
};
const oidByCipher = Object.fromEntries(Object.entries(cipherByOid).map(([o, c]) => [c.name, o])) as Record<
  ContentCipher,
  string
>;

/** Encrypts `content` to the recipients' certificates (RSA). */
export function envelopedEncrypt(
  content: Buffer,
  recipients: (string | Buffer)[],
  cipher: ContentCipher = 'aes-256-cbc',
): Buffer {
  const cOid = oidByCipher[cipher];
  const { keyLen } = cipherByOid[cOid];
  const key = randomBytes(keyLen);
  const iv = randomBytes(cipher.startsWith('aes') ? 16 : 8);
  const c = createCipheriv(cipher, key, iv);
  const encrypted = Buffer.concat([c.update(content), c.final()]);
  const recipientInfos = recipients.map((r) => {
    const der = toCertDer(r);
    const parts = certificateParts(der);
    const { publicKey } = parsedCertificate(der);
    if (publicKey.asymmetricKeyType !== 'rsa') throw new CmsError('recipient key is not RSA');
    const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, key);
    return seq(
      integer(0),
      seq(parts.issuer, tlv(Tag.INTEGER, parts.serial)),
      algorithm(OID.rsaEncryption),
      octets(encryptedKey),
    );
  });
  const envelopedData = seq(
    integer(0),
    setOf(...recipientInfos),
    seq(oid(OID.data), seq(oid(cOid), octets(iv)), implicit(0, octets(encrypted))),
  );
  return seq(oid(OID.envelopedData), explicit(0, envelopedData));
}

// ---- RSA PKCS#1 v1.5 decryption with implicit rejection ----
//
// Node 20 refuses privateDecrypt with RSA_PKCS1_PADDING (the CVE-2023-46809 fix: its OpenSSL 3.0
// lacks implicit rejection; only --security-revert brings the old, attackable behaviour back), so
// we decrypt raw and unpad here. Any difference between good and bad padding, in time, errors or
// output, is a Bleichenbacher/Marvin oracle on the CA key. So, as in "Implicit Rejection for RSA
// PKCS#1 v1.5" (draft-irtf-cfrg-rsa-guidance, what OpenSSL 3.2+ does), a bad padding yields a
// synthetic message derived from the private key and the ciphertext: the same answer every time
// for the same ciphertext, and unpredictable without the key. The unpadding below scans every byte
// and picks with masks, never branching on decrypted bytes; which bytes it copies depends only on
// the answer's length, which does not tell good from synthetic. JavaScript promises no constant
// time, but this leaves the JIT nothing secret to branch on.

/** The draft's HMAC key for a private key: SHA-256 of d as k big-endian bytes (k = modulus bytes). */
interface RejectionKey {
  k: number;
  dHash: Buffer;
}
// The SCEP CA key is long-lived: export d and hash it once.
const rejectionKeys = new WeakMap<KeyObject, RejectionKey>();

function rejectionKey(key: KeyObject): RejectionKey {
  let rk = rejectionKeys.get(key);
  if (rk) return rk;
  const jwk = key.type === 'private' && key.asymmetricKeyType === 'rsa' ? key.export({ format: 'jwk' }) : {};
  if (!jwk.d || !jwk.n) throw new CmsError('recipient key is not an RSA private key');
  const k = Buffer.from(jwk.n, 'base64url').length;
  // The PRF encodes its output length in bits as 2 bytes: up to 65,528-bit moduli (Node caps at 16,384).
  if (k < 11 || k * 8 > 0xffff) throw new CmsError(`unsupported RSA modulus of ${k} bytes`);
  const d = Buffer.alloc(k);
  const dMin = Buffer.from(jwk.d, 'base64url');
  dMin.copy(d, k - dMin.length);
  rk = { k, dHash: createHash('sha256').update(d).digest() };
  d.fill(0);
  dMin.fill(0);
  rejectionKeys.set(key, rk);
  return rk;
}

/** The draft's PRF: HMAC-SHA256(KDK, I2OSP(i, 2) || label || I2OSP(bits, 2)) for i = 0, 1, ..., truncated. */
function rejectionPrf(kdk: Buffer, label: string, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  const suffix = Buffer.alloc(2);
  suffix.writeUInt16BE(bytes * 8);
  const counter = Buffer.alloc(2);
  for (let i = 0; i * 32 < bytes; i++) {
    counter.writeUInt16BE(i);
    createHmac('sha256', kdk)
      .update(counter)
      .update(label, 'latin1')
      .update(suffix)
      .digest()
      .copy(out, i * 32);
  }
  return out;
}

// Masks are 0 or -1 (all bits set). Operands are below 2^16, so a subtraction's sign is the comparison.
const ctIsZero = (x: number) => ~((x | -x) >> 31);
const ctEq = (a: number, b: number) => ctIsZero(a ^ b);
const ctLt = (a: number, b: number) => (a - b) >> 31;
const ctSelect = (mask: number, a: number, b: number) => (a & mask) | (b & ~mask);

/**
 * Decrypts and unpads; `fixedLen` set means only a message of that length counts as good. Either
 * way the answer is the last `len` bytes of the real EM or of the synthetic message, picked by mask.
 */
function rsaDecryptImplicit(key: KeyObject, ciphertext: Buffer, fixedLen?: number): Buffer {
  const { k, dHash } = rejectionKey(key);
  // Some encoders drop leading zero bytes of the ciphertext integer; the draft's HMAC input is k bytes.
  const c =
    ciphertext.length < k ? Buffer.concat([Buffer.alloc(k - ciphertext.length), ciphertext]) : ciphertext;
  const kdk = createHmac('sha256', dHash).update(c).digest();
  let em: Buffer;
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, c);
  } catch {
    // Only public facts fail here (longer than the modulus, or not below it); answering like a bad
    // padding keeps every failure one outcome. An all-zero EM fails the check below.
    em = Buffer.alloc(k);
  }
  const synthetic = rejectionPrf(kdk, 'message', k);

  // Well formed: 00 02, at least 8 nonzero padding bytes, a 00, the message. Find the first zero
  // after the 02 by masks, scanning every byte.
  let good = ctIsZero(em[0]) & ctEq(em[1], 2);
  let zeroIndex = 0;
  let found = 0;
  for (let i = 2; i < k; i++) {
    const isZero = ctIsZero(em[i]);
    zeroIndex = ctSelect(~found & isZero, i, zeroIndex);
    found |= isZero;
  }
  good &= ~ctLt(zeroIndex, 10); // no zero at all leaves zeroIndex 0
  const realLen = k - zeroIndex - 1;

  let len: number;
  if (fixedLen === undefined) {
    // The draft's synthetic length: of 128 candidates (16 bits each, masked to the smallest
    // 2^n - 1 covering the bound), the last one that a message could have (at most k - 11), or 0.
    const bound = k - 10;
    let mask = bound;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    const candidates = rejectionPrf(kdk, 'length', 256);
    let syntheticLen = 0;
    for (let i = 0; i < 256; i += 2) {
      const candidate = ((candidates[i] << 8) | candidates[i + 1]) & mask;
      syntheticLen = ctSelect(ctLt(candidate, bound), candidate, syntheticLen);
    }
    len = ctSelect(good, realLen, syntheticLen);
  } else {
    // A content-encryption key of another length is as useless as a bad padding, and an error or
    // a wrong-length key would tell the two apart: reject it the same way, at the fixed length.
    good &= ctEq(realLen, fixedLen);
    len = fixedLen;
  }
  // The length is public (good or synthetic, it does not tell which), so it may size the output.
  const out = Buffer.alloc(len);
  for (let j = 0, i = k - len; j < len; j++, i++) out[j] = ctSelect(good, em[i], synthetic[i]);
  em.fill(0);
  return out;
}

/**
 * RSAES-PKCS1-v1_5 decryption with implicit rejection: the message, or for a bad padding a
 * synthetic message (deterministic per key and ciphertext) of a synthetic length.
 */
export function rsaDecryptPkcs1(key: KeyObject, ciphertext: Buffer): Buffer {
  return rsaDecryptImplicit(key, ciphertext);
}

/**
 * Unwraps a content-encryption key of `expectedLen` bytes. A bad padding or a message of another
 * length yields a synthetic key of that length, so a wrong key only shows as a failed content
 * decryption, the same for every kind of bad key block.
 */
export function rsaDecryptKey(key: KeyObject, encrypted: Buffer, expectedLen: number): Buffer {
  return rsaDecryptImplicit(key, encrypted, expectedLen);
}

/**
 * Symmetric decryption in node:crypto, except single DES: OpenSSL 3 only has it in the legacy
 * provider, and older SCEP clients (e.g. Go's pkcs7 default) still send it, so node-forge's DES
 * handles that one case (small messages, off the hot path).
 */
function decryptContent(name: ContentCipher, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  if (name === 'des-cbc') {
    const d = forge.cipher.createDecipher('DES-CBC', forge.util.createBuffer(key.toString('binary')));
    d.start({ iv: forge.util.createBuffer(iv.toString('binary')) });
    d.update(forge.util.createBuffer(data.toString('binary')));
    if (!d.finish()) throw new CmsError('bad padding');
    return Buffer.from(d.output.getBytes(), 'binary');
  }
  const d = createDecipheriv(name, key, iv);
  return Buffer.concat([d.update(data), d.final()]);
}

export const CONTENT_DECRYPTION_FAILED = 'cannot decrypt EnvelopedData: wrong key or corrupted content';

/** Decrypts a ContentInfo(EnvelopedData) with the recipient's certificate and RSA key. */
export function envelopedDecrypt(
  der: Buffer,
  recipient: { cert: string | Buffer; key: string | Buffer | KeyObject },
): Buffer {
  try {
    const { contentType, content } = parseContentInfo(der);
    if (contentType !== OID.envelopedData) throw new CmsError(`not EnvelopedData (${contentType})`);
    const kids = content.expect(Tag.SEQUENCE, 'EnvelopedData').children;
    let i = 1;
    if (kids[i].isContext(0)) i++; // originatorInfo
    const recipientInfos = kids[i++].expect(Tag.SET, 'recipientInfos').children;
    const eci = kids[i].expect(Tag.SEQUENCE, 'encryptedContentInfo');
    const algo = eci.child(1);
    const cipher = cipherByOid[algo.child(0).oid()];
    if (!cipher) throw new CmsError(`unsupported content cipher ${algo.child(0).oid()}`);
    const iv = algo.child(1).expect(Tag.OCTET_STRING, 'iv').content;
    const encrypted = eci.children[2] ? octetStringValue(eci.child(2)) : Buffer.alloc(0);

    const me = certificateParts(toCertDer(recipient.cert));
    const mine =
      recipientInfos.find((ri) => {
        if (ri.tag !== Tag.SEQUENCE) return false;
        const rid = ri.child(1);
        return (
          rid.tag === Tag.SEQUENCE &&
          rid.child(0).raw.equals(me.issuer) &&
          rid.child(1).content.equals(me.serial)
        );
      }) ??
      (recipientInfos.length === 1 && recipientInfos[0].tag === Tag.SEQUENCE ? recipientInfos[0] : undefined);
    if (!mine) throw new CmsError('message is not encrypted to this recipient');
    if (mine.child(2).child(0).oid() !== OID.rsaEncryption)
      throw new CmsError('unsupported key transport algorithm');
    const encryptedKey = mine.child(3).expect(Tag.OCTET_STRING, 'encryptedKey').content;
    const cek = rsaDecryptKey(toPrivateKey(recipient.key), encryptedKey, cipher.keyLen);
    try {
      return decryptContent(cipher.name, cek, iv, encrypted);
    } catch {
      // One message whatever the cipher or the cause: a synthetic key and corrupted content look alike.
      throw new CmsError(CONTENT_DECRYPTION_FAILED);
    }
  } catch (err) {
    if (err instanceof CmsError) throw err;
    throw new CmsError(`cannot decrypt EnvelopedData: ${(err as Error).message}`);
  }
}
