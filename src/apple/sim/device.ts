import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { cmsSign, cmsVerifyAttached } from '../../crypto/cms.js';
import { selfSignedCertificate } from '../../crypto/issue.js';
import { buildPlist } from '../commands/build.js';
import { allAccessRights, EnrollmentIds } from '../enrollment/profile.js';
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
  /**
   * An account-driven User Enrollment (BYOD): the device identifies itself by EnrollmentID (the
   * `udid` value) and its enrollment profile names this Managed Apple Account.
   */
  userEnrollment?: { managedAppleId: string };
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
  /** What a replacement profile must keep (reference 1.6); absent keys were absent in the profile. */
  profileUuid?: string;
  scepIdentifier?: string;
  scepUuid?: string;
  mdmIdentifier?: string;
  mdmUuid?: string;
  identityCertificateUuid?: string;
  accessRights?: number;
  serverCapabilities?: string[];
  enrollmentMode?: string;
  managedAppleId?: string;
}

/** How a device renews its identity when a new enrollment profile arrives. */
export type ScepRenewalMode = 'challenge' | 'renewalReq';

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

/** What the device answers to SecurityInfo (tests change it to see the server pick it up). */
export interface SimulatedSecurityState {
  fdeEnabled: boolean;
  sipEnabled: boolean;
  firewallEnabled: boolean;
  firewallBlockAllIncoming: boolean;
  firewallStealthMode: boolean;
  enrolledViaDep: boolean;
  userApprovedEnrollment: boolean;
  passcodePresent: boolean;
  passcodeCompliant: boolean;
}

/** Answers a device can be told to give for a request type instead of carrying it out. */
export type ForcedAnswer = 'Error' | 'NotNow' | 'CommandFormatError';

const checkinType = 'application/x-apple-aspen-mdm-checkin';
const reportType = 'application/x-apple-aspen-mdm';

/** The enroll endpoint's 403: Setup Assistant must update the OS before it may enroll. */
export class SoftwareUpdateRequiredError extends Error {
  constructor(readonly body: { code?: string; details?: { OSVersion?: string; BuildVersion?: string } }) {
    super(
      `software update required: ${body.details?.OSVersion ?? '?'} (${body.details?.BuildVersion ?? '?'})`,
    );
  }
}

/** How an ADE device hands its machine info to the enroll URL. */
export type MachineInfoTransport = 'body' | 'header' | 'query';

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
  const opt = (v: PlistValue | undefined) => (v === undefined ? undefined : String(v));
  return {
    scepUrl: String(sc.URL),
    challenge: String(sc.Challenge ?? ''),
    subject,
    serverUrl,
    checkInUrl: String(mdm.CheckInURL ?? serverUrl),
    topic: String(mdm.Topic),
    identifier: opt(profile.PayloadIdentifier),
    profileUuid: opt(profile.PayloadUUID),
    scepIdentifier: opt(scep.PayloadIdentifier),
    scepUuid: opt(scep.PayloadUUID),
    mdmIdentifier: opt(mdm.PayloadIdentifier),
    mdmUuid: opt(mdm.PayloadUUID),
    identityCertificateUuid: opt(mdm.IdentityCertificateUUID),
    accessRights: typeof mdm.AccessRights === 'number' ? mdm.AccessRights : undefined,
    serverCapabilities: Array.isArray(mdm.ServerCapabilities) ? mdm.ServerCapabilities.map(String) : [],
    enrollmentMode: opt(mdm.EnrollmentMode),
    managedAppleId: opt(mdm.AssignedManagedAppleID),
  };
}

/** Whether a profile (possibly CMS-signed) carries an MDM payload, i.e. is an enrollment profile. */
export function isEnrollmentProfile(bytes: Buffer): boolean {
  try {
    const xml = bytes[0] === 0x30 ? cmsVerifyAttached(bytes).content : bytes;
    const payloads = parsePlistDict(xml).PayloadContent;
    return Array.isArray(payloads) && payloads.some((p) => (p as Dict)?.PayloadType === 'com.apple.mdm');
  } catch {
    return false;
  }
}

/**
 * Why a device refuses `next` as the replacement of the installed enrollment profile `current`
 * (reference 1.6), or undefined when it accepts it: one MDM payload per device, identifiers and
 * UUIDs kept, ServerURL / CheckInURL / Topic unchanged, no AccessRights added, per-user connections
 * and the user-enrollment keys unchanged.
 */
export function enrollmentReplacementProblem(
  current: EnrollmentProfileInfo,
  next: EnrollmentProfileInfo,
): string | undefined {
  if (next.identifier !== current.identifier)
    return 'A profile with an MDM payload is already installed; only one is allowed.';
  for (const k of [
    'profileUuid',
    'scepIdentifier',
    'scepUuid',
    'mdmIdentifier',
    'mdmUuid',
    'identityCertificateUuid',
  ] as const) {
    if (next[k] !== current[k]) return `The replacement profile changes ${k}.`;
  }
  for (const k of ['serverUrl', 'checkInUrl', 'topic', 'enrollmentMode', 'managedAppleId'] as const) {
    if (next[k] !== current[k]) return `The MDM payload's ${k} cannot change.`;
  }
  if ((next.accessRights ?? 0) & ~(current.accessRights ?? 0))
    return 'The replacement profile adds AccessRights.';
  const perUser = (i: EnrollmentProfileInfo) =>
    (i.serverCapabilities ?? []).includes('com.apple.mdm.per-user-connections');
  if (perUser(next) !== perUser(current)) return 'Per-user connections cannot be added or removed.';
  return undefined;
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
  /** The macOS user whose user channel is on (after connectUser), and that user's profiles. */
  user?: { userId: string; shortName: string; longName: string };
  readonly userProfiles = new Map<string, InstalledProfile>();
  /** Commands received on the user channel, in order (they are in `received` too). */
  readonly userReceived: ReceivedCommand[] = [];
  readonly userPushToken = randomBytes(32);
  /** Every command received, in order. */
  readonly received: ReceivedCommand[] = [];
  /** Request types this device answers with a forced status instead of doing them. */
  readonly forcedAnswers = new Map<string, ForcedAnswer>();
  private readonly fetchImpl: typeof fetch;
  /** Set when the enrollment profile was removed: the device checks out after acknowledging. */
  private checkOutAfterReport = false;
  private pushListener?: Promise<unknown>;
  /**
   * ADE: the device waits in Setup Assistant (TokenUpdate says AwaitingConfiguration) until the
   * server sends DeviceConfigured.
   */
  awaitingConfiguration = false;
  /** Sent in the machine info: whether MDM may make the device update its OS first. */
  canRequestSoftwareUpdate = true;
  /** What AccountConfiguration asked for (the local account Setup Assistant will create). */
  accountConfiguration?: { fullName: string; userName: string; locked: boolean };
  /** What SecurityInfo reports (FileVault, SIP, firewall, management status, passcode). */
  readonly security: SimulatedSecurityState = {
    fdeEnabled: false,
    sipEnabled: true,
    firewallEnabled: false,
    firewallBlockAllIncoming: false,
    firewallStealthMode: false,
    enrolledViaDep: false,
    userApprovedEnrollment: true,
    passcodePresent: true,
    passcodeCompliant: true,
  };
  /** When set, sent as the SecurityInfo dict as is (to test how the server takes a bad answer). */
  securityInfoOverride?: Dict;
  /** Packages installed with InstallEnterpriseApplication: URL, size, SHA-256 (hex). */
  readonly installedPackages: { url: string; size: number; sha256: string }[] = [];
  /** How a new enrollment profile renews the identity: its SCEP challenge, or a RenewalReq. */
  scepRenewalMode: ScepRenewalMode = 'challenge';
  /** Identities this device replaced through an enrollment profile sent as InstallProfile. */
  readonly replacedIdentities: { certPem: string; keyPem: string }[] = [];
  readonly userEnrollment?: { managedAppleId: string };
  private machineInfoSigner?: { certPem: string; keyPem: string };

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
    this.userEnrollment = opts.userEnrollment;
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
  async scepEnroll(opts: { subject?: Record<string, string>; keyPem?: string } = {}): Promise<void> {
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
      // A key made ahead (the load generator makes them off the event loop); a new one otherwise.
      keyPem: opts.keyPem,
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
    return this.userEnrollment ? { EnrollmentID: this.udid } : { UDID: this.udid };
  }

  /**
   * The enrollment profile installed now: the one read, or (for a device given its identity
   * directly) the server's standard profile at the URL and topic it was created with.
   */
  installedEnrollment(): EnrollmentProfileInfo {
    if (this.profileInfo) return this.profileInfo;
    const ue = this.userEnrollment;
    return {
      scepUrl: '',
      challenge: '',
      subject: {},
      serverUrl: this.serverUrl,
      checkInUrl: this.checkInUrl,
      topic: this.topic,
      identifier: EnrollmentIds.profileIdentifier,
      profileUuid: EnrollmentIds.profileUuid,
      scepIdentifier: EnrollmentIds.scepIdentifier,
      scepUuid: EnrollmentIds.scepUuid,
      mdmIdentifier: EnrollmentIds.mdmIdentifier,
      mdmUuid: EnrollmentIds.mdmUuid,
      identityCertificateUuid: EnrollmentIds.scepUuid,
      accessRights: ue ? undefined : allAccessRights,
      serverCapabilities: ['com.apple.mdm.per-user-connections', 'com.apple.mdm.bootstraptoken'],
      enrollmentMode: ue ? 'BYOD' : undefined,
      managedAppleId: ue?.managedAppleId,
    };
  }

  /**
   * An enrollment profile sent as InstallProfile replaces the installed one as a device does it:
   * refused unless it keeps what reference 1.6 requires; then SCEP with the new profile's URL and
   * challenge (or a RenewalReq signed by the current identity), Authenticate and TokenUpdate with
   * the new identity, and only then the acknowledgement (sent with the new identity). Any failure
   * leaves the old identity in place and answers Error.
   */
  private async installEnrollmentProfile(cmd: ReceivedCommand, payload: Buffer): Promise<Dict> {
    const fail = (code: number, text: string): Dict => ({
      CommandUUID: cmd.commandUuid,
      Status: 'Error',
      ErrorChain: [
        {
          ErrorCode: code,
          ErrorDomain: 'MCInstallationErrorDomain',
          LocalizedDescription: text,
          USEnglishDescription: text,
        },
      ],
    });
    let next: EnrollmentProfileInfo;
    try {
      next = readEnrollmentProfile(payload);
    } catch (err) {
      return fail(4001, `The profile could not be read: ${(err as Error).message}`);
    }
    const problem = enrollmentReplacementProblem(this.installedEnrollment(), next);
    if (problem) return fail(4022, problem);
    const previous = this.identity;
    const subject = { ...next.subject };
    const cn = subject.CN ?? 'Fleet Identity';
    delete subject.CN;
    try {
      const got = await scepEnroll({
        url: next.scepUrl,
        challenge: next.challenge,
        subjectCN: cn,
        subject,
        ...(this.scepRenewalMode === 'renewalReq' && previous ? { renew: previous } : {}),
        fetchImpl: this.fetchImpl,
      });
      this.identity = { certPem: got.certPem, keyPem: got.keyPem };
      await this.authenticate();
      await this.tokenUpdate();
    } catch (err) {
      this.identity = previous;
      return fail(4003, `The enrollment could not be renewed: ${(err as Error).message}`);
    }
    if (previous) this.replacedIdentities.push(previous);
    this.profileInfo = next;
    return { CommandUUID: cmd.commandUuid, Status: 'Acknowledged' };
  }

  async authenticate(): Promise<void> {
    const msg: Dict = {
      MessageType: 'Authenticate',
      Topic: this.topic,
      ...this.enrollmentKeys(),
      // A User Enrollment keeps the hardware serial from the server.
      ...(this.userEnrollment ? {} : { SerialNumber: this.serial }),
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
      AwaitingConfiguration: this.awaitingConfiguration,
    });
  }

  /** Apple's MachineInfo plist, CMS-signed as Setup Assistant sends it (by a device key of its own). */
  signedMachineInfo(): Buffer {
    if (!this.machineInfoSigner) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const cert = selfSignedCertificate({
        privateKey,
        subject: { CN: `Apple Device ${this.udid}` },
        hours: 24,
      });
      this.machineInfoSigner = {
        certPem: cert.certPem,
        keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      };
    }
    const info: Dict = {
      UDID: this.udid,
      SERIAL: this.serial,
      PRODUCT: this.productName,
      VERSION: '23E224',
      OS_VERSION: this.osVersion,
      LANGUAGE: 'en',
      MDM_CAN_REQUEST_SOFTWARE_UPDATE: this.canRequestSoftwareUpdate,
    };
    return cmsSign(buildPlist(info), this.machineInfoSigner);
  }

  /**
   * Automated Device Enrollment as Setup Assistant does it: hands its signed machine info to the
   * ADE profile's URL (POST body by default, or the web-view header / query), then installs the
   * enrollment profile it gets and enrolls, staying in Setup Assistant until DeviceConfigured.
   * Throws SoftwareUpdateRequiredError on the server's 403 (the device would update first).
   */
  async adeEnroll(enrollUrl: string, opts: { via?: MachineInfoTransport } = {}): Promise<void> {
    const signed = this.signedMachineInfo();
    const via = opts.via ?? 'body';
    let url = enrollUrl;
    const init: RequestInit = { method: via === 'body' ? 'POST' : 'GET', headers: {} };
    if (via === 'body') {
      init.headers = { 'content-type': 'application/pkcs7-signature' };
      init.body = new Uint8Array(signed);
    } else if (via === 'header') {
      init.headers = { 'x-apple-aspen-deviceinfo': signed.toString('base64') };
    } else {
      url += `${url.includes('?') ? '&' : '?'}deviceinfo=${encodeURIComponent(signed.toString('base64'))}`;
    }
    const res = await this.fetchImpl(url, init);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status === 403) {
      let body: unknown;
      try {
        body = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new DeviceHttpError(res.status, bytes.toString('utf8'));
      }
      const b = body as { code?: string };
      if (b?.code === 'com.apple.softwareupdate.required') throw new SoftwareUpdateRequiredError(b);
      throw new DeviceHttpError(res.status, bytes.toString('utf8'));
    }
    if (!res.ok) throw new DeviceHttpError(res.status, bytes.toString('utf8'));
    this.awaitingConfiguration = true;
    // SecurityInfo's ManagementStatus reports an ADE enrollment from now on.
    this.security.enrolledViaDep = true;
    await this.enroll(bytes);
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
  async report(report: Dict, keys: Dict = this.enrollmentKeys()): Promise<ReceivedCommand | undefined> {
    const res = await this.send(this.serverUrl, reportType, buildPlist({ ...keys, ...report }));
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
      next = await this.report(await this.respond(next));
      if (this.checkOutAfterReport) {
        // As a Mac does once its enrollment profile is removed: MDM is off, it says so and stops.
        this.checkOutAfterReport = false;
        await this.checkOut();
        break;
      }
    }
    return handled;
  }

  /** The user channel's enrollment keys (macOS: the device's UDID plus the user's). */
  private userKeys(): Dict {
    const u = this.user;
    if (!u) throw new Error('no user channel: call connectUser first');
    return { UDID: this.udid, UserID: u.userId, UserShortName: u.shortName, UserLongName: u.longName };
  }

  /**
   * A user logs in and the Mac turns on that user's channel, as macOS does: a TokenUpdate carrying
   * the user's UserID, short and long name (on the device's identity) with the user's own token.
   */
  async connectUser(user: { userId?: string; shortName?: string; longName?: string } = {}): Promise<void> {
    this.user = {
      userId: user.userId ?? randomUUID().toUpperCase(),
      shortName: user.shortName ?? 'sim',
      longName: user.longName ?? 'Simulated User',
    };
    await this.checkin({
      MessageType: 'TokenUpdate',
      Topic: this.topic,
      ...this.userKeys(),
      Token: this.userPushToken,
      PushMagic: this.pushMagic,
    });
  }

  /** One session on the user channel: commands there act on the user's profiles. */
  async connectUserChannel(): Promise<ReceivedCommand[]> {
    const handled: ReceivedCommand[] = [];
    let next = await this.report({ Status: 'Idle' }, this.userKeys());
    while (next) {
      handled.push(next);
      this.userReceived.push(next);
      if (handled.length > 1000) throw new Error('server keeps sending commands');
      next = await this.report(this.answer(next, this.userProfiles), this.userKeys());
    }
    return handled;
  }

  /** The end user removes a profile on the device (it is gone from the next ProfileList). */
  removeProfileLocally(identifier: string): boolean {
    return this.profiles.delete(identifier);
  }

  /** The report for a command, including those that need the network (InstallEnterpriseApplication). */
  async respond(cmd: ReceivedCommand): Promise<Dict> {
    if (cmd.requestType === 'InstallEnterpriseApplication' && !this.forcedAnswers.has(cmd.requestType)) {
      return this.installEnterpriseApplication(cmd);
    }
    const payload = cmd.command.Payload;
    if (
      cmd.requestType === 'InstallProfile' &&
      !this.forcedAnswers.has(cmd.requestType) &&
      Buffer.isBuffer(payload) &&
      isEnrollmentProfile(payload)
    ) {
      return this.installEnrollmentProfile(cmd, payload);
    }
    return this.answer(cmd);
  }

  /**
   * Downloads the manifest (embedded, or from ManifestURL) and each software package it lists,
   * checking the SHA-256 (or MD5) hashes as the manifest gives them: one hash of the whole file,
   * or one per `<hash>-size` bytes.
   */
  private async installEnterpriseApplication(cmd: ReceivedCommand): Promise<Dict> {
    const base = { CommandUUID: cmd.commandUuid };
    const fail = (code: number, text: string): Dict => ({
      ...base,
      Status: 'Error',
      ErrorChain: [
        {
          ErrorCode: code,
          ErrorDomain: 'MCInstallationErrorDomain',
          LocalizedDescription: text,
          USEnglishDescription: text,
        },
      ],
    });
    try {
      let manifest = cmd.command.Manifest as Dict | undefined;
      if (!manifest && typeof cmd.command.ManifestURL === 'string') {
        const res = await this.fetchImpl(cmd.command.ManifestURL);
        if (!res.ok) return fail(4000, `The manifest could not be downloaded (HTTP ${res.status}).`);
        manifest = parsePlistDict(Buffer.from(await res.arrayBuffer()));
      }
      const items = (manifest?.items ?? []) as Dict[];
      if (!items.length) return { ...base, Status: 'CommandFormatError' };
      for (const item of items) {
        for (const asset of (item.assets ?? []) as Dict[]) {
          if (asset.kind !== 'software-package') continue;
          const url = String(asset.url ?? '');
          const res = await this.fetchImpl(url);
          if (!res.ok) return fail(4001, `The package could not be downloaded (HTTP ${res.status}).`);
          const pkg = Buffer.from(await res.arrayBuffer());
          for (const algo of ['sha256', 'md5'] as const) {
            const hashes = asset[`${algo}s`];
            if (!Array.isArray(hashes) || hashes.length === 0) continue;
            const size = Number(asset[`${algo}-size`] ?? 0);
            const expected = hashes.map((h) => String(h).toLowerCase());
            const got =
              expected.length === 1
                ? [createHash(algo).update(pkg).digest('hex')]
                : Array.from({ length: Math.ceil(pkg.length / size) }, (_, i) =>
                    createHash(algo)
                      .update(pkg.subarray(i * size, (i + 1) * size))
                      .digest('hex'),
                  );
            if (got.join() !== expected.join())
              return fail(4002, 'The package does not match its manifest hash.');
          }
          this.installedPackages.push({
            url,
            size: pkg.length,
            sha256: createHash('sha256').update(pkg).digest('hex'),
          });
        }
      }
      return { ...base, Status: 'Acknowledged' };
    } catch (err) {
      return fail(4003, `The installation failed: ${(err as Error).message}`);
    }
  }

  /** The report for a command: its result, or the forced answer for its request type. */
  answer(cmd: ReceivedCommand, profiles: Map<string, InstalledProfile> = this.profiles): Dict {
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
          profiles.set(identifier, {
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
        if (!profiles.delete(id)) {
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
          ProfileList: [...profiles.values()].map((p) => ({
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
      case 'DeviceConfigured':
        // Setup Assistant goes on: the device leaves the ADE hold.
        this.awaitingConfiguration = false;
        return { ...base, Status: 'Acknowledged' };
      case 'AccountConfiguration':
        this.accountConfiguration = {
          fullName: String(c.PrimaryAccountFullName ?? ''),
          userName: String(c.PrimaryAccountUserName ?? ''),
          locked: c.LockPrimaryAccountInfo === true,
        };
        return { ...base, Status: 'Acknowledged' };
      case 'SecurityInfo':
        return { ...base, Status: 'Acknowledged', SecurityInfo: this.securityInfo() };
      default:
        return { ...base, Status: 'Acknowledged' };
    }
  }

  /** The SecurityInfo dict as a Mac or an iPhone/iPad reports it, from `security`. */
  private securityInfo(): Dict {
    if (this.securityInfoOverride) return this.securityInfoOverride;
    const s = this.security;
    const management: Dict = {
      EnrolledViaDEP: s.enrolledViaDep,
      UserApprovedEnrollment: s.userApprovedEnrollment,
      IsUserEnrollment: Boolean(this.userEnrollment),
    };
    if (this.platform === 'macos') {
      return {
        FDE_Enabled: s.fdeEnabled,
        FDE_HasPersonalRecoveryKey: s.fdeEnabled,
        FDE_HasInstitutionalRecoveryKey: false,
        SystemIntegrityProtectionEnabled: s.sipEnabled,
        FirewallSettings: {
          FirewallEnabled: s.firewallEnabled,
          BlockAllIncoming: s.firewallBlockAllIncoming,
          StealthMode: s.firewallStealthMode,
          Applications: [],
        },
        SecureBoot: { SecureBootLevel: 'full', ExternalBootLevel: 'disallowed' },
        ManagementStatus: management,
      };
    }
    return {
      HardwareEncryptionCaps: 3,
      PasscodePresent: s.passcodePresent,
      PasscodeCompliant: s.passcodeCompliant,
      PasscodeCompliantWithProfiles: s.passcodeCompliant,
      ManagementStatus: management,
    };
  }

  /** Sends a GetToken check-in (`com.apple.maid`, `com.apple.watch.pairing`, …); returns the body. */
  getToken(tokenServiceType: string, tokenParameters?: Dict): Promise<Buffer> {
    return this.checkin({
      MessageType: 'GetToken',
      ...this.enrollmentKeys(),
      TokenServiceType: tokenServiceType,
      ...(tokenParameters ? { TokenParameters: tokenParameters } : {}),
    });
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
