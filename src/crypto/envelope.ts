import {
  constants,
  createCipheriv,
  createDecipheriv,
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

/**
 * RSA PKCS#1 v1.5 decryption. Node refuses PKCS#1 v1.5 private decryption (Marvin attack), so we
 * decrypt raw and strip the padding ourselves; a bad padding yields a random key of the expected
 * length ("implicit rejection"), so a wrong key only shows up as a failed content decryption.
 */
function rsaDecryptKey(key: KeyObject, encrypted: Buffer, expectedLen: number): Buffer {
  let em: Buffer;
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, encrypted);
  } catch {
    return randomBytes(expectedLen);
  }
  let sep = -1;
  for (let i = 2; i < em.length; i++) {
    if (em[i] === 0) {
      sep = i;
      break;
    }
  }
  const ok = em[0] === 0 && em[1] === 2 && sep >= 10 && em.length - sep - 1 === expectedLen;
  return ok ? em.subarray(sep + 1) : randomBytes(expectedLen);
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
    return decryptContent(cipher.name, cek, iv, encrypted);
  } catch (err) {
    if (err instanceof CmsError) throw err;
    throw new CmsError(`cannot decrypt EnvelopedData: ${(err as Error).message}`);
  }
}
