import { execFileSync } from 'node:child_process';
import {
  constants,
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CmsError, parseContentInfo, parseSignedData } from '../../src/crypto/cms.js';
import { parseCsr } from '../../src/crypto/csr.js';
import { Tag } from '../../src/crypto/der.js';
import {
  CONTENT_DECRYPTION_FAILED,
  envelopedDecrypt,
  rsaDecryptKey,
  rsaDecryptPkcs1,
} from '../../src/crypto/envelope.js';

// The EnvelopedData round trips with openssl (`cms -encrypt` → envelopedDecrypt and back) are in
// crypto.test.ts, and the real micromdm PKCSReq envelope in scepVectors.test.ts.

const dir = mkdtempSync(join(tmpdir(), 'flotilla-rsa-ir-'));
const file = (name: string, data?: string | Buffer) => {
  const p = join(dir, name);
  if (data !== undefined) writeFileSync(p, data);
  return p;
};
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

const vectors = join(import.meta.dirname, '../vectors/apple');
const read = (name: string) => readFileSync(join(vectors, name));
/** The published micromdm/scep test CA (4096-bit RSA), so the known answers below stay fixed. */
const caKeyPem = read('scep-testca-key-emptypass.micromdm-scep.key');
const caKey = createPrivateKey({ key: caKeyPem, passphrase: '' });
const caCert = read('scep-testca-cert.micromdm-scep.pem');
const k = 512;

/** Deterministic bytes: SHA-256 in counter mode over a label; `nonzero` maps 0 to 1 (padding). */
function filler(label: string, n: number, nonzero = false): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; parts.length * 32 < n; i++)
    parts.push(createHash('sha256').update(`${label}/${i}`).digest());
  const out = Buffer.concat(parts).subarray(0, n);
  if (nonzero) for (let i = 0; i < n; i++) out[i] ||= 1;
  return out;
}

/** 00 02 PS 00 M with optional damage; PS fills the block. */
function block(m: Buffer, opts: { first?: number; second?: number; psLen?: number } = {}): Buffer {
  const psLen = opts.psLen ?? k - 3 - m.length;
  const em = Buffer.concat([
    Buffer.from([opts.first ?? 0, opts.second ?? 2]),
    filler(`ps-${m.toString('hex')}`, psLen, true),
    Buffer.from([0]),
    m,
  ]);
  expect(em.length).toBe(k);
  return em;
}

/** Raw RSA with the CA's public key: a chosen, deterministic ciphertext for any block. */
const encryptRaw = (em: Buffer, key: KeyObject = caKey) =>
  publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, em);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('rsaDecryptKey / rsaDecryptPkcs1 (PKCS#1 v1.5 with implicit rejection)', () => {
  it('decrypts what `openssl pkeyutl -encrypt` (PKCS#1 v1.5) produced', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pub = file('pub.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string);
    for (const len of [16, 24, 32, 1, 245]) {
      const msg = randomBytes(len);
      const out = file(`ct-${len}.bin`);
      openssl(
        'pkeyutl',
        '-encrypt',
        '-pubin',
        '-inkey',
        pub,
        '-pkeyopt',
        'rsa_padding_mode:pkcs1',
        '-in',
        file(`msg-${len}.bin`, msg),
        '-out',
        out,
      );
      const ct = readFileSync(out);
      expect(rsaDecryptKey(privateKey, ct, len).equals(msg)).toBe(true);
      expect(rsaDecryptPkcs1(privateKey, ct).equals(msg)).toBe(true);
    }
  });

  it('answers a bad padding with a deterministic key of the expected length, per ciphertext and key', () => {
    const bad1 = encryptRaw(block(filler('cek', 24), { second: 1 }));
    const bad2 = encryptRaw(block(filler('cek', 24), { second: 3 }));
    const a = rsaDecryptKey(caKey, bad1, 24);
    expect(a.length).toBe(24);
    expect(rsaDecryptKey(caKey, bad1, 24).equals(a)).toBe(true);
    // Derived from d, not from the KeyObject: a fresh object for the same key agrees.
    expect(rsaDecryptKey(createPrivateKey({ key: caKeyPem, passphrase: '' }), bad1, 24).equals(a)).toBe(true);
    expect(rsaDecryptKey(caKey, bad2, 24).equals(a)).toBe(false);
    expect(a.equals(filler('cek', 24))).toBe(false);
    // Another key, same ciphertext bytes: another answer.
    const other = generateKeyPairSync('rsa', { modulusLength: 4096 }).privateKey;
    expect(rsaDecryptKey(other, bad1, 24).equals(a)).toBe(false);

    // A good padding around a key of the wrong length is rejected the same way.
    const wrongLen = encryptRaw(block(filler('cek', 16)));
    const w = rsaDecryptKey(caKey, wrongLen, 24);
    expect(w.length).toBe(24);
    expect(rsaDecryptKey(caKey, wrongLen, 24).equals(w)).toBe(true);
    expect(rsaDecryptKey(caKey, wrongLen, 16).equals(filler('cek', 16))).toBe(true);
  });

  // Known answers from OpenSSL 4.0's own RSA_PKCS1_PADDING decryption (implicit rejection, as in
  // the draft) of the same ciphertexts with the same key: the synthetic message's length and SHA-256.
  const knownAnswers: { name: string; em: () => Buffer; len: number; sha256: string }[] = [
    {
      name: 'random block',
      em: () => Buffer.concat([Buffer.from([0]), filler('random', k - 1)]),
      len: 170,
      sha256: 'dcb6a4d48866c0b1c671aa2662eb039cec2e20286a876151ba4f8119a71eb7a2',
    },
    {
      name: 'wrong first byte',
      em: () => block(filler('m', 24), { first: 1 }),
      len: 318,
      sha256: '181d1c24a75d0af073a57adac6d6c2f6ee3221b6723ae8d668f19352c43f1216',
    },
    {
      name: 'wrong second byte',
      em: () => block(filler('m', 24), { second: 1 }),
      len: 171,
      sha256: '030e15d10634a474aa6831dfcdbd79e3fb9f8f88a419b4c22a1b7e0d2b482ee3',
    },
    {
      name: 'no zero separator',
      em: () => Buffer.concat([Buffer.from([0, 2]), filler('nosep', k - 2, true)]),
      len: 83,
      sha256: '64a5bc1ee31080c8e87e255df507d19c30f0d55b3570c6ae791e0d5b678c9989',
    },
    {
      name: 'separator after 7 bytes of padding',
      em: () => block(filler('m', k - 10), { psLen: 7 }),
      len: 388,
      sha256: '56f293eb64ba17b40d236cfa30d2de6751bfcb645f6556f2f05dba5f7e76ceb8',
    },
  ];
  it.each(knownAnswers)('gives the synthetic message OpenSSL 3.2+ gives: $name', ({ em, len, sha256: h }) => {
    const ct = encryptRaw(em());
    const m = rsaDecryptPkcs1(caKey, ct);
    expect({ len: m.length, sha256: sha256(m) }).toEqual({ len, sha256: h });
    // Ciphertexts without their leading zero bytes are read as the same number.
    let z = 0;
    while (ct[z] === 0) z++;
    if (z) expect(rsaDecryptPkcs1(caKey, ct.subarray(z)).equals(m)).toBe(true);
  });
});

describe('envelopedDecrypt with a damaged key block', () => {
  // The micromdm PKCSReq vector's EnvelopedData: 3DES, its CSR encrypted to the test CA.
  const env = Buffer.from(parseSignedData(read('scep-PKCSReq.micromdm-scep.der')).content!);
  const encryptedKey = parseContentInfo(env)
    .content.child(1)
    .child(0)
    .child(3)
    .expect(Tag.OCTET_STRING, 'key');
  expect(encryptedKey.content.length).toBe(k);
  const realCek = rsaDecryptKey(caKey, encryptedKey.content, 24);
  const recipient = { cert: caCert, key: caKey };

  const withKeyBlock = (ct: Buffer) => {
    const out = Buffer.from(env);
    ct.copy(out, encryptedKey.contentStart);
    return out;
  };
  const outcome = (der: Buffer) => {
    try {
      return { opened: envelopedDecrypt(der, recipient).toString('hex') };
    } catch (err) {
      return { error: (err as Error).constructor.name, message: (err as Error).message };
    }
  };

  it('opens the vector, and the same key in a block of ours', () => {
    expect(parseCsr(envelopedDecrypt(env, recipient)).subject.length).toBeGreaterThan(0);
    expect(envelopedDecrypt(withKeyBlock(encryptRaw(block(realCek))), recipient)).toEqual(
      envelopedDecrypt(env, recipient),
    );
  });

  // Every block carries the real key as its last 24 bytes, so an unpadding that skipped any check
  // would open the message.
  const damaged: Record<string, () => Buffer> = {
    'wrong first byte': () => encryptRaw(block(realCek, { first: 1 })),
    'wrong second byte': () => encryptRaw(block(realCek, { second: 1 })),
    'no zero separator': () =>
      encryptRaw(Buffer.concat([Buffer.from([0, 2]), filler('nosep', k - 26, true), realCek])),
    'separator after 7 bytes of padding': () =>
      encryptRaw(block(Buffer.concat([filler('x', k - 34), realCek]), { psLen: 7 })),
    'message of 25 bytes': () => encryptRaw(block(Buffer.concat([Buffer.from([7]), realCek]))),
    'message of 16 bytes': () => encryptRaw(block(realCek.subarray(8))),
    'ciphertext not below the modulus': () => Buffer.alloc(k, 0xff),
  };
  const expected = { error: CmsError.name, message: CONTENT_DECRYPTION_FAILED };

  it('fails like a well-padded wrong key and like corrupted content', () => {
    expect(outcome(withKeyBlock(encryptRaw(block(filler('wrong key', 24)))))).toEqual(expected);
    const corrupted = Buffer.from(env);
    corrupted[corrupted.length - 9] ^= 0xff; // the last CBC block's padding byte, through the block before
    expect(outcome(corrupted)).toEqual(expected);
  });

  it.each(Object.entries(damaged))('fails the same way for a key block with %s', (_name, ct) => {
    const der = withKeyBlock(ct());
    expect(outcome(der)).toEqual(expected);
    expect(() => envelopedDecrypt(der, recipient)).toThrow(CmsError);
  });
});
