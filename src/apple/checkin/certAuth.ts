import type {
  AuthenticateMessage,
  CheckOutMessage,
  CommandReport,
  DeclarativeManagementMessage,
  GetBootstrapTokenMessage,
  GetTokenMessage,
  ReturnToServiceMessage,
  SetBootstrapTokenMessage,
  TokenUpdateMessage,
  UserAuthenticateMessage,
} from './messages.js';
import { MdmRequestError } from './messages.js';
import type { CheckinAndCommandService, MdmReply, MdmRequest } from './service.js';
import type { EnrollmentStore } from './store.js';

/**
 * First link of the chain: binds identity certificates to devices. At Authenticate the
 * certificate's hash is associated with the device channel (a certificate already bound to another
 * device is refused; a new certificate for the same device — a renewal — is added). Every other
 * message must come with a certificate associated with its device, so one device's identity
 * cannot act for another.
 */
const KNOWN_TTL_MS = 30_000;
const KNOWN_LIMIT = 100_000;

export class CertAuthService implements CheckinAndCommandService {
  /**
   * (device, certificate) pairs confirmed lately, so the hot path skips the lookup. Entries live
   * 30 s; a host deleted in another process stops being accepted here within that time.
   */
  private readonly known = new Map<string, number>();

  constructor(
    private readonly store: EnrollmentStore,
    private readonly next: CheckinAndCommandService,
    /** Also told about each association (the SCEP store links issued certificates to enrollments). */
    private readonly onAssociate?: (certDer: Buffer, deviceId: string) => Promise<void>,
  ) {}

  private async associate(r: MdmRequest): Promise<void> {
    const cert = r.cert;
    if (!cert) throw new MdmRequestError('no device certificate');
    const ids = await this.store.idsForCertificate(cert.sha256);
    if (ids.some((id) => id !== r.enrollment.deviceId)) {
      throw new MdmRequestError('certificate belongs to another enrollment');
    }
    if (ids.length === 0) {
      await this.store.associateCertificate(r.enrollment.deviceId, cert.sha256, cert.notAfter);
      await this.onAssociate?.(cert.der, r.enrollment.deviceId);
    }
  }

  private async check(r: MdmRequest): Promise<void> {
    const cert = r.cert;
    if (!cert) throw new MdmRequestError('no device certificate');
    const key = `${r.enrollment.deviceId}\n${cert.sha256}`;
    const until = this.known.get(key);
    if (until !== undefined && until > Date.now()) return;
    if (!(await this.store.hasCertificateAssociation(r.enrollment.deviceId, cert.sha256))) {
      this.known.delete(key);
      throw new MdmRequestError('certificate is not associated with this enrollment');
    }
    if (this.known.size >= KNOWN_LIMIT) this.known.delete(this.known.keys().next().value as string);
    this.known.set(key, Date.now() + KNOWN_TTL_MS);
  }

  /** Forgets cached associations of these devices (their enrollment state was deleted). */
  forgetDevices(deviceIds: string[]): void {
    const ids = new Set(deviceIds);
    for (const key of this.known.keys()) if (ids.has(key.slice(0, key.indexOf('\n')))) this.known.delete(key);
  }

  async authenticate(r: MdmRequest, m: AuthenticateMessage): Promise<void> {
    await this.associate(r);
    return this.next.authenticate(r, m);
  }

  async tokenUpdate(r: MdmRequest, m: TokenUpdateMessage): Promise<void> {
    await this.check(r);
    return this.next.tokenUpdate(r, m);
  }

  async checkOut(r: MdmRequest, m: CheckOutMessage): Promise<void> {
    await this.check(r);
    return this.next.checkOut(r, m);
  }

  async userAuthenticate(r: MdmRequest, m: UserAuthenticateMessage): Promise<MdmReply | undefined> {
    await this.check(r);
    return this.next.userAuthenticate(r, m);
  }

  async setBootstrapToken(r: MdmRequest, m: SetBootstrapTokenMessage): Promise<void> {
    await this.check(r);
    return this.next.setBootstrapToken(r, m);
  }

  async getBootstrapToken(r: MdmRequest, m: GetBootstrapTokenMessage): Promise<MdmReply | undefined> {
    await this.check(r);
    return this.next.getBootstrapToken(r, m);
  }

  async getToken(r: MdmRequest, m: GetTokenMessage): Promise<MdmReply | undefined> {
    await this.check(r);
    return this.next.getToken(r, m);
  }

  async declarativeManagement(r: MdmRequest, m: DeclarativeManagementMessage): Promise<MdmReply | undefined> {
    await this.check(r);
    return this.next.declarativeManagement(r, m);
  }

  async returnToService(r: MdmRequest, m: ReturnToServiceMessage): Promise<MdmReply | undefined> {
    await this.check(r);
    return this.next.returnToService(r, m);
  }

  async commandAndReportResults(r: MdmRequest, report: CommandReport): Promise<Buffer | undefined> {
    await this.check(r);
    return this.next.commandAndReportResults(r, report);
  }
}
