import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { decodeForwardedCertificate } from '../../util/forwardedCertificate.js';
import type { WindowsEnrollment } from '../store.js';
import { ManagementFault } from '../syncml/session.js';
import type { ClientCertificateStore } from './clientCertStore.js';
import { thumbprint } from './issuance.js';

const cacheLimit = 20_000;
const clientAuthOid = '1.3.6.1.5.5.7.3.2';

/**
 * Checks a device certificate a TLS terminator forwarded on the management endpoint: signed by
 * our WSTEP CA (or one retired by a rotation), valid now, for client authentication, and issued
 * to the very enrollment the message claims (recorded in `wstep_certificates`, not revoked).
 * Fleet trusts a TLS certificate whose CN names the device; binding to the issued certificate is
 * stricter. The signature check is cached per certificate; the binding is read every message, so
 * a revocation applies at once.
 */
export class ClientCertificateVerifier {
  /** Thumbprints of certificates whose CA signature checked out, with their expiry (ms). */
  private readonly signed = new Map<string, number>();
  private caPems = '';
  private cas: X509Certificate[] = [];

  constructor(
    private readonly store: ClientCertificateStore,
    /** The current WSTEP CA first, then CAs retired by a rotation (their certificates stay valid). */
    private readonly wstepCas: () => Promise<string[]>,
    private readonly log: Logger,
  ) {}

  /** Throws ManagementFault (answered as a SOAP fault, nothing stored) unless the certificate is good. */
  async verify(forwarded: string, enrollment: WindowsEnrollment): Promise<void> {
    const refuse = (reason: string): never => {
      // The certificate itself is never logged: it identifies a device.
      this.log.warn({ enrollmentId: enrollment.id, reason }, 'windows mdm: client certificate refused');
      throw new ManagementFault(`client certificate refused: ${reason}`);
    };
    let der: Buffer;
    try {
      der = decodeForwardedCertificate(forwarded);
    } catch (err) {
      return refuse((err as Error).message);
    }
    const print = thumbprint(der);
    const cas = await this.trustedCas();
    const expiry = this.signed.get(print) ?? this.checkSignature(der, print, cas, refuse);
    if (expiry < Date.now()) refuse('certificate has expired');
    if (!(await this.store.issuedTo(enrollment.id, print)))
      refuse('certificate was not issued to this enrollment');
  }

  private async trustedCas(): Promise<X509Certificate[]> {
    const pems = await this.wstepCas();
    const joined = pems.join('\n');
    if (joined !== this.caPems) {
      this.cas = pems.map((p) => new X509Certificate(p));
      this.caPems = joined;
      this.signed.clear();
    }
    return this.cas;
  }

  /** Verifies the CA signature and validity once; returns the expiry it cached. */
  private checkSignature(
    der: Buffer,
    print: string,
    cas: X509Certificate[],
    refuse: (reason: string) => never,
  ): number {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch {
      return refuse('certificate does not parse');
    }
    if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey)))
      refuse('certificate was not issued by the WSTEP CA');
    const notBefore = Date.parse(cert.validFrom);
    const notAfter = Date.parse(cert.validTo);
    if (notBefore > Date.now() + 5 * 60_000 || notAfter < Date.now()) refuse('certificate is not valid now');
    if (cert.keyUsage && cert.keyUsage.length && !cert.keyUsage.includes(clientAuthOid))
      refuse('certificate is not for client authentication');
    if (this.signed.size >= cacheLimit) this.signed.delete(this.signed.keys().next().value as string);
    this.signed.set(print, notAfter);
    return notAfter;
  }
}
