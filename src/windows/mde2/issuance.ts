import { createHash } from 'node:crypto';
import { issueFromSpki, issuingCa } from '../../crypto/issue.js';
import { encodeName } from '../../crypto/name.js';
import { OID } from '../../crypto/oids.js';
import type { ParsedCsr } from './csr.js';
import { windowsProviderId } from './provisioning.js';

/** Validity of issued device certificates, and how far NotBefore is back-dated (Fleet's values). */
const certificateValidityDays = 365;
const certificateBackdateDays = 180;
const extensionsWeSet = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
]);

/** The thumbprint Windows and the provisioning document use: upper-case hex SHA-1 of the DER. */
export const thumbprint = (der: Buffer) => createHash('sha1').update(der).digest('hex').toUpperCase();

/**
 * Signs a WSTEP device certificate for a CSR, the same way at enrollment and at renewal: subject
 * OU=<ProviderID>, CN=<HWDevID>; serial from the wstep_serials sequence; as Fleet does, NotBefore
 * back-dated by the 180-day renewal period and NotAfter 365 days after it; the CSR's own
 * extensions (Windows asks for its DeviceID one) copied through.
 */
export function issueDeviceCertificate(opts: {
  csr: ParsedCsr;
  hwDevId: string;
  serial: number;
  ca: { certPem: string; keyPem: string };
}) {
  const issued = issueFromSpki({
    spki: opts.csr.spkiDer,
    subjectDer: encodeName({ OU: windowsProviderId, CN: opts.hwDevId }),
    days: certificateValidityDays,
    now: new Date(Date.now() - certificateBackdateDays * 86_400_000),
    ca: issuingCa(opts.ca),
    usage: 'client',
    serialHex: opts.serial.toString(16),
    extraExtensions: opts.csr.requestedExtensions
      .filter((x) => !extensionsWeSet.has(x.oid))
      .map((x) => x.der),
  });
  return { ...issued, name: opts.hwDevId, thumbprint: thumbprint(issued.certDer) };
}
