import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface CertificateAuthorityPem {
  certPem: string;
  keyPem: string;
}

/** A random positive serial number of 16 bytes, as hex. */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  if (bytes[0] === 0) bytes[0] = 1;
  return bytes.toString('hex');
}

/**
 * Creates a self-signed RSA certificate authority. Key generation uses node:crypto (OpenSSL);
 * node-forge only assembles and signs the one certificate.
 */
export function createCertificateAuthority(
  commonName: string,
  opts: { organization?: string; years?: number; bits?: number } = {},
): CertificateAuthorityPem {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: opts.bits ?? 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = randomSerialHex();
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now);
  cert.validity.notAfter.setUTCFullYear(now.getUTCFullYear() + (opts.years ?? 10));
  const subject = [
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: opts.organization ?? 'Flotilla' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}
