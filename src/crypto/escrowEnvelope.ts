import { CmsError, octetStringValue, parseContentInfo } from './cms.js';
import { DerError, Tag } from './der.js';
import { envelopedDecrypt, envelopedEncrypt } from './envelope.js';
import { OID } from './oids.js';

/**
 * Escrowed disk-encryption keys as base64 CMS EnvelopedData: the FileVault personal recovery key
 * the Mac encrypts to our certificate (BER, indefinite lengths, RSA key transport, 3DES- or
 * AES-CBC), and the BitLocker recovery password the server envelopes itself before storing it.
 * The RSA and symmetric work is envelope.ts (node:crypto, RSA unwrap with implicit rejection);
 * this file adds the base64 edge, the size bound and a structure summary.
 */

/** The most base64 text an escrowed blob may have; a real FileVault PRK blob is under 1 KiB. */
export const maxEscrowBase64Length = 64 * 1024;

const cipherNames: Record<string, string> = {
  [OID.desEde3Cbc]: 'des-ede3-cbc',
  [OID.aes128Cbc]: 'aes-128-cbc',
  [OID.aes192Cbc]: 'aes-192-cbc',
  [OID.aes256Cbc]: 'aes-256-cbc',
  [OID.desCbc]: 'des-cbc',
};

export interface EnvelopeRecipient {
  /** issuerAndSerialNumber: the issuer Name (DER) and the serial INTEGER content bytes. */
  issuer: Buffer;
  serial: Buffer;
  keyEncryption: string;
}

export interface EnvelopeSummary {
  /** The content cipher's name (`des-ede3-cbc`, `aes-256-cbc`, ...) or its OID when unknown. */
  contentCipher: string;
  recipients: EnvelopeRecipient[];
  encryptedContentLength: number;
}

/**
 * Reads the structure of a ContentInfo(EnvelopedData) without decrypting anything (BER accepted).
 * Throws CmsError when the bytes are not one.
 */
export function describeEnvelopedData(der: Buffer): EnvelopeSummary {
  try {
    const { contentType, content } = parseContentInfo(der);
    if (contentType !== OID.envelopedData) throw new CmsError(`not EnvelopedData (${contentType})`);
    const kids = content.expect(Tag.SEQUENCE, 'EnvelopedData').children;
    let i = 1;
    if (kids[i]?.isContext(0)) i++;
    const infos = kids[i++].expect(Tag.SET, 'recipientInfos').children;
    const eci = kids[i].expect(Tag.SEQUENCE, 'encryptedContentInfo');
    const cipherOid = eci.child(1).child(0).oid();
    const recipients = infos.flatMap((ri) => {
      if (ri.tag !== Tag.SEQUENCE) return [];
      const rid = ri.child(1);
      if (rid.tag !== Tag.SEQUENCE) return [];
      return [
        {
          issuer: Buffer.from(rid.child(0).raw),
          serial: Buffer.from(rid.child(1).expect(Tag.INTEGER, 'serial').content),
          keyEncryption: ri.child(2).child(0).oid(),
        },
      ];
    });
    const encrypted = eci.children[2] ? octetStringValue(eci.child(2)) : Buffer.alloc(0);
    return {
      contentCipher: cipherNames[cipherOid] ?? cipherOid,
      recipients,
      encryptedContentLength: encrypted.length,
    };
  } catch (err) {
    if (err instanceof CmsError) throw err;
    if (err instanceof DerError) throw new CmsError(`malformed EnvelopedData: ${err.message}`);
    throw new CmsError('malformed EnvelopedData');
  }
}

/** Standard base64 (whitespace ignored, padding required); undefined for anything else. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0) return undefined;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/**
 * Opens a base64 EnvelopedData with the recipient's certificate and key. Every failure (not
 * base64, too long, not CMS, not for this key, corrupted) is one CmsError, never another error.
 */
export function openBase64Envelope(
  base64: string,
  recipient: { cert: string | Buffer; key: Parameters<typeof envelopedDecrypt>[1]['key'] },
): Buffer {
  if (base64.length > maxEscrowBase64Length) throw new CmsError('escrowed blob is too long');
  const der = decodeBase64Strict(base64);
  if (!der) throw new CmsError('escrowed blob is not base64');
  try {
    return envelopedDecrypt(der, recipient);
  } catch (err) {
    if (err instanceof CmsError) throw err;
    throw new CmsError('cannot decrypt EnvelopedData');
  }
}

/** Envelopes `secret` to one certificate (AES-256-CBC, RSA key transport); base64 DER. */
export function sealBase64Envelope(secret: Buffer, recipientCert: string | Buffer): string {
  return envelopedEncrypt(secret, [recipientCert], 'aes-256-cbc').toString('base64');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Whether decrypted bytes are a key as a person reads it: valid UTF-8 with no control characters
 * other than tab and line ends, and at least one visible character. A wrong RSA key unwraps to a
 * synthetic content key (implicit rejection), and CBC then passes its padding check about once in
 * 256 tries; the garbage that comes out is never text of this kind, so this check keeps such a
 * blob from being taken for a decryptable key.
 */
export function isReadableKeyText(plain: Buffer): boolean {
  let text: string;
  try {
    text = utf8.decode(plain);
  } catch {
    return false;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return false;
  return text.trim().length > 0;
}
