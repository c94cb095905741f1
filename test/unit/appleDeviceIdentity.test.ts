import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DeviceIdentityVerifier } from '../../src/apple/checkin/deviceIdentity.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { buildSignedData } from '../../src/crypto/cms.js';
import { issueFromSpki, issuingCa } from '../../src/crypto/issue.js';
import { encodeName } from '../../src/crypto/name.js';

// The verifier checks device certificates on their DER (no X509Certificate on the hot path);
// these cases pin each refusal, and that an accepted certificate still exposes its X509 view.
const ca = createCertificateAuthority('Device Identity Test CA', { bits: 2048 });
const other = createCertificateAuthority('Some Other CA', { bits: 2048 });
const caX509 = new X509Certificate(ca.certPem);
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = publicKey.export({ type: 'spki', format: 'der' });
const subjectDer = encodeName({ CN: 'Fleet Identity', OU: 'Fleet Device Enrollment' });

function issue(
  opts: { by?: typeof ca; usage?: 'client' | 'server'; days?: number; now?: Date } = {},
): Buffer {
  return issueFromSpki({
    spki,
    subjectDer,
    days: opts.days ?? 365,
    ca: issuingCa(opts.by ?? ca),
    usage: opts.usage ?? 'client',
    now: opts.now,
  }).certDer;
}

function signature(body: Buffer, certDer: Buffer): string {
  return buildSignedData({
    content: body,
    detached: true,
    signerCert: certDer,
    signerKey: privateKey,
  }).toString('base64');
}

const verifier = () => new DeviceIdentityVerifier(async () => ({ x509: caX509, certDer: caX509.raw }));
const body = Buffer.from('<plist><dict><key>Status</key><string>Idle</string></dict></plist>');

describe('device identity verification', () => {
  it('accepts a client certificate from our CA and exposes its hash, expiry and X509 view', async () => {
    const der = issue();
    const cert = await verifier().identify(body, signature(body, der), undefined);
    expect(cert.sha256).toBe(createHash('sha256').update(der).digest('hex'));
    expect(cert.notAfter.getTime()).toBe(new Date(new X509Certificate(der).validTo).getTime());
    expect(cert.x509.subject).toContain('OU=Fleet Device Enrollment');
  });

  it('refuses certificates from another CA, expired, not yet valid, or for servers', async () => {
    const v = verifier();
    await expect(v.identify(body, signature(body, issue({ by: other })), undefined)).rejects.toThrow(
      /not issued by the SCEP CA/,
    );
    const expired = issue({ now: new Date(Date.now() - 3 * 86_400_000), days: 1 });
    await expect(v.identify(body, signature(body, expired), undefined)).rejects.toThrow(/not valid now/);
    const future = issue({ now: new Date(Date.now() + 86_400_000) });
    await expect(v.identify(body, signature(body, future), undefined)).rejects.toThrow(/not valid now/);
    await expect(v.identify(body, signature(body, issue({ usage: 'server' })), undefined)).rejects.toThrow(
      /client authentication/,
    );
  });

  it('refuses a signature over other bytes, and a certificate whose CA signature was tampered with', async () => {
    const der = issue();
    await expect(
      verifier().identify(Buffer.from('other body'), signature(body, der), undefined),
    ).rejects.toThrow(/does not verify/);
    const tampered = Buffer.from(der);
    tampered[tampered.length - 5] ^= 0xff;
    await expect(verifier().identify(body, undefined, `:${tampered.toString('base64')}:`)).rejects.toThrow(
      /not issued by the SCEP CA/,
    );
  });
});
