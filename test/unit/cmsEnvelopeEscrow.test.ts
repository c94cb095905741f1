import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { CmsError } from '../../src/crypto/cms.js';
import {
  decodeBase64Strict,
  describeEnvelopedData,
  isReadableKeyText,
  maxEscrowBase64Length,
  openBase64Envelope,
  sealBase64Envelope,
} from '../../src/crypto/escrowEnvelope.js';
import { issueCertificate } from '../../src/crypto/issue.js';
import { OID } from '../../src/crypto/oids.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-escrow-'));
const file = (name: string, data?: string | Buffer) => {
  const p = join(dir, name);
  if (data !== undefined) writeFileSync(p, data);
  return p;
};
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

// The recipient: a certificate and key like the Apple MDM CA's (RSA 2048).
const ca = createCertificateAuthority('Escrow Test CA');
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const recipient = issueCertificate({
  publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  subject: { CN: 'escrow recipient' },
  days: 30,
  ca,
  usage: 'client',
});
const keyPem = (privateKey as KeyObject).export({ type: 'pkcs8', format: 'pem' }) as string;
const certFile = file('recipient.pem', recipient.certPem);
const keyFile = file('recipient.key', keyPem);
const me = { cert: recipient.certPem, key: keyPem };

/** A FileVault-like personal recovery key. */
const prk = 'ABCD-EFGH-IJKL-MNOP-QRST-UVWX';

/** openssl's EnvelopedData of `secret`, with `-stream` giving BER with indefinite lengths. */
function opensslEncrypt(secret: Buffer, flag: string, stream: boolean): Buffer {
  const out = file(`enc${flag}${stream ? '-s' : ''}.der`);
  openssl(
    'cms',
    '-encrypt',
    '-binary',
    ...(stream ? ['-stream'] : []),
    '-outform',
    'DER',
    flag,
    '-in',
    file('plain.txt', secret),
    '-out',
    out,
    certFile,
  );
  return readFileSync(out);
}

const sample = readFileSync(join(__dirname, '../vectors/orbit/filevault_prk_cms_sample.b64'), 'utf8').trim();

describe('escrowed key envelopes', () => {
  it('opens what openssl encrypts (3DES and AES-256, DER and streamed BER)', () => {
    for (const flag of ['-des3', '-aes256', '-aes128']) {
      for (const stream of [false, true]) {
        const der = opensslEncrypt(Buffer.from(prk), flag, stream);
        if (stream) expect(der[1]).toBe(0x80); // indefinite length, as Apple's blobs have
        const opened = openBase64Envelope(der.toString('base64'), me);
        expect(opened.toString()).toBe(prk);
        expect(isReadableKeyText(opened)).toBe(true);
      }
    }
    const info = describeEnvelopedData(opensslEncrypt(Buffer.from(prk), '-des3', true));
    expect(info.contentCipher).toBe('des-ede3-cbc');
    expect(info.recipients).toHaveLength(1);
    expect(info.recipients[0].keyEncryption).toBe(OID.rsaEncryption);
  });

  it('envelopes what openssl decrypts', () => {
    const secret = Buffer.from('123456-234567-345678-456789-567890-678901-789012-890123');
    const b64 = sealBase64Envelope(secret, recipient.certPem);
    expect(describeEnvelopedData(Buffer.from(b64, 'base64')).contentCipher).toBe('aes-256-cbc');
    const plain = openssl(
      'cms',
      '-decrypt',
      '-inform',
      'DER',
      '-in',
      file('sealed.der', Buffer.from(b64, 'base64')),
      '-recip',
      certFile,
      '-inkey',
      keyFile,
    );
    expect(plain.equals(secret)).toBe(true);
    expect(openBase64Envelope(b64, me).equals(secret)).toBe(true);
  });

  it('parses the real FileVault PRK vector (BER, 3DES, one RSA recipient), with node-forge too', () => {
    const der = Buffer.from(sample, 'base64');
    const info = describeEnvelopedData(der);
    expect(info.contentCipher).toBe('des-ede3-cbc');
    expect(info.encryptedContentLength).toBe(32);
    expect(info.recipients).toHaveLength(1);
    expect(info.recipients[0].keyEncryption).toBe(OID.rsaEncryption);
    expect(info.recipients[0].serial.toString('hex')).toBe('00a8bf19b7');
    expect(info.recipients[0].issuer.toString('latin1')).toContain('FileVault Recovery Key');

    // node-forge reads it as reference section 7 describes (non-strict BER).
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')), false);
    const msg = forge.pkcs7.messageFromAsn1(asn1) as unknown as {
      recipients: unknown[];
      encryptedContent: { algorithm: string };
    };
    expect(msg.recipients).toHaveLength(1);
    expect(msg.encryptedContent.algorithm).toBe(forge.pki.oids['des-EDE3-CBC']);

    // Encrypted to a key we do not hold: a CmsError, never anything else.
    expect(() => openBase64Envelope(sample, me)).toThrow(CmsError);
  });

  it('node-forge opens an openssl blob through the single-recipient fallback', () => {
    const der = opensslEncrypt(Buffer.from(prk), '-des3', true);
    const msg = forge.pkcs7.messageFromAsn1(
      forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')), false),
    ) as forge.pkcs7.PkcsEnvelopedData;
    const cert = forge.pki.certificateFromPem(recipient.certPem);
    const r =
      msg.findRecipient(cert) ?? (msg as unknown as { recipients: forge.pkcs7.Recipient[] }).recipients[0];
    msg.decrypt(r, forge.pki.privateKeyFromPem(keyPem));
    expect((msg as unknown as { content: forge.util.ByteStringBuffer }).content.getBytes()).toBe(prk);
  });

  it('turns every bad blob into a CmsError', () => {
    const good = opensslEncrypt(Buffer.from(prk), '-aes256', false);
    const bad = [
      '',
      'not base64!',
      'QUJD', // base64 of "ABC": not DER
      Buffer.from('0\x80\x06').toString('base64'), // truncated BER
      good.subarray(0, good.length - 7).toString('base64'),
      randomBytes(300).toString('base64'),
      'A'.repeat(maxEscrowBase64Length + 4),
    ];
    for (const b of bad) expect(() => openBase64Envelope(b, me), b.slice(0, 20)).toThrow(CmsError);
    // A blob for another key: CmsError, or (rarely, CBC padding by chance) bytes that are not text.
    const other = createCertificateAuthority('Other');
    for (let i = 0; i < 20; i++) {
      const e = sealBase64Envelope(Buffer.from(prk), other.certPem);
      try {
        expect(isReadableKeyText(openBase64Envelope(e, me))).toBe(false);
      } catch (err) {
        expect(err).toBeInstanceOf(CmsError);
      }
    }
  });

  it('decodes only strict base64 and recognises readable keys', () => {
    expect(decodeBase64Strict('QUJD')?.toString()).toBe('ABC');
    expect(decodeBase64Strict('QU JD\n')?.toString()).toBe('ABC');
    expect(decodeBase64Strict('QUJ')).toBeUndefined();
    expect(decodeBase64Strict('QU*D')).toBeUndefined();
    expect(isReadableKeyText(Buffer.from(prk))).toBe(true);
    expect(isReadableKeyText(Buffer.from(`${prk}\n`))).toBe(true);
    expect(isReadableKeyText(Buffer.from([0xff, 0xfe, 0x41]))).toBe(false);
    expect(isReadableKeyText(Buffer.from('AB\u0000CD'))).toBe(false);
    expect(isReadableKeyText(Buffer.from('   '))).toBe(false);
  });
});
