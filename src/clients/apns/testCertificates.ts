import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { randomSerialHex, type CertificateAuthorityPem } from '../../crypto/certificateAuthority.js';

/**
 * Certificates for the local APNs stand-in and its tests: a TLS server certificate for loopback
 * and MDM push certificates shaped like Apple's (topic in the subject's UID attribute). Never used
 * for anything a real device or Apple sees.
 */
export interface IssuedPem {
  certPem: string;
  keyPem: string;
}

export function newRsaKeyPem(bits = 2048): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
}

function issue(opts: {
  subject: forge.pki.CertificateField[];
  keyPem: string;
  ca: CertificateAuthorityPem;
  days: number;
  extensions: object[];
}): string {
  const key = forge.pki.privateKeyFromPem(opts.keyPem);
  const caCert = forge.pki.certificateFromPem(opts.ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(opts.ca.keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + opts.days * 86_400_000);
  cert.setSubject(opts.subject);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions(opts.extensions);
  cert.sign(caKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** A TLS server certificate for 127.0.0.1 / localhost. */
export function issueLoopbackServerCertificate(ca: CertificateAuthorityPem): IssuedPem {
  const keyPem = newRsaKeyPem();
  const certPem = issue({
    subject: [{ name: 'commonName', value: 'localhost' }],
    keyPem,
    ca,
    days: 30,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { certPem, keyPem };
}

/**
 * An MDM push certificate like the one Apple's portal issues: subject
 * `UID=<topic>, CN=APSP:<uuid>, C=US`, client-auth usage. The key can be given (to match a stored
 * APNs key) or is generated.
 */
export function issuePushCertificate(opts: {
  ca: CertificateAuthorityPem;
  topic: string;
  keyPem?: string;
  days?: number;
  commonName?: string;
}): IssuedPem {
  const keyPem = opts.keyPem ?? newRsaKeyPem();
  const certPem = issue({
    subject: [
      // forge has no short name for UID (userId, 0.9.2342.19200300.100.1.1); give the OID.
      {
        type: '0.9.2342.19200300.100.1.1',
        value: opts.topic,
        valueTagClass: forge.asn1.Type.UTF8,
      } as unknown as forge.pki.CertificateField,
      { name: 'commonName', value: opts.commonName ?? `APSP:${opts.topic.split('.').pop() ?? 'test'}` },
      { name: 'countryName', value: 'US' },
    ],
    keyPem,
    ca: opts.ca,
    days: opts.days ?? 365,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  });
  return { certPem, keyPem };
}
