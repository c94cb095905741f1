import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { CmsError, cmsSign, cmsVerifyAttached, cmsVerifyDetached } from '../../src/crypto/cms.js';
import { buildCsr, CsrError, parseCsr } from '../../src/crypto/csr.js';
import { envelopedDecrypt, envelopedEncrypt } from '../../src/crypto/envelope.js';
import { issueCertificate } from '../../src/crypto/issue.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-crypto-'));
const file = (name: string, data?: string | Buffer) => {
  const p = join(dir, name);
  if (data !== undefined) writeFileSync(p, data);
  return p;
};
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

const ca = createCertificateAuthority('Unit Test CA');
file('ca.pem', ca.certPem);

function leaf(kind: 'rsa' | 'ec', usage: 'client' | 'server' = 'client') {
  const { publicKey, privateKey } =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cert = issueCertificate({
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    subject: { CN: `${kind}-device`, O: 'Acme', OU: 'Devices' },
    days: 30,
    ca,
    usage,
  });
  return {
    cert,
    key: privateKey as KeyObject,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

const rsa = leaf('rsa');
const ec = leaf('ec');

/** A detached CMS signature made by openssl, as Apple devices make Mdm-Signature. */
function opensslDetached(
  body: Buffer,
  signer: ReturnType<typeof leaf>,
  md: string,
  extra: string[] = [],
): Buffer {
  const name = `${signer.cert.serialHex}-${md}-${extra.join('')}`;
  openssl(
    'cms',
    '-sign',
    '-binary',
    '-outform',
    'DER',
    '-md',
    md,
    ...extra,
    '-signer',
    file(`${name}.crt`, signer.cert.certPem),
    '-inkey',
    file(`${name}.key`, signer.keyPem),
    '-in',
    file(`${name}.body`, body),
    '-out',
    file(`${name}.sig`),
  );
  return readFileSync(file(`${name}.sig`));
}

describe('issueCertificate', () => {
  it('issues certificates openssl verifies against the CA, with the asked subject, usage and serial', () => {
    openssl(
      'verify',
      '-CAfile',
      file('ca.pem'),
      file('rsa.pem', rsa.cert.certPem),
      file('ec.pem', ec.cert.certPem),
    );
    const x = new X509Certificate(rsa.cert.certPem);
    expect(x.subject).toBe('CN=rsa-device\nO=Acme\nOU=Devices');
    expect(x.issuer).toBe(new X509Certificate(ca.certPem).subject);
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(x.serialNumber.toLowerCase()).toBe(rsa.cert.serialHex);
    expect(Math.round((rsa.cert.notAfter.getTime() - Date.now()) / 86_400_000)).toBe(30);
    const server = leaf('rsa', 'server');
    expect(new X509Certificate(server.cert.certPem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    const fixed = issueCertificate({
      publicKeyPem: new X509Certificate(rsa.cert.certPem).publicKey.export({
        type: 'spki',
        format: 'pem',
      }) as string,
      subject: { CN: 'fixed' },
      days: 1,
      ca,
      usage: 'client',
      serialHex: 'ff01',
    });
    expect(fixed.serialHex).toBe('ff01');
    expect(new X509Certificate(fixed.certPem).serialNumber).toBe('FF01');
  });
});

describe('cmsVerifyDetached', () => {
  const body = Buffer.from(
    '<?xml version="1.0"?><plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string></dict></plist>',
  );

  for (const [signer, md] of [
    [rsa, 'sha256'],
    [rsa, 'sha1'],
    [rsa, 'sha512'],
    [ec, 'sha256'],
  ] as const) {
    it(`accepts an openssl detached signature (${signer === rsa ? 'RSA' : 'ECDSA'}, ${md}) and returns the signer`, () => {
      const sig = opensslDetached(body, signer, md);
      const out = cmsVerifyDetached(body, sig);
      expect(out.signerCertDer.equals(new X509Certificate(signer.cert.certPem).raw)).toBe(true);
      expect(out.signerCertPem).toBe(signer.cert.certPem);
    });
  }

  it('accepts a signature without signed attributes', () => {
    const sig = opensslDetached(body, rsa, 'sha256', ['-noattr']);
    expect(cmsVerifyDetached(body, sig).signerCertDer.length).toBeGreaterThan(100);
  });

  it('rejects a tampered body, a tampered signature and garbage', () => {
    const sig = opensslDetached(body, rsa, 'sha256');
    const otherBody = Buffer.from(body);
    otherBody[10] ^= 1;
    expect(() => cmsVerifyDetached(otherBody, sig)).toThrow(CmsError);
    const badSig = Buffer.from(sig);
    badSig[badSig.length - 3] ^= 0x40; // inside the RSA signature value
    expect(() => cmsVerifyDetached(body, badSig)).toThrow(/signature does not verify/);
    const noAttrSig = Buffer.from(opensslDetached(body, rsa, 'sha256', ['-noattr']));
    noAttrSig[noAttrSig.length - 3] ^= 0x40;
    expect(() => cmsVerifyDetached(body, noAttrSig)).toThrow(CmsError);
    for (const garbage of [
      Buffer.alloc(0),
      randomBytes(400),
      sig.subarray(0, sig.length - 20),
      Buffer.from('MIAGCSqGSIb3DQEHAqCAMIACAQEx', 'base64'),
    ]) {
      expect(() => cmsVerifyDetached(body, garbage)).toThrow(CmsError);
    }
    // An attached signature of something else is not a detached signature of the body.
    expect(() => cmsVerifyDetached(body, cmsSign(Buffer.from('x'), ca))).toThrow(CmsError);
  });
});

describe('cmsSign', () => {
  it('produces attached and detached SignedData openssl verifies', () => {
    const content = Buffer.from('profile bytes\n');
    const attached = cmsSign(content, ca);
    const out = openssl(
      'cms',
      '-verify',
      '-inform',
      'DER',
      '-in',
      file('att.der', attached),
      '-CAfile',
      file('ca.pem'),
    );
    expect(out.equals(content)).toBe(true);
    expect(cmsVerifyAttached(attached).content.equals(content)).toBe(true);

    const detached = cmsSign(
      content,
      { certPem: ec.cert.certPem, keyPem: ec.keyPem },
      { detached: true, extraCertsPem: [ca.certPem] },
    );
    openssl(
      'cms',
      '-verify',
      '-binary',
      '-inform',
      'DER',
      '-in',
      file('det.der', detached),
      '-content',
      file('content.txt', content),
      '-CAfile',
      file('ca.pem'),
      '-purpose',
      'any',
      '-out',
      '/dev/null',
    );
    expect(() => cmsVerifyAttached(detached)).toThrow(/no attached content/);
    expect(cmsVerifyDetached(content, detached).signerCertPem).toBe(ec.cert.certPem);
  });
});

describe('EnvelopedData', () => {
  it('round-trips with openssl in both directions (AES-256, AES-128, 3DES)', () => {
    const secret = randomBytes(700);
    for (const cipher of ['aes-256-cbc', 'aes-128-cbc', 'des-ede3-cbc'] as const) {
      const env = envelopedEncrypt(secret, [rsa.cert.certPem], cipher);
      const plain = openssl(
        'cms',
        '-decrypt',
        '-inform',
        'DER',
        '-in',
        file(`env-${cipher}.der`, env),
        '-recip',
        file('rsa.pem', rsa.cert.certPem),
        '-inkey',
        file('rsa.key', rsa.keyPem),
      );
      expect(plain.equals(secret)).toBe(true);
    }
    for (const flag of ['-aes256', '-aes128', '-des3']) {
      const out = file(`os${flag}.der`);
      openssl(
        'cms',
        '-encrypt',
        '-binary',
        '-outform',
        'DER',
        flag,
        '-in',
        file('secret.bin', secret),
        '-out',
        out,
        file('rsa.pem', rsa.cert.certPem),
      );
      expect(
        envelopedDecrypt(readFileSync(out), { cert: rsa.cert.certPem, key: rsa.keyPem }).equals(secret),
      ).toBe(true);
    }
  });

  it('refuses to open a message for another recipient', () => {
    const other = leaf('rsa');
    const env = envelopedEncrypt(Buffer.from('x'), [other.cert.certPem]);
    expect(() => envelopedDecrypt(env, { cert: rsa.cert.certPem, key: rsa.keyPem })).toThrow(CmsError);
    // Right certificate named, wrong key: the content never comes out. The key unwrap does not
    // reveal bad padding (it yields a synthetic key derived from the ciphertext), so the cipher usually fails its own padding
    // check; in the rare case it does not, the output is garbage, not the plaintext.
    for (let i = 0; i < 20; i++) {
      const e = envelopedEncrypt(Buffer.from('the secret'), [other.cert.certPem]);
      let opened: Buffer | undefined;
      try {
        opened = envelopedDecrypt(e, { cert: other.cert.certPem, key: rsa.keyPem });
      } catch (err) {
        expect(err).toBeInstanceOf(CmsError);
      }
      expect(opened?.toString()).not.toBe('the secret');
    }
  });
});

describe('CSR', () => {
  it('builds CSRs openssl accepts and parses openssl CSRs with their challenge', () => {
    const csr = buildCsr({
      privateKey: rsa.key,
      subject: { CN: 'dev', O: 'Acme' },
      challengePassword: 'top secret',
    });
    const text = openssl(
      'req',
      '-inform',
      'DER',
      '-in',
      file('csr.der', csr),
      '-noout',
      '-verify',
      '-text',
    ).toString();
    expect(text).toContain('challengePassword');
    const parsed = parseCsr(csr);
    expect(parsed.challengePassword).toBe('top secret');
    expect(parsed.subject.map((a) => `${a.type}=${a.value}`)).toEqual(['CN=dev', 'O=Acme']);

    openssl(
      'req',
      '-new',
      '-key',
      file('rsa.key', rsa.keyPem),
      '-outform',
      'DER',
      '-out',
      file('os.csr'),
      '-config',
      file(
        'req.cnf',
        '[req]\nprompt=no\ndistinguished_name=dn\nattributes=attrs\n[dn]\nCN=from-openssl\nO=X\n[attrs]\nchallengePassword=pw-123\n',
      ),
    );
    const fromOpenssl = parseCsr(readFileSync(file('os.csr')));
    expect(fromOpenssl.challengePassword).toBe('pw-123');
    expect(fromOpenssl.subject[0]).toMatchObject({ type: 'CN', value: 'from-openssl' });

    const broken = Buffer.from(csr);
    broken[broken.length - 4] ^= 1;
    expect(() => parseCsr(broken)).toThrow(/does not verify/);
    expect(() => parseCsr(randomBytes(50))).toThrow(CsrError);
  });
});
