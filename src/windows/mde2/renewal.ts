import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { CmsError, parseSignedData, verifySigner, type ParsedSignedData } from '../../crypto/cms.js';
import { certificateParts, toCertDer } from '../../crypto/x509.js';
import { fromDbTime } from '../../db/dialect.js';
import { child, textAt } from '../xml.js';
import { CsrError, decodeBase64Lenient, parseWindowsCsr } from './csr.js';
import { issueDeviceCertificate, thumbprint } from './issuance.js';
import { requestSecurityTokenResponse } from './messages.js';
import { buildRenewalProvisioningDoc, type RenewalSchedule } from './provisioning.js';
import type { WstepRenewalStore } from './renewalStore.js';
import {
  base64EncodingType,
  deviceEnrollmentTokenType,
  NS,
  SoapFault,
  TokenValueType,
  type SoapRequest,
} from './soap.js';

export interface RenewalOptions {
  /** The CA that issues new certificates now. */
  ca: () => Promise<{ certPem: string; keyPem: string }>;
  schedule: RenewalSchedule;
  now?: () => Date;
}

/** Largest certificate serial we can have issued (wstep_serials is an integer sequence). */
const maxSerial = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * MS-MDE2 3.5 certificate renewal (manual or ROBO): a RequestSecurityToken with the Renew request
 * type whose BinarySecurityToken is a CMS SignedData wrapping the new PKCS#10, signed with the
 * device's current MDM client key. That signature is the authentication: the signer must be, byte
 * for byte, a certificate this server issued through WSTEP that is not revoked, not expired, not
 * already replaced, and belongs to an enrollment that still exists. The new certificate is
 * recorded on the same enrollment; the enrollment, its host, queue and credentials stay as they are.
 */
export class WindowsCertificateRenewal {
  constructor(
    private readonly store: WstepRenewalStore,
    private readonly opts: RenewalOptions,
    private readonly log: Logger,
  ) {}

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  async renew(req: SoapRequest): Promise<string> {
    const rst = req.body;
    if (textAt(rst, 'TokenType') !== deviceEnrollmentTokenType)
      throw new SoapFault('s:messageformat', 'unsupported TokenType');
    const bst = child(rst, 'BinarySecurityToken', NS.wsse);
    if (!bst || bst.attrs.ValueType !== TokenValueType.pkcs7)
      throw new SoapFault('s:certificaterequest', 'a renewal needs a PKCS#7 BinarySecurityToken');
    if (bst.attrs.EncodingType !== undefined && bst.attrs.EncodingType !== base64EncodingType)
      throw new SoapFault('s:certificaterequest', 'the PKCS#7 token must be base64binary');

    let der: Buffer;
    try {
      der = decodeBase64Lenient(bst.text);
    } catch {
      throw new SoapFault('s:certificaterequest', 'the PKCS#7 token is not base64');
    }
    const { signerDer, csrDer } = await this.verifiedRequest(der);
    const signerSerial = this.ourSerial(signerDer);
    const record =
      signerSerial === undefined ? undefined : await this.store.certificateBySerial(signerSerial);
    // Ours only if the signer is exactly the certificate we stored when we issued it.
    if (!record || record.thumbprint !== thumbprint(signerDer))
      throw new SoapFault(
        's:authentication',
        'the renewal is not signed by a certificate this server issued',
      );
    const refuse = (reason: string) => {
      this.log.info(
        { serial: record.serial, enrollmentId: record.enrollmentId, reason },
        'windows mdm: renewal refused',
      );
      return new SoapFault('s:authorization', reason);
    };
    if (record.revoked) throw refuse('the signing certificate is revoked');
    if ((fromDbTime(record.notAfter)?.getTime() ?? 0) <= this.now().getTime())
      throw refuse('the signing certificate has expired; enroll the device again');
    if (record.enrollmentId === null) throw refuse('the signing certificate belongs to no enrollment');

    let csr;
    try {
      csr = parseWindowsCsr(csrDer);
    } catch (err) {
      throw new SoapFault(
        's:certificaterequest',
        err instanceof CsrError ? err.message : 'bad certificate request',
      );
    }

    const ca = await this.opts.ca();
    const saved = await this.store.saveRenewal(record.enrollmentId, record.serial, (serial, e) =>
      issueDeviceCertificate({ csr, hwDevId: e.hwDevId, serial, ca }),
    );
    if ('refused' in saved) {
      throw refuse(
        saved.refused === 'replaced'
          ? 'the signing certificate was already replaced by a newer one'
          : 'the enrollment of the signing certificate no longer exists',
      );
    }
    const issued = saved.certificate;
    // The CA was rotated since the old certificate was issued: the device gets the new root too.
    const caDer = toCertDer(ca.certPem);
    const rotated = !new X509Certificate(signerDer).verify(new X509Certificate(caDer).publicKey);
    const doc = buildRenewalProvisioningDoc({
      clientCertDer: issued.certDer,
      clientThumbprint: issued.thumbprint,
      enrollType: saved.enrollType,
      renewal: this.opts.schedule,
      newCa: rotated ? { der: caDer, thumbprint: thumbprint(caDer) } : undefined,
    });
    this.log.info(
      {
        enrollmentId: record.enrollmentId,
        hostUuid: saved.hostUuid,
        oldSerial: record.serial,
        newSerial: Number.parseInt(issued.serialHex, 16),
        notAfter: issued.notAfter.toISOString(),
      },
      'windows mdm: device certificate renewed',
    );
    return requestSecurityTokenResponse(req.messageId, doc);
  }

  /**
   * Verifies the SignedData and returns its signer and the PKCS#10 it carries. Windows includes its
   * certificate; when a signer leaves it out, the certificate we stored for its serial stands in.
   */
  private async verifiedRequest(der: Buffer): Promise<{ signerDer: Buffer; csrDer: Buffer }> {
    let sd: ParsedSignedData;
    try {
      sd = parseSignedData(der);
    } catch (err) {
      throw new SoapFault(
        's:certificaterequest',
        `the PKCS#7 token is not a CMS SignedData${err instanceof CmsError ? `: ${err.message}` : ''}`,
      );
    }
    if (!sd.content)
      throw new SoapFault('s:certificaterequest', 'the SignedData carries no certificate request');
    const signer = sd.signers[0];
    if (!signer || sd.signers.length !== 1)
      throw new SoapFault('s:authentication', 'the renewal needs exactly one signer');
    // The stored certificate goes first, so a look-alike carried in the message cannot stand in for it.
    const serial = signer.serial ? this.serialFromBytes(signer.serial) : undefined;
    const stored = serial === undefined ? undefined : await this.store.certificateBySerial(serial);
    const certificates = stored ? [toCertDer(stored.certificatePem), ...sd.certificates] : sd.certificates;
    try {
      return { signerDer: verifySigner(signer, sd.content, certificates), csrDer: sd.content };
    } catch (err) {
      const detail = err instanceof CmsError ? err.message : 'malformed signer';
      throw new SoapFault('s:authentication', `the renewal signature is not valid: ${detail}`);
    }
  }

  private ourSerial(certDer: Buffer): number | undefined {
    try {
      return this.serialFromBytes(certificateParts(certDer).serial);
    } catch {
      return undefined;
    }
  }

  private serialFromBytes(bytes: Buffer): number | undefined {
    if (bytes.length === 0 || bytes.length > 8 || bytes[0] & 0x80) return undefined;
    const n = BigInt(`0x${bytes.toString('hex')}`);
    return n > 0n && n <= maxSerial ? Number(n) : undefined;
  }
}
