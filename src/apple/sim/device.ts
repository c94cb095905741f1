import { randomBytes, randomUUID } from 'node:crypto';
import { cmsSign, cmsVerifyAttached } from '../../crypto/cms.js';
import { buildPlist } from '../commands/build.js';
import { EnrollmentIds } from '../enrollment/profile.js';
import { parsePlist, parsePlistDict, type PlistValue } from '../plist/parse.js';
import { scepEnroll } from '../scep/client.js';

/**
 * A simulated Apple device that speaks the MDM protocol as a Mac or iPhone does: makes its own key,
 * enrolls over SCEP with the challenge from the enrollment profile, signs every request with
 * `Mdm-Signature`, sends Authenticate and TokenUpdate, and answers commands (keeping a real set of
 * installed profiles). Used by end-to-end tests and by the load generator.
 */

type Dict = Record<string, PlistValue>;

export type SimulatedPlatform = 'macos' | 'ios' | 'ipados';

export interface SimulatedAppleDeviceOptions {
  /** The server's base URL (e.g. `http://127.0.0.1:8080`); used when no profile says otherwise. */
  serverUrl: string;
  platform?: SimulatedPlatform;
  udid?: string;
  serial?: string;
  deviceName?: string;
  osVersion?: string;
  /** An identity to use instead of enrolling over SCEP (load tests seed devices this way). */
  identity?: { certPem: string; keyPem: string };
  /** The APNs topic when no enrollment profile was read. */
  topic?: string;
  fetchImpl?: typeof fetch;
}

export interface EnrollmentProfileInfo {
  scepUrl: string;
  challenge: string;
  subject: Record<string, string>;
  serverUrl: string;
  checkInUrl: string;
  topic: string;
  /** The profile's top-level PayloadIdentifier: removing it turns MDM off (the device checks out). */
  identifier?: string;
}

export interface ReceivedCommand {
  commandUuid: string;
  requestType: string;
  command: Dict;
}

export interface InstalledProfile {
  identifier: string;
  uuid: string;
  displayName: string;
  payload: Buffer;
}

/** Answers a device can be told to give for a request type instead of carrying it out. */
export type ForcedAnswer = 'Error' | 'NotNow' | 'CommandFormatError';

const checkinType = 'application/x-apple-aspen-mdm-checkin';
const reportType = 'application/x-apple-aspen-mdm';

export class DeviceHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`server answered HTTP ${status}: ${body.slice(0, 200)}`);
  }
}

/** Reads the SCEP and MDM payloads out of a (possibly CMS-signed) enrollment profile. */
export function readEnrollmentProfile(bytes: Buffer): EnrollmentProfileInfo {
  const xml = bytes[0] === 0x30 ? cmsVerifyAttached(bytes).content : bytes;
  const profile = parsePlistDict(xml);
  const payloads = (profile.PayloadContent ?? []) as Dict[];
  const scep = payloads.find((p) => p.PayloadType === 'com.apple.security.scep');
  const mdm = payloads.find((p) => p.PayloadType === 'com.apple.mdm');
  if (!scep || !mdm) throw new Error('enrollment profile lacks a SCEP or MDM payload');
  const sc = scep.PayloadContent as Dict;
  const subject: Record<string, string> = {};
  for (const rdn of (sc.Subject ?? []) as PlistValue[][][]) {
    for (const [k, v] of rdn) subject[String(k)] = String(v);
  }
  const serverUrl = String(mdm.ServerURL);
  return {
    scepUrl: String(sc.URL),
    challenge: String(sc.Challenge ?? ''),
    subject,
    serverUrl,
    checkInUrl: String(mdm.CheckInURL ?? serverUrl),
    topic: String(mdm.Topic),
    identifier: profile.PayloadIdentifier === undefined ? undefined : String(profile.PayloadIdentifier),
  };
}

export class SimulatedAppleDevice {
  readonly udid: string;
  readonly serial: string;
  readonly platform: SimulatedPlatform;
  deviceName: string;
  osVersion: string;
  identity?: { certPem: string; keyPem: string };
  /** The APNs token and magic this device invented. */
  readonly pushToken = randomBytes(32);
  pushMagic = randomUUID().toUpperCase();
  topic: string;
  serverUrl: string;
  checkInUrl: string;
  profileInfo?: EnrollmentProfileInfo;
  /** Installed configuration profiles by top-level PayloadIdentifier. */
  readonly profiles = new Map<string, InstalledProfile>();
  /** Every command received, in order. */
  readonly received: ReceivedCommand[] = [];
  /** Request types this device answers with a forced status instead of doing them. */
  readonly forcedAnswers = new Map<string, ForcedAnswer>();
  private readonly fetchImpl: typeof fetch;
  /** Set when the enrollment profile was removed: the device checks out after acknowledging. */
  private checkOutAfterReport = false;
  private pushListener?: Promise<unknown>;

  constructor(opts: SimulatedAppleDeviceOptions) {
    this.platform = opts.platform ?? 'macos';
    this.udid =
      opts.udid ??
      (this.platform === 'macos'
        ? randomUUID().toUpperCase()
        : `00008030-${randomBytes(8).toString('hex').toUpperCase()}`);
    this.serial = opts.serial ?? `SIM${randomBytes(5).toString('hex').toUpperCase()}`;
    this.deviceName =
      opts.deviceName ??
      `Simulated ${this.platform === 'macos' ? 'Mac' : this.platform === 'ios' ? 'iPhone' : 'iPad'}`;
    this.osVersion = opts.osVersion ?? (this.platform === 'macos' ? '14.4.1' : '17.4');
    this.identity = opts.identity;
    this.topic = opts.topic ?? 'com.apple.mgmt.External.00000000-0000-0000-0000-000000000000';
    this.serverUrl = `${opts.serverUrl.replace(/\/$/, '')}/mdm/apple/mdm`;
    this.checkInUrl = this.serverUrl;
    this.fetchImpl = opts.fetchImpl ?? fetch;
  }

  get productName(): string {
    return this.platform === 'macos' ? 'Mac15,3' : this.platform === 'ios' ? 'iPhone15,2' : 'iPad13,1';
  }

  get pushTokenHex(): string {
    return this.pushToken.toString('hex');
  }

  /** Reads an enrollment profile (bytes, or downloaded from a URL such as `/api/mdm/apple/enroll?token=`). */
  async loadEnrollmentProfile(source: Buffer | string): Promise<EnrollmentProfileInfo> {
    let bytes: Buffer;
    if (typeof source === 'string') {
      const res = await this.fetchImpl(source);
      bytes = Buffer.from(await res.arrayBuffer());
      if (!res.ok) throw new DeviceHttpError(res.status, bytes.toString('utf8'));
    } else bytes = source;
    const info = readEnrollmentProfile(bytes);
    this.profileInfo = info;
    this.topic = info.topic;
    this.serverUrl = info.serverUrl;
    this.checkInUrl = info.checkInUrl;
    return info;
  }

  /** Gets an identity certificate over SCEP with the profile's challenge and subject. */
  async scepEnroll(opts: { subject?: Record<string, string> } = {}): Promise<void> {
    const info = this.profileInfo;
    if (!info) throw new Error('load an enrollment profile first');
    const subject = { ...(opts.subject ?? info.subject) };
    const cn = subject.CN ?? 'Fleet Identity';
    delete subject.CN;
    const got = await scepEnroll({
      url: info.scepUrl,
      challenge: info.challenge,
      subjectCN: cn,
      subject,
      fetchImpl: this.fetchImpl,
    });
    this.identity = { certPem: got.certPem, keyPem: got.keyPem };
  }

  /** Installs the enrollment profile as a device does: SCEP, Authenticate, TokenUpdate. */
  async enroll(profileSource?: Buffer | string): Promise<void> {
    if (profileSource !== undefined) await this.loadEnrollmentProfile(profileSource);
    if (!this.identity) await this.scepEnroll();
    await this.authenticate();
    await this.tokenUpdate();
  }

  private enrollmentKeys(): Dict {
    return { UDID: this.udid };
  }

  async authenticate(): Promise<void> {
    const msg: Dict = {
      MessageType: 'Authenticate',
      Topic: this.topic,
      ...this.enrollmentKeys(),
      SerialNumber: this.serial,
      ProductName: this.productName,
      OSVersion: this.osVersion,
      BuildVersion: '23E224',
    };
    if (this.platform === 'macos')
      Object.assign(msg, { DeviceName: this.deviceName, Model: this.productName, ModelName: 'MacBook Pro' });
    await this.checkin(msg);
  }

  async tokenUpdate(): Promise<void> {
    await this.checkin({
      MessageType: 'TokenUpdate',
      Topic: this.topic,
      ...this.enrollmentKeys(),
      Token: this.pushToken,
      PushMagic: this.pushMagic,
      AwaitingConfiguration: false,
    });
  }

  async checkOut(): Promise<void> {
    await this.checkin({ MessageType: 'CheckOut', Topic: this.topic, ...this.enrollmentKeys() });
  }

  /** Sends a check-in message; returns the answer body (empty when none). Throws on non-200. */
  async checkin(message: Dict): Promise<Buffer> {
    const res = await this.send(this.checkInUrl, checkinType, buildPlist(message));
    if (res.status !== 200) throw new DeviceHttpError(res.status, res.body.toString('utf8'));
    return res.body;
  }

  /** Sends raw bytes signed with this device's identity; returns status and body. */
  async send(
    url: string,
    contentType: string,
    body: Buffer,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Buffer }> {
    if (!this.identity) throw new Error('the device has no identity yet');
    const signature = cmsSign(body, this.identity, { detached: true }).toString('base64');
    const res = await this.fetchImpl(url, {
      method: 'PUT',
      headers: { 'content-type': contentType, 'mdm-signature': signature, ...headers },
      body: new Uint8Array(body),
    });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  }

  /** Sends one report; returns the next command (undefined when the server has nothing). */
  async report(report: Dict): Promise<ReceivedCommand | undefined> {
    const res = await this.send(
      this.serverUrl,
      reportType,
      buildPlist({ ...this.enrollmentKeys(), ...report }),
    );
    if (res.status !== 200) throw new DeviceHttpError(res.status, res.body.toString('utf8'));
    if (res.body.length === 0) return undefined;
    const cmd = parsePlistDict(res.body);
    const command = cmd.Command as Dict;
    const received = {
      commandUuid: String(cmd.CommandUUID),
      requestType: String(command.RequestType),
      command,
    };
    this.received.push(received);
    return received;
  }

  /**
   * One session: reports Idle, then carries out each command it gets and reports the result,
   * until the server answers with an empty body. Returns the commands handled in this session.
   */
  async connect(): Promise<ReceivedCommand[]> {
    const handled: ReceivedCommand[] = [];
    let next = await this.report({ Status: 'Idle' });
    while (next) {
      handled.push(next);
      if (handled.length > 1000) throw new Error('server keeps sending commands');
      next = await this.report(this.answer(next));
      if (this.checkOutAfterReport) {
        // As a Mac does once its enrollment profile is removed: MDM is off, it says so and stops.
        this.checkOutAfterReport = false;
        await this.checkOut();
        break;
      }
    }
    return handled;
  }

  /** The report for a command: its result, or the forced answer for its request type. */
  answer(cmd: ReceivedCommand): Dict {
    const base = { CommandUUID: cmd.commandUuid };
    const forced = this.forcedAnswers.get(cmd.requestType);
    if (forced === 'NotNow') return { ...base, Status: 'NotNow' };
    if (forced) {
      return {
        ...base,
        Status: forced,
        ErrorChain: [
          {
            ErrorCode: 12345,
            ErrorDomain: 'MCMDMErrorDomain',
            LocalizedDescription: 'Simulated failure',
            USEnglishDescription: 'Simulated failure',
          },
        ],
      };
    }
    const c = cmd.command;
    switch (cmd.requestType) {
      case 'InstallProfile': {
        const payload = c.Payload;
        if (!Buffer.isBuffer(payload)) return { ...base, Status: 'CommandFormatError' };
        try {
          const xml = payload[0] === 0x30 ? cmsVerifyAttached(payload).content : payload;
          const p = parsePlistDict(xml);
          const identifier = String(p.PayloadIdentifier ?? '');
          if (!identifier) throw new Error('no PayloadIdentifier');
          this.profiles.set(identifier, {
            identifier,
            uuid: String(p.PayloadUUID ?? ''),
            displayName: String(p.PayloadDisplayName ?? ''),
            payload,
          });
          return { ...base, Status: 'Acknowledged' };
        } catch (err) {
          return {
            ...base,
            Status: 'Error',
            ErrorChain: [
              {
                ErrorCode: 4001,
                ErrorDomain: 'MCProfileErrorDomain',
                LocalizedDescription: `The profile could not be installed: ${(err as Error).message}`,
              },
            ],
          };
        }
      }
      case 'RemoveProfile': {
        const id = String(c.Identifier ?? '');
        if (id === (this.profileInfo?.identifier ?? EnrollmentIds.profileIdentifier)) {
          this.checkOutAfterReport = true;
          return { ...base, Status: 'Acknowledged' };
        }
        if (!this.profiles.delete(id)) {
          return {
            ...base,
            Status: 'Error',
            ErrorChain: [
              {
                ErrorCode: 1001,
                ErrorDomain: 'MCProfileErrorDomain',
                LocalizedDescription: 'The profile is not installed.',
              },
            ],
          };
        }
        return { ...base, Status: 'Acknowledged' };
      }
      case 'ProfileList':
        return {
          ...base,
          Status: 'Acknowledged',
          ProfileList: [...this.profiles.values()].map((p) => ({
            PayloadIdentifier: p.identifier,
            PayloadUUID: p.uuid,
            PayloadDisplayName: p.displayName,
            PayloadVersion: 1,
            IsManaged: true,
          })),
        };
      case 'DeviceInformation':
        return {
          ...base,
          Status: 'Acknowledged',
          QueryResponses: this.deviceInformation((c.Queries ?? []) as string[]),
        };
      case 'SecurityInfo':
        return {
          ...base,
          Status: 'Acknowledged',
          SecurityInfo:
            this.platform === 'macos'
              ? {
                  FDE_Enabled: false,
                  SystemIntegrityProtectionEnabled: true,
                  ManagementStatus: {
                    EnrolledViaDEP: false,
                    UserApprovedEnrollment: true,
                    IsUserEnrollment: false,
                  },
                }
              : { PasscodePresent: true, PasscodeCompliant: true, HardwareEncryptionCaps: 3 },
        };
      default:
        return { ...base, Status: 'Acknowledged' };
    }
  }

  private deviceInformation(queries: string[]): Dict {
    const all: Dict = {
      UDID: this.udid,
      SerialNumber: this.serial,
      DeviceName: this.deviceName,
      ProductName: this.productName,
      Model: this.productName,
      ModelName: this.platform === 'macos' ? 'MacBook Pro' : this.platform === 'ios' ? 'iPhone' : 'iPad',
      OSVersion: this.osVersion,
      BuildVersion: '23E224',
      IsSupervised: false,
      WiFiMAC: '00:11:22:33:44:55',
      DeviceCapacity: 494.38,
      AvailableDeviceCapacity: 200.5,
      TimeZone: 'UTC',
    };
    if (queries.length === 0) return all;
    return Object.fromEntries(queries.filter((q) => q in all).map((q) => [q, all[q]]));
  }

  /**
   * Wakes on pushes from an APNs stand-in: each push to this device's token runs `connect()`.
   * Errors are kept in `lastWakeError` (a real device would simply try again later).
   */
  listenForPushes(apns: { onPush(token: string, fn: () => void | Promise<void>): unknown }): void {
    apns.onPush(this.pushTokenHex, () => {
      this.pushListener = this.connect().catch((err: unknown) => {
        this.lastWakeError = err;
      });
    });
  }

  lastWakeError: unknown;

  /** Resolves when the session started by the last push has finished. */
  async settled(): Promise<void> {
    await this.pushListener;
  }
}

/** Parses any XML plist (re-exported for tests that read command payloads). */
export { parsePlist };
