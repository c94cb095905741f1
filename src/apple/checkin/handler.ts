import { parsePlistDict, PlistParseError, type PlistValue } from '../plist/parse.js';
import type { DeviceIdentityVerifier } from './deviceIdentity.js';
import {
  enrollmentIdentity,
  MdmRequestError,
  parseCheckinMessage,
  parseCommandReport,
  type CheckinMessage,
} from './messages.js';
import type { CheckinAndCommandService, MdmReply, MdmRequest } from './service.js';

export interface DeviceHttpRequest {
  /** True for `application/x-apple-aspen-mdm-checkin`, else a command report. */
  checkin: boolean;
  body: Buffer;
  mdmSignature?: string;
  forwardedCert?: string;
  params: Record<string, string>;
}

/** What the route logs about a request (never the body, a token or a certificate). */
export interface DeviceRequestSummary {
  messageType?: string;
  enrollmentId?: string;
  status?: string;
  commandUuid?: string;
}

const MAX_ID_LENGTH = 255;

/**
 * Turns one device HTTP request into a call on the check-in chain: verify the device certificate,
 * parse the plist once, work out the enrollment, dispatch by MessageType / Status. Throws
 * MdmRequestError for anything the device got wrong.
 */
export class AppleCheckinHandler {
  constructor(
    private readonly identity: DeviceIdentityVerifier,
    private readonly chain: CheckinAndCommandService,
  ) {}

  async handle(req: DeviceHttpRequest, summary: DeviceRequestSummary = {}): Promise<MdmReply | undefined> {
    // The signature first: it costs a hash of the body and one verify, while parsing costs time
    // in proportion to what an unauthenticated sender chose to put in the body.
    const cert = await this.identity.identify(req.body, req.mdmSignature, req.forwardedCert);
    let dict: Record<string, PlistValue>;
    try {
      dict = parsePlistDict(req.body);
    } catch (err) {
      if (err instanceof PlistParseError) throw new MdmRequestError(`malformed plist: ${err.message}`);
      throw err;
    }
    const enrollment = enrollmentIdentity(dict);
    summary.enrollmentId = enrollment.id.slice(0, MAX_ID_LENGTH);
    if (enrollment.id.length > MAX_ID_LENGTH) throw new MdmRequestError('enrollment id too long');
    // Validate the message fully before any storage.
    let message: CheckinMessage | undefined;
    let report;
    if (req.checkin) {
      message = parseCheckinMessage(dict);
      summary.messageType = message.messageType;
    } else {
      report = parseCommandReport(dict);
      summary.status = report.status;
      summary.commandUuid = report.commandUuid;
    }
    const r: MdmRequest = { enrollment, cert, params: req.params, raw: req.body, notes: {} };
    if (report) {
      const next = await this.chain.commandAndReportResults(r, report);
      return next ? { status: 200, body: next, contentType: 'application/xml; charset=UTF-8' } : undefined;
    }
    const m = message!;
    switch (m.messageType) {
      case 'Authenticate':
        await this.chain.authenticate(r, m);
        return undefined;
      case 'TokenUpdate':
        await this.chain.tokenUpdate(r, m);
        return undefined;
      case 'CheckOut':
        await this.chain.checkOut(r, m);
        return undefined;
      case 'UserAuthenticate':
        return this.chain.userAuthenticate(r, m);
      case 'SetBootstrapToken':
        await this.chain.setBootstrapToken(r, m);
        return undefined;
      case 'GetBootstrapToken':
        return this.chain.getBootstrapToken(r, m);
      case 'GetToken':
        return this.chain.getToken(r, m);
      case 'DeclarativeManagement':
        return this.chain.declarativeManagement(r, m);
      case 'ReturnToService':
        return this.chain.returnToService(r, m);
    }
  }
}
