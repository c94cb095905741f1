import { createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { buildCsr } from '../../crypto/csr.js';
import {
  buildSyncMessage,
  parseSyncMessage,
  resultsXml,
  statusXml,
  type SyncCommand,
  type SyncMessage,
} from '../syncml/codec.js';
import { credentialsHash, digestFromHash } from '../syncml/digest.js';
import {
  Action,
  base64EncodingType,
  deviceEnrollmentTokenType,
  issueRequestType,
  NS,
  renewRequestType,
  TokenValueType,
} from '../mde2/soap.js';
import { child, childrenNamed, escapeXml, parseXml, textAt, type XmlNode } from '../xml.js';

/** One node of the device's configuration tree (LocURI → value). */
export interface TreeValue {
  data: string;
  format?: string;
}

export interface SimulatedWindowsDeviceOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8080. */
  serverUrl: string;
  enrollSecret: string;
  hardwareUuid?: string;
  hardwareSerial?: string;
  hostname?: string;
  /** MS-MDE2 DeviceID and HWDevID; random when omitted. */
  deviceId?: string;
  hwDevId?: string;
  /** RSA key size for the device certificate (2048 like Windows; smaller speeds up load tests). */
  keyBits?: number;
  /** A user is signed in from the start (default true); see signIn / signOut. */
  userSignedIn?: boolean;
  /** An RSA key (PKCS#1 PEM) for every CSR instead of a new one each (the load generator shares a few). */
  keyPem?: string;
  /** Every HTTP request goes through it (the load generator measures them). */
  fetchImpl?: typeof fetch;
  /** WNS: how this PC registers a push channel for a PFN (a stand-in's `registerChannel`); absent: no push. */
  wns?: { registerChannel(pfn: string, onPush: () => void): string };
  /** Header the TLS terminator in front of the server forwards this PC's client certificate in. */
  clientCertHeader?: string;
}

export interface SessionSummary {
  messages: number;
  commandsExecuted: number;
  challenged: boolean;
}

const soapType = 'application/soap+xml; charset=utf-8';
const syncmlType = 'application/vnd.syncml.dm+xml';

/**
 * A Windows PC as the server sees it: fleetd enrollment (orbit), MS-MDE2 discovery, policy and
 * WSTEP enrollment with its own key and CSR, then OMA-DM management sessions with MD5 digest
 * authentication. It keeps a real tree of LocURI values that Add/Replace/Delete/Get act on.
 */
export class SimulatedWindowsDevice {
  readonly hardwareUuid: string;
  readonly hardwareSerial: string;
  readonly deviceId: string;
  readonly hwDevId: string;
  orbitNodeKey?: string;
  certificate?: X509Certificate;
  caCertificate?: X509Certificate;
  managementUrl?: string;
  /** Digest password from the provisioning document. */
  password?: string;
  providerId?: string;
  pollIntervalMinutes?: number;
  /** The My/WSTEP/Renew schedule the provisioning document set (days). */
  renewal?: { robo: boolean; periodDays: number; retryIntervalDays: number };
  /** The enrollment service URL from discovery; renewals go there too. */
  enrollmentServiceUrl?: string;
  private nonce?: Buffer;
  private sessionCounter = 0;
  readonly tree = new Map<string, TreeValue>();
  /** The signed-in user's `./User/` settings (kept across sign-outs, like the user's profile on disk). */
  readonly userTree = new Map<string, TreeValue>();
  /** Whether the enrolled user is signed in: LoginStatus `user` (else `none`) in each session's Alert 1224. */
  userSignedIn: boolean;
  /** Status codes this PC answers for `"<verb> <LocURI>"` (e.g. `Replace ./Device/X` → 405, a read-only node). */
  readonly refusals = new Map<string, string>();
  /** Values another authority (a local group policy) keeps on this PC: Add/Replace answer 200 but these win. */
  readonly enforced = new Map<string, TreeValue>();
  /** Every Exec the server asked for, in order. */
  readonly execs: { locUri: string; data?: string }[] = [];
  /** Every message the server sent, raw (for tests). */
  readonly received: string[] = [];
  /** Every management message this PC sent, raw, in order (for tests). */
  readonly sent: string[] = [];
  /** Certificate (PEM) forwarded in `clientCertHeader` instead of this PC's own (tests). */
  forwardedCertificatePem?: string;
  /** Sessions this PC started because WNS woke it, in order. */
  readonly pushedSessions: Promise<SessionSummary>[] = [];
  /** The session (or unenroll) running now: like Windows' DM client, one at a time. */
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: SimulatedWindowsDeviceOptions) {
    this.hardwareUuid = opts.hardwareUuid ?? randomUUID().toUpperCase();
    this.hardwareSerial = opts.hardwareSerial ?? `SIM${randomBytes(5).toString('hex').toUpperCase()}`;
    this.deviceId = opts.deviceId ?? randomBytes(16).toString('hex').toUpperCase();
    this.hwDevId = opts.hwDevId ?? randomBytes(32).toString('hex').toUpperCase();
    this.tree.set('./DevDetail/Ext/Microsoft/SMBIOSSerialNumber', { data: this.hardwareSerial });
    this.tree.set('./DevInfo/DevId', { data: this.deviceId });
    this.userSignedIn = opts.userSignedIn ?? true;
  }

  /** The enrolled user signs in: the next session's Alert 1224 says `user`, ./User/ settings apply. */
  signIn(): void {
    this.userSignedIn = true;
  }

  /** The user signs out: LoginStatus `none`, and ./User/ settings cannot be reached. */
  signOut(): void {
    this.userSignedIn = false;
  }

  private async post(
    url: string,
    contentType: string,
    body: string,
  ): Promise<{ status: number; text: string }> {
    const f = this.opts.fetchImpl ?? fetch;
    const headers: Record<string, string> = { 'content-type': contentType };
    const cert = this.forwardedCertificatePem ?? this.certificate?.toString();
    if (this.opts.clientCertHeader && cert) headers[this.opts.clientCertHeader] = encodeURIComponent(cert);
    const res = await f(url, { method: 'POST', headers, body });
    return { status: res.status, text: await res.text() };
  }

  /** fleetd: `POST /api/fleet/orbit/enroll`. */
  async orbitEnroll(): Promise<string> {
    const res = await (this.opts.fetchImpl ?? fetch)(`${this.opts.serverUrl}/api/fleet/orbit/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        enroll_secret: this.opts.enrollSecret,
        hardware_uuid: this.hardwareUuid,
        hardware_serial: this.hardwareSerial,
        hostname: this.opts.hostname ?? `DESKTOP-${this.hardwareSerial.slice(-7)}`,
        platform: 'windows',
        platform_like: 'windows',
        osquery_identifier: '',
        computer_name: this.opts.hostname ?? `DESKTOP-${this.hardwareSerial.slice(-7)}`,
        hardware_model: 'Simulated PC',
      }),
    });
    const body = (await res.json()) as { orbit_node_key?: string; error?: string };
    if (res.status !== 200 || !body.orbit_node_key)
      throw new Error(`orbit enroll failed: ${res.status} ${JSON.stringify(body)}`);
    this.orbitNodeKey = body.orbit_node_key;
    return body.orbit_node_key;
  }

  /** fleetd: `POST /api/fleet/orbit/config`. */
  async orbitConfig(): Promise<{ notifications: Record<string, unknown> }> {
    const res = await (this.opts.fetchImpl ?? fetch)(`${this.opts.serverUrl}/api/fleet/orbit/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ orbit_node_key: this.orbitNodeKey }),
    });
    if (res.status !== 200) throw new Error(`orbit config failed: ${res.status}`);
    return (await res.json()) as { notifications: Record<string, unknown> };
  }

  /** The token fleetd hands to RegisterDeviceWithManagement, base64 JSON with the node key. */
  programmaticToken(): string {
    return Buffer.from(
      JSON.stringify({ type: 1, payload: { orbit_node_key: this.orbitNodeKey, auth_token: '' } }),
    ).toString('base64');
  }

  /** What fleetd does on `needs_programmatic_windows_mdm_enrollment`: discovery, policy, enroll. */
  async enrollProgrammatically(discoveryUrl?: string): Promise<void> {
    await this.enroll(securityHeader(this.programmaticToken()), false, discoveryUrl);
  }

  /**
   * What a signed-in user does in Settings > Access work or school with on-premise credentials:
   * discovery, policy and enrollment with a WS-Security UsernameToken, outside the OOBE.
   */
  async enrollWithPassword(username: string, password: string): Promise<void> {
    const security =
      `<wsse:Security s:mustUnderstand="1"><wsse:UsernameToken u:Id="uuid-${randomUUID()}-1">` +
      `<wsse:Username>${escapeXml(username)}</wsse:Username>` +
      `<wsse:Password wsse:Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">${escapeXml(password)}</wsse:Password>` +
      `</wsse:UsernameToken></wsse:Security>`;
    await this.enroll(security, true);
  }

  private async enroll(security: string, notInOobe: boolean, discoveryUrl?: string): Promise<void> {
    const url = discoveryUrl ?? `${this.opts.serverUrl}/api/mdm/microsoft/discovery`;
    const disc = await this.soap(url, Action.discover, discoverBody());
    const result = child(disc, 'DiscoverResult');
    const policyUrl = textAt(result, 'EnrollmentPolicyServiceUrl');
    const enrollUrl = textAt(result, 'EnrollmentServiceUrl');
    if (!policyUrl || !enrollUrl) throw new Error('discovery returned no service URLs');
    this.enrollmentServiceUrl = enrollUrl;
    await this.soap(this.local(policyUrl), Action.getPolicies, getPoliciesBody(), security);
    const rstr = await this.soap(this.local(enrollUrl), Action.rst, this.rstBody(notInOobe), security);
    const bst = child(
      child(child(rstr, 'RequestSecurityTokenResponse'), 'RequestedSecurityToken'),
      'BinarySecurityToken',
    );
    if (!bst) throw new Error('enrollment returned no provisioning document');
    this.applyProvisioningDoc(Buffer.from(bst.text.trim(), 'base64').toString('utf8'));
  }

  /** Devices reach the server at the configured base even when it advertises another origin. */
  private local(url: string): string {
    const u = new URL(url);
    return this.opts.serverUrl + u.pathname + u.search;
  }

  private soapXml(url: string, action: string, body: string, security = ''): string {
    return (
      `<s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS.addressing}" xmlns:u="${NS.wsu}" xmlns:wsse="${NS.wsse}" xmlns:wst="${NS.wst}" xmlns:ac="${NS.ac}">` +
      `<s:Header><a:Action s:mustUnderstand="1">${action}</a:Action><a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>` +
      `<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>` +
      `<a:To s:mustUnderstand="1">${escapeXml(url)}</a:To>${security}</s:Header><s:Body>${body}</s:Body></s:Envelope>`
    );
  }

  /** The single body element of a SOAP answer; a fault becomes an Error with its subcode and reason. */
  private soapAnswer(text: string, status: number): XmlNode {
    const env = parseXml(text);
    const b = child(env, 'Body');
    const fault = child(b, 'fault');
    if (fault)
      throw new Error(
        `SOAP fault ${textAt(fault, 'code', 'subcode', 'value')}: ${textAt(fault, 'reason', 'text')}`,
      );
    if (!b || !b.children[0]) throw new Error(`empty SOAP answer (${status})`);
    return b.children[0];
  }

  private async soap(url: string, action: string, body: string, security = ''): Promise<XmlNode> {
    const res = await this.post(url, soapType, this.soapXml(url, action, body, security));
    return this.soapAnswer(res.text, res.status);
  }

  /** A new key and a PKCS#10 request as Windows makes them: CN `{GUID}!{DeviceID}`, SHA-256, RSA. */
  private newKeyAndCsr(): { keyPem: string; csrDer: Buffer } {
    const keyPem =
      this.opts.keyPem ??
      generateKeyPairSync('rsa', { modulusLength: this.opts.keyBits ?? 2048 })
        .privateKey.export({ type: 'pkcs1', format: 'pem' })
        .toString();
    // Signed by OpenSSL: node-forge's pure-JS RSA takes ~0.1 s per CSR, which stalls the load generator.
    const csrDer = buildCsr({
      privateKey: createPrivateKey(keyPem),
      subject: { CN: `${randomUUID().toUpperCase().slice(0, 30)}!${this.deviceId}` },
    });
    return { keyPem, csrDer };
  }

  /** The enrollment CSR (base64); its key becomes this PC's key. */
  csrBase64(): string {
    const { keyPem, csrDer } = this.newKeyAndCsr();
    this.privateKeyPem = keyPem;
    return csrDer.toString('base64');
  }
  privateKeyPem?: string;

  /**
   * MS-MDE2 renewal request (what Windows sends when RenewPeriod is reached): a new key and CSR,
   * the CSR wrapped in a CMS SignedData signed by the current certificate and key (or `signer`,
   * for tests), RequestType Renew, no header token. Returns the SOAP XML and the new key.
   */
  renewalRequest(signer?: { certPem: string; keyPem: string }): { xml: string; keyPem: string } {
    if (!this.enrollmentServiceUrl) throw new Error('not enrolled');
    const by = signer ?? {
      certPem: this.certificate?.toString() ?? '',
      keyPem: this.privateKeyPem ?? '',
    };
    if (!by.certPem || !by.keyPem) throw new Error('no certificate to renew');
    const { keyPem, csrDer } = this.newKeyAndCsr();
    const cert = forge.pki.certificateFromPem(by.certPem);
    const p7 = forge.pkcs7.createSignedData();
    p7.content = forge.util.createBuffer(csrDer.toString('binary'));
    p7.addCertificate(cert);
    p7.addSigner({
      key: forge.pki.privateKeyFromPem(by.keyPem),
      certificate: cert,
      digestAlgorithm: forge.pki.oids.sha256,
      authenticatedAttributes: [
        { type: forge.pki.oids.contentType, value: forge.pki.oids.data },
        { type: forge.pki.oids.messageDigest },
        { type: forge.pki.oids.signingTime, value: new Date() as unknown as string },
      ],
    });
    p7.sign();
    const pkcs7 = Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary').toString('base64');
    const body =
      `<wst:RequestSecurityToken><wst:TokenType>${deviceEnrollmentTokenType}</wst:TokenType><wst:RequestType>${renewRequestType}</wst:RequestType>` +
      `<wsse:BinarySecurityToken ValueType="${TokenValueType.pkcs7}" EncodingType="${base64EncodingType}">${pkcs7}</wsse:BinarySecurityToken>` +
      `<ac:AdditionalContext xmlns="${NS.ac}">` +
      `<ac:ContextItem Name="DeviceType"><ac:Value>CIMClient_Windows</ac:Value></ac:ContextItem>` +
      `<ac:ContextItem Name="ApplicationVersion"><ac:Value>10.0.22631.2861</ac:Value></ac:ContextItem>` +
      `</ac:AdditionalContext></wst:RequestSecurityToken>`;
    return { xml: this.soapXml(this.enrollmentServiceUrl, Action.rst, body), keyPem };
  }

  /**
   * Renews the MDM client certificate through the enrollment service and switches to the new
   * certificate and key; the management account (digest secret, address) stays as it was.
   */
  async renew(): Promise<X509Certificate> {
    const { xml, keyPem } = this.renewalRequest();
    const res = await this.post(this.local(this.enrollmentServiceUrl as string), soapType, xml);
    const rstr = this.soapAnswer(res.text, res.status);
    const bst = child(
      child(child(rstr, 'RequestSecurityTokenResponse'), 'RequestedSecurityToken'),
      'BinarySecurityToken',
    );
    if (!bst) throw new Error('renewal returned no provisioning document');
    this.applyCertificateStore(parseXml(Buffer.from(bst.text.trim(), 'base64').toString('utf8')));
    this.privateKeyPem = keyPem;
    return this.certificate as X509Certificate;
  }

  private rstBody(notInOobe = false): string {
    const ctx: [string, string][] = [
      ['UXInitiated', 'false'],
      ['HWDevID', this.hwDevId],
      ['Locale', 'en-US'],
      ['TargetedUserLoggedIn', 'true'],
      ['OSEdition', '48'],
      ['DeviceName', this.opts.hostname ?? `DESKTOP-${this.hardwareSerial.slice(-7)}`],
      ['MAC', '00-0C-29-7B-4E-4C'],
      ['DeviceID', this.deviceId],
      ['EnrollmentType', 'Full'],
      ['DeviceType', 'CIMClient_Windows'],
      ['OSVersion', '10.0.22631.2861'],
      ['ApplicationVersion', '10.0.22631.2861'],
      ['NotInOobe', String(notInOobe)],
      ['RequestVersion', '5.0'],
    ];
    return (
      `<wst:RequestSecurityToken><wst:TokenType>${deviceEnrollmentTokenType}</wst:TokenType><wst:RequestType>${issueRequestType}</wst:RequestType>` +
      `<wsse:BinarySecurityToken ValueType="${TokenValueType.pkcs10}" EncodingType="${base64EncodingType}">${this.csrBase64()}</wsse:BinarySecurityToken>` +
      `<ac:AdditionalContext xmlns="${NS.ac}">` +
      ctx
        .map(([n, v]) => `<ac:ContextItem Name="${n}"><ac:Value>${escapeXml(v)}</ac:Value></ac:ContextItem>`)
        .join('') +
      `</ac:AdditionalContext></wst:RequestSecurityToken>`
    );
  }

  /** Installs what the wap-provisioningdoc says: certificates, management address, digest secret, poll. */
  applyProvisioningDoc(xml: string): void {
    const doc = parseXml(xml);
    const find = (n: XmlNode, type: string) =>
      childrenNamed(n, 'characteristic').filter((c) => c.attrs.type === type);
    const parms = (n: XmlNode) =>
      Object.fromEntries(childrenNamed(n, 'parm').map((p) => [p.attrs.name, p.attrs.value ?? '']));
    this.applyCertificateStore(doc);
    const app = find(doc, 'APPLICATION')[0];
    const appParms = parms(app);
    this.managementUrl = appParms.ADDR;
    this.providerId = appParms['PROVIDER-ID'];
    const appsrv = find(app, 'APPAUTH')
      .map(parms)
      .find((p) => p.AAUTHLEVEL === 'APPSRV');
    if (!appsrv || appsrv.AAUTHNAME !== this.deviceId)
      throw new Error('provisioning document has no APPSRV credentials for this device');
    this.password = appsrv.AAUTHSECRET;
    const poll = find(find(find(find(doc, 'DMClient')[0], 'Provider')[0], this.providerId)[0], 'Poll')[0];
    this.pollIntervalMinutes = Number(parms(poll).IntervalForFirstSetOfRetries);
  }

  /** CertificateStore: a CA in Root/System, this PC's certificate in My, the WSTEP renewal schedule. */
  private applyCertificateStore(doc: XmlNode): void {
    const find = (n: XmlNode | undefined, type: string) =>
      childrenNamed(n, 'characteristic').filter((c) => c.attrs.type === type);
    const parms = (n: XmlNode | undefined) =>
      Object.fromEntries(childrenNamed(n, 'parm').map((p) => [p.attrs.name, p.attrs.value ?? '']));
    const store = find(doc, 'CertificateStore')[0];
    if (!store) throw new Error('provisioning document has no CertificateStore');
    const rootSystem = find(find(store, 'Root')[0], 'System')[0];
    const root = childrenNamed(rootSystem, 'characteristic')[0];
    if (root) this.caCertificate = new X509Certificate(Buffer.from(parms(root).EncodedCertificate, 'base64'));
    const my = find(store, 'My')[0];
    const mine = childrenNamed(my, 'characteristic').find(
      (c) => c.attrs.type === 'User' || c.attrs.type === 'System',
    );
    const certNode = childrenNamed(mine, 'characteristic').find(
      (c) => c.attrs.type !== 'PrivateKeyContainer',
    );
    if (!certNode) throw new Error('provisioning document has no client certificate');
    this.certificate = new X509Certificate(Buffer.from(parms(certNode).EncodedCertificate, 'base64'));
    const renew = parms(find(find(my, 'WSTEP')[0], 'Renew')[0]);
    if (renew.RenewPeriod)
      this.renewal = {
        robo: renew.ROBOSupport === 'true',
        periodDays: Number(renew.RenewPeriod),
        retryIntervalDays: Number(renew.RetryInterval),
      };
  }

  private cred() {
    if (!this.nonce || !this.password) return undefined;
    return {
      type: 'syncml:auth-md5',
      format: 'b64',
      data: digestFromHash(credentialsHash(this.deviceId, this.password), this.nonce),
    };
  }

  private message(sessionId: string, msgId: number, body: string[]): string {
    if (!this.managementUrl) throw new Error('not enrolled');
    return buildSyncMessage({
      sessionId,
      msgId: String(msgId),
      target: this.managementUrl,
      source: this.deviceId,
      cred: this.cred(),
      body,
    });
  }

  /** Runs `fn` after the session in progress (if any) has finished. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.running.then(fn, fn);
    this.running = run.catch(() => undefined);
    return run;
  }

  /**
   * Sends one management message and reads the answer's SyncHdr Status. A NextNonce in its Chal
   * (in a 401/407 challenge, or with a 200 as the server sends after every authenticated message)
   * is the nonce for the next message's credentials, as OMA-DM clients keep it.
   */
  private async exchange(
    sessionId: string,
    msgId: number,
    body: string[],
  ): Promise<{ text: string; answer: SyncMessage; code?: string; nextNonce?: string }> {
    const msg = this.message(sessionId, msgId, body);
    this.sent.push(msg);
    const res = await this.post(this.local(this.managementUrl as string), syncmlType, msg);
    this.received.push(res.text);
    if (res.status !== 200 || !res.text.startsWith('<SyncML'))
      throw new Error(`management answer ${res.status}: ${res.text.slice(0, 300)}`);
    const answer = parseSyncMessage(res.text);
    const hdr = answer.commands.find((c) => c.verb === 'Status' && c.cmdRef === '0');
    const nextNonce = textAt(child(child(hdr?.node, 'Chal'), 'Meta'), 'NextNonce');
    if (nextNonce) this.nonce = Buffer.from(nextNonce, 'base64');
    return { text: res.text, answer, code: hdr?.data, nextNonce };
  }

  /**
   * One management session: the first package (Alert 1201, LoginStatus, DevInfo), answering the
   * digest challenge when asked, then executing the server's commands until it sends none.
   * Sessions of one PC run one after another, never overlapping.
   */
  runSession(extraFirstPackage: string[] = []): Promise<SessionSummary> {
    return this.exclusive(() => this.session(extraFirstPackage));
  }

  private async session(extraFirstPackage: string[]): Promise<SessionSummary> {
    const sessionId = (++this.sessionCounter).toString(16).toUpperCase();
    let msgId = 1;
    const first = [
      `<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>`,
      `<Alert><CmdID>2</CmdID><Data>1224</Data><Item><Meta><Type xmlns="syncml:metinf">com.microsoft/MDM/LoginStatus</Type></Meta><Data>${this.userSignedIn ? 'user' : 'none'}</Data></Item></Alert>`,
      `<Replace><CmdID>3</CmdID>` +
        [
          ['./DevInfo/DevId', this.deviceId],
          ['./DevInfo/Man', 'Simulated'],
          ['./DevInfo/Mod', 'Simulated PC'],
          ['./DevInfo/DmV', '1.3'],
          ['./DevInfo/Lang', 'en-US'],
        ]
          .map(([u, v]) => `<Item><Source><LocURI>${u}</LocURI></Source><Data>${escapeXml(v)}</Data></Item>`)
          .join('') +
        `</Replace>`,
      ...extraFirstPackage,
    ];
    let body = first;
    let messages = 0;
    let executed = 0;
    let challenged = false;
    for (let round = 0; round < 50; round++) {
      const { answer, code, nextNonce } = await this.exchange(sessionId, msgId, body);
      messages++;
      if (code === '407' || code === '401') {
        if (!nextNonce || challenged) throw new Error(`authentication failed (${code})`);
        challenged = true;
        continue; // re-send the same package with credentials
      }
      if (code !== '200') throw new Error(`server refused the session header: ${code}`);
      const commands = answer.commands.filter((c) => c.verb !== 'Status');
      if (commands.length === 0) return { messages, commandsExecuted: executed, challenged };
      msgId++;
      body = this.execute(answer, commands);
      executed += commands.length;
    }
    throw new Error('session did not finish');
  }

  /** Sends the unenroll alert (the user removed the work account). */
  unenroll(): Promise<string> {
    return this.exclusive(async () => {
      const sessionId = (++this.sessionCounter).toString(16).toUpperCase();
      const alert = `<Alert><CmdID>2</CmdID><Data>1226</Data><Item><Meta><Type xmlns="syncml:metinf">com.microsoft:mdm.unenrollment.userrequest</Type><Format xmlns="syncml:metinf">int</Format></Meta><Data>1</Data></Item></Alert>`;
      const first = await this.exchange(sessionId, 1, [alert]);
      if (first.code !== '407' && first.code !== '401') return first.text;
      return (await this.exchange(sessionId, 1, [alert])).text;
    });
  }

  /** Executes server commands against the tree; returns Status (and Results) in command order. */
  private execute(answer: SyncMessage, commands: SyncCommand[]): string[] {
    const msgRef = answer.header.msgId;
    let id = 0;
    const out: string[] = [
      statusXml({ cmdId: String(++id), msgRef, cmdRef: '0', cmd: 'SyncHdr', code: '200' }),
    ];
    const status = (c: SyncCommand, code: string) =>
      out.push(statusXml({ cmdId: String(++id), msgRef, cmdRef: c.cmdId, cmd: c.verb, code }));
    for (const c of commands) {
      if (c.verb === 'Atomic') {
        const snapshots = [this.tree, this.userTree].map((t) => [t, new Map(t)] as const);
        const codes = c.children.map((k) => this.apply(k));
        const failed = codes.some((r) => !r.code.startsWith('2'));
        if (failed) {
          for (const [t, snapshot] of snapshots) {
            t.clear();
            for (const [k, v] of snapshot) t.set(k, v);
          }
        }
        status(c, failed ? '507' : '200');
        c.children.forEach((k, i) =>
          status(k, failed && codes[i].code.startsWith('2') ? '216' : codes[i].code),
        );
        continue;
      }
      const r = this.apply(c);
      status(c, r.code);
      if (r.results) out.push(resultsXml({ cmdId: String(++id), msgRef, cmdRef: c.cmdId, items: r.results }));
    }
    return out;
  }

  /**
   * The settings a command's LocURIs live in: `./User/` ones in the signed-in user's store, the
   * rest in the device's tree. undefined when they are the user's and nobody is signed in.
   */
  /** DMClient Push/PFN written: Windows registers a WNS channel for it and reports it in Push/ChannelURI. */
  private registerPush(c: SyncCommand): void {
    const wns = this.opts.wns;
    if (!wns) return;
    for (const i of c.items) {
      const m = /^(\.\/Vendor\/MSFT\/DMClient\/Provider\/[^/]+\/Push)\/PFN$/.exec(i.target ?? '');
      if (!m) continue;
      const uri = wns.registerChannel((i.data ?? '').trim(), () => this.woken());
      this.tree.set(`${m[1]}/ChannelURI`, { data: uri, format: 'chr' });
      this.tree.set(`${m[1]}/Status`, { data: '0', format: 'int' });
    }
  }

  /** A WNS push arrived: a session starts now (after the one in progress, if any). */
  private woken(): void {
    const session = this.runSession();
    session.catch(() => undefined);
    this.pushedSessions.push(session);
  }

  private treeFor(uris: string[]): Map<string, TreeValue> | undefined {
    if (!uris.some((u) => u.startsWith('./User/'))) return this.tree;
    return this.userSignedIn ? this.userTree : undefined;
  }

  private apply(c: SyncCommand): {
    code: string;
    results?: { locUri: string; data: string; format?: string }[];
  } {
    const uris = c.items.map((i) => i.target ?? '');
    if (uris.some((u) => !u)) return { code: '400' };
    const refused = uris.map((u) => this.refusals.get(`${c.verb} ${u}`)).find((code) => code !== undefined);
    if (refused) return { code: refused };
    const tree = this.treeFor(uris);
    // No user context: Windows fails an Add of a ./User/ node (500) and finds no other (404).
    if (!tree && c.verb !== 'Exec') return { code: c.verb === 'Add' ? '500' : '404' };
    const set = (i: SyncCommand['items'][number]) =>
      tree?.set(
        i.target as string,
        this.enforced.get(i.target as string) ?? { data: i.data ?? '', format: i.metaFormat },
      );
    const subtree = (uri: string) =>
      [...(tree?.keys() ?? [])].filter((k) => k === uri || k.startsWith(`${uri}/`));
    switch (c.verb) {
      case 'Add':
        if (uris.some((u) => tree?.has(u))) return { code: '418' };
        c.items.forEach(set);
        return { code: '200' };
      case 'Replace':
        c.items.forEach(set);
        this.registerPush(c);
        return { code: '200' };
      case 'Delete': {
        const present = uris.filter((u) => subtree(u).length > 0);
        if (present.length === 0) return { code: '404' };
        for (const u of uris) for (const k of subtree(u)) tree?.delete(k);
        return { code: '200' };
      }
      case 'Get': {
        const results: { locUri: string; data: string; format?: string }[] = [];
        for (const u of uris) {
          const v = tree?.get(u);
          if (v) results.push({ locUri: u, data: v.data, format: v.format });
          else {
            const kids = subtree(u).map((k) => k.slice(u.length + 1).split('/')[0]);
            if (kids.length === 0) return { code: '404' };
            results.push({ locUri: u, data: [...new Set(kids)].join('/'), format: 'node' });
          }
        }
        return { code: '200', results };
      }
      case 'Exec':
        c.items.forEach((i) => this.execs.push({ locUri: i.target as string, data: i.data }));
        return { code: '200' };
      default:
        return { code: '406' };
    }
  }
}

function discoverBody(): string {
  return (
    `<Discover xmlns="${NS.discovery}"><request xmlns:i="${NS.xsi}"><EmailAddress></EmailAddress><RequestVersion>5.0</RequestVersion>` +
    `<DeviceType>CIMClient_Windows</DeviceType><ApplicationVersion>10.0.22631.2861</ApplicationVersion><OSEdition>48</OSEdition>` +
    `<AuthPolicies><AuthPolicy>OnPremise</AuthPolicy><AuthPolicy>Federated</AuthPolicy></AuthPolicies></request></Discover>`
  );
}

function getPoliciesBody(): string {
  return `<GetPolicies xmlns="${NS.policy}" xmlns:xsi="${NS.xsi}"><client><lastUpdate xsi:nil="true"/><preferredLanguage xsi:nil="true"/></client><requestFilter xsi:nil="true"/></GetPolicies>`;
}

function securityHeader(token: string): string {
  return `<wsse:Security s:mustUnderstand="1"><wsse:BinarySecurityToken ValueType="${TokenValueType.programmatic}" EncodingType="${base64EncodingType}">${token}</wsse:BinarySecurityToken></wsse:Security>`;
}
