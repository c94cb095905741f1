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
import type { EnrollmentClaims } from './enrollmentClaims.js';
import type { CheckinAndCommandService, DeviceCertificate, MdmReply, MdmRequest } from './service.js';
import type { EnrollmentStore } from './store.js';

/** Told about a refused claim on an enrolled UDID (recorded on the host, audited). */
export type ClaimConflictListener = (c: {
  deviceId: string;
  cert: DeviceCertificate;
  certSerial: number | null;
  reason: string;
}) => Promise<void>;

/**
 * First link of the chain: binds identity certificates to devices. At Authenticate the claim rules
 * (EnrollmentClaims) decide whether this certificate may act as the UDID: a certificate we issued,
 * not revoked, bound to no other device, and for an enrolled UDID only on a genuine re-enrollment.
 * Every other message must come with a certificate associated with its device, so one device's
 * identity cannot act for another. Nothing is cached: check-in messages are rare and look the
 * binding up; command reports (the hot path) have it checked inside the core's own statements, so
 * deleting a host (which removes the binding and revokes its certificates) takes effect at once in
 * every process.
 */
export class CertAuthService implements CheckinAndCommandService {
  constructor(
    private readonly store: EnrollmentStore,
    private readonly claims: EnrollmentClaims,
    private readonly next: CheckinAndCommandService,
    private readonly hooks: {
      /** Also told about each association (the SCEP store links issued certificates to enrollments). */
      onAssociate?: (certDer: Buffer, deviceId: string) => Promise<void>;
      onConflict?: ClaimConflictListener;
    } = {},
  ) {}

  private async associate(r: MdmRequest): Promise<void> {
    const cert = r.cert;
    if (!cert) throw new MdmRequestError('no device certificate');
    const deviceId = r.enrollment.deviceId;
    const decision = await this.claims.decide(deviceId, cert.sha256);
    if (!decision.allowed) {
      if (decision.conflict) {
        await this.hooks.onConflict?.({
          deviceId,
          cert,
          certSerial: decision.certSerial,
          reason: decision.reason,
        });
      }
      throw new MdmRequestError(decision.reason);
    }
    r.notes.claimGround = decision.ground;
    if (decision.ground !== 'associated') {
      await this.store.associateCertificate(deviceId, cert.sha256, cert.notAfter);
      await this.hooks.onAssociate?.(cert.der, deviceId);
    }
  }

  private async check(r: MdmRequest): Promise<void> {
    const cert = r.cert;
    if (!cert) throw new MdmRequestError('no device certificate');
    if (!(await this.store.hasCertificateAssociation(r.enrollment.deviceId, cert.sha256))) {
      throw new MdmRequestError('certificate is not associated with this enrollment');
    }
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
    if (!r.cert) throw new MdmRequestError('no device certificate');
    // Checked by the core in the statements it runs anyway (see CoreCheckinService).
    r.notes.certificateAssociation = { deviceId: r.enrollment.deviceId, sha256: r.cert.sha256 };
    return this.next.commandAndReportResults(r, report);
  }
}
