import { constants, createCipheriv, publicEncrypt, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

/**
 * The FileVault PRK escrow file (`/var/db/FileVaultPRK.dat`) as macOS writes it once an
 * FDERecoveryKeyEscrow payload is installed: a CMS EnvelopedData (RFC 5652) of the recovery key
 * text, one KeyTransRecipientInfo naming the escrow certificate by issuer and serial, the content
 * key under RSA PKCS#1 v1.5, the content under 3DES-CBC. Apple writes BER with indefinite lengths
 * and the ciphertext as a constructed OCTET STRING in pieces; `encoding: 'der'` gives the definite
 * form instead. Written here independently of the server's CMS code, so a test that escrows a key
 * checks the server against a second implementation.
 */
export type PrkContentCipher = 'des-ede3-cbc' | 'aes-128-cbc' | 'aes-256-cbc';

export interface PrkEnvelopeOptions {
  cipher?: PrkContentCipher;
  encoding?: 'ber' | 'der';
}

const oids = {
  envelopedData: '1.2.840.113549.1.7.3',
  data: '1.2.840.113549.1.7.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  'des-ede3-cbc': '1.2.840.113549.3.7',
  'aes-128-cbc': '2.16.840.1.101.3.4.1.2',
  'aes-256-cbc': '2.16.840.1.101.3.4.1.42',
} as const;

const cipherShape: Record<PrkContentCipher, { keyLen: number; ivLen: number }> = {
  'des-ede3-cbc': { keyLen: 24, ivLen: 8 },
  'aes-128-cbc': { keyLen: 16, ivLen: 16 },
  'aes-256-cbc': { keyLen: 32, ivLen: 16 },
};

// The real blob in the reference vectors carries its 32 bytes of ciphertext as pieces of 24 and 8.
const berPieceSize = 24;

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function definite(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

/** A constructed value with indefinite length: tag, 0x80, content, end-of-contents. */
function indefinite(tag: number, ...content: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([tag, 0x80]), ...content, Buffer.from([0, 0])]);
}

function oid(dotted: string): Buffer {
  return definite(0x06, Buffer.from(forge.asn1.oidToDer(dotted).getBytes(), 'binary'));
}

/** The certificate's issuer Name and serial INTEGER, byte for byte as they are in the certificate. */
function issuerAndSerial(certDer: Buffer): Buffer {
  const cert = forge.asn1.fromDer(forge.util.createBuffer(certDer.toString('binary')));
  const tbs = (cert.value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[];
  // An explicit [0] version comes first in v3 certificates.
  const first = tbs[0].tagClass === forge.asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  const der = (n: forge.asn1.Asn1) => Buffer.from(forge.asn1.toDer(n).getBytes(), 'binary');
  return definite(0x30, der(tbs[first + 2]), der(tbs[first]));
}

/** Envelopes `recoveryKey` to `certificate` (DER or PEM) the way macOS writes FileVaultPRK.dat. */
export function envelopeRecoveryKey(
  recoveryKey: string,
  certificate: Buffer | string,
  opts: PrkEnvelopeOptions = {},
): Buffer {
  const cipher = opts.cipher ?? 'des-ede3-cbc';
  const ber = (opts.encoding ?? 'ber') === 'ber';
  const certDer = typeof certificate === 'string' ? new X509Certificate(certificate).raw : certificate;
  const cert = new X509Certificate(certDer);
  const { keyLen, ivLen } = cipherShape[cipher];
  const contentKey = randomBytes(keyLen);
  const iv = randomBytes(ivLen);
  const c = createCipheriv(cipher, contentKey, iv);
  const encrypted = Buffer.concat([c.update(Buffer.from(recoveryKey, 'utf8')), c.final()]);
  const encryptedKey = publicEncrypt(
    { key: cert.publicKey, padding: constants.RSA_PKCS1_PADDING },
    contentKey,
  );

  const recipientInfo = definite(
    0x30,
    definite(0x02, Buffer.from([0])),
    issuerAndSerial(certDer),
    definite(0x30, oid(oids.rsaEncryption), Buffer.from([0x05, 0x00])),
    definite(0x04, encryptedKey),
  );
  const algorithm = definite(0x30, oid(oids[cipher]), definite(0x04, iv));
  const seq = ber ? (...c: Buffer[]) => indefinite(0x30, ...c) : (...c: Buffer[]) => definite(0x30, ...c);
  let content: Buffer;
  if (ber) {
    const pieces: Buffer[] = [];
    for (let i = 0; i < encrypted.length; i += berPieceSize) {
      pieces.push(definite(0x04, encrypted.subarray(i, i + berPieceSize)));
    }
    content = indefinite(0xa0, ...pieces); // [0] IMPLICIT OCTET STRING, constructed
  } else {
    content = definite(0x80, encrypted); // [0] IMPLICIT OCTET STRING, primitive
  }
  const envelopedData = seq(
    definite(0x02, Buffer.from([0])),
    definite(0x31, recipientInfo),
    seq(oid(oids.data), algorithm, content),
  );
  const explicit0 = ber ? indefinite(0xa0, envelopedData) : definite(0xa0, envelopedData);
  return seq(oid(oids.envelopedData), explicit0);
}
