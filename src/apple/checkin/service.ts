import type { X509Certificate } from 'node:crypto';
import type { CertificateAssociation } from '../commands/store.js';
import type { ClaimGround } from './enrollmentClaims.js';
import type {
  AuthenticateMessage,
  CheckOutMessage,
  CommandReport,
  DeclarativeManagementMessage,
  EnrollmentIdentity,
  GetBootstrapTokenMessage,
  GetTokenMessage,
  ReturnToServiceMessage,
  SetBootstrapTokenMessage,
  TokenUpdateMessage,
  UserAuthenticateMessage,
} from './messages.js';

/** The device's identity certificate, already verified against the SCEP CA. */
export interface DeviceCertificate {
  der: Buffer;
  /** Lower-case hex SHA-256 of the DER, the key of certificate associations. */
  sha256: string;
  x509: X509Certificate;
  notAfter: Date;
}

/** What happened at Authenticate, decided by the core link and read by the Fleet link. */
export type AuthenticateKind = 'first' | 'reenrollment' | 'renewal' | 'migration';

/** One device request as it travels down the chain; links may note facts for later links. */
export interface MdmRequest {
  enrollment: EnrollmentIdentity;
  cert?: DeviceCertificate;
  /** Query parameters of the ServerURL (Fleet uses `enroll_reference` and `byod`). */
  params: Record<string, string>;
  /** The exact request body. */
  raw: Buffer;
  notes: {
    /** Why the certificate may act as this UDID (set by cert auth at Authenticate). */
    claimGround?: ClaimGround;
    authenticateKind?: AuthenticateKind;
    tokenUpdateTally?: number;
    /** This TokenUpdate is the first on an enrollment imported from another MDM (`flotilla import`). */
    importedEnrollment?: boolean;
    enrollmentEnabled?: boolean;
    /** The request type of the command a report answers (looked up by CommandUUID). */
    reportedRequestType?: string;
    /** The report's CommandUUID was not queued for this enrollment; its result was dropped. */
    reportDropped?: boolean;
    /**
     * Set by the certificate link on command reports: the core checks this binding inside the
     * statements that store the report and fetch the next command (no extra round trip, no cache).
     */
    certificateAssociation?: CertificateAssociation;
  };
}

/** A reply to a check-in that has a body. */
export interface MdmReply {
  status: number;
  body: Buffer | string;
  contentType?: string;
}

/**
 * Every check-in message type and the command report, as one interface that each link of the
 * chain implements: certificate authentication → core protocol storage → Fleet behaviour.
 * `undefined` means "200 with an empty body".
 */
export interface CheckinAndCommandService {
  authenticate(r: MdmRequest, m: AuthenticateMessage): Promise<void>;
  tokenUpdate(r: MdmRequest, m: TokenUpdateMessage): Promise<void>;
  checkOut(r: MdmRequest, m: CheckOutMessage): Promise<void>;
  userAuthenticate(r: MdmRequest, m: UserAuthenticateMessage): Promise<MdmReply | undefined>;
  setBootstrapToken(r: MdmRequest, m: SetBootstrapTokenMessage): Promise<void>;
  getBootstrapToken(r: MdmRequest, m: GetBootstrapTokenMessage): Promise<MdmReply | undefined>;
  getToken(r: MdmRequest, m: GetTokenMessage): Promise<MdmReply | undefined>;
  declarativeManagement(r: MdmRequest, m: DeclarativeManagementMessage): Promise<MdmReply | undefined>;
  returnToService(r: MdmRequest, m: ReturnToServiceMessage): Promise<MdmReply | undefined>;
  /** Stores the report and returns the next command's plist, or undefined when nothing is queued. */
  commandAndReportResults(r: MdmRequest, report: CommandReport): Promise<Buffer | undefined>;
}

/** A link that reacts to messages after the core has stored them; every hook is optional. */
export type CheckinHooks = Partial<{
  [K in keyof CheckinAndCommandService]: (
    ...args: Parameters<CheckinAndCommandService[K]>
  ) => Promise<unknown>;
}>;
