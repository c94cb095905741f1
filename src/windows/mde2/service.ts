import { randomUUID, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { child, childrenNamed, errorDetail, textAt } from '../xml.js';
import type { WindowsEnrollment, WindowsMdmStore } from '../store.js';
import { credentialsHash } from '../syncml/digest.js';
import { readEnrollmentCredential, type EnrollmentCredential } from './auth.js';
import { CsrError, decodeBase64Lenient, parseWindowsCsr } from './csr.js';
import { discoverResponse, getPoliciesResponse, requestSecurityTokenResponse } from './messages.js';
import { issueDeviceCertificate, thumbprint } from './issuance.js';
import { buildProvisioningDoc, defaultRenewalSchedule, type RenewalSchedule } from './provisioning.js';
import {
  Action,
  deviceEnrollmentTokenType,
  issueRequestType,
  NS,
  renewRequestType,
  parseSoapRequest,
  SoapFault,
  TokenValueType,
  type SoapRequest,
} from './soap.js';

/** The identity an enrollment is made for, after its credential was checked. */
export interface EnrollingIdentity {
  /** Host UUID when the host is known (programmatic enrollment); '' otherwise. */
  hostUuid: string;
  hostId?: number;
  /** Stored as enroll_user_id: the orbit node key or the user name. */
  userId: string;
}

/** Checks a credential; implementations decide per flavour (programmatic, on-premise, Entra). */
export interface EnrollmentAuthorizer {
  authorize(cred: EnrollmentCredential): Promise<EnrollingIdentity>;
}

export interface EnrollmentHooks {
  /** Called after the enrollment row is stored: turn MDM on for the host, record activity. */
  enrolled(e: {
    enrollmentId: number;
    reused: boolean;
    identity: EnrollingIdentity;
    deviceName: string;
    managementUrl: string;
  }): Promise<void>;
}

export interface WindowsCa {
  certPem: string;
  keyPem: string;
}

export interface EnrollmentServiceOptions {
  serverUrl: () => Promise<string>;
  ca: () => Promise<WindowsCa>;
  pollIntervalMinutes: number;
  /** When the device renews its certificate (provisioning document and enrollment policy). */
  renewalSchedule?: RenewalSchedule;
  /** Answers RequestSecurityToken with the Renew request type (see renewal.ts). */
  renewal?: { renew(req: SoapRequest): Promise<string> };
}

export const windowsPaths = {
  discovery: '/api/mdm/microsoft/discovery',
  policy: '/api/mdm/microsoft/policy',
  enroll: '/api/mdm/microsoft/enroll',
  management: '/api/mdm/microsoft/management',
} as const;

const supportedRequestVersions = new Set(['4.0', '5.0', '6.0', '7.0']);

/** MS-MDE2 discovery, MS-XCEP policy and MS-WSTEP enrollment, as pure string-in, string-out calls. */
export class WindowsEnrollmentService {
  private caDerCache?: { pem: string; der: Buffer };

  constructor(
    private readonly store: WindowsMdmStore,
    private readonly authorizer: EnrollmentAuthorizer,
    private readonly hooks: EnrollmentHooks,
    private readonly opts: EnrollmentServiceOptions,
    private readonly log: Logger,
  ) {}

  private expectAction(req: SoapRequest, action: string, bodyName: string, bodyNs: string[]): void {
    if (req.action !== action)
      throw new SoapFault('s:messageformat', `unexpected action ${errorDetail(req.action)}`);
    if (req.body.name !== bodyName)
      throw new SoapFault('s:messageformat', `expected <${bodyName}> in the SOAP Body`);
    if (!bodyNs.includes(req.body.ns))
      throw new SoapFault('s:messageformat', `<${bodyName}> is in the wrong namespace`);
  }

  async discover(xml: string): Promise<string> {
    const req = parseSoapRequest(xml);
    // The MS documentation sample writes the namespace with a trailing slash; accept both.
    this.expectAction(req, Action.discover, 'Discover', [NS.discovery, `${NS.discovery}/`]);
    const request = child(req.body, 'request');
    if (!request) throw new SoapFault('s:messageformat', 'Discover needs a request element');
    const version = textAt(request, 'RequestVersion') ?? '';
    if (!supportedRequestVersions.has(version))
      throw new SoapFault('s:messageformat', `unsupported RequestVersion "${errorDetail(version, 32)}"`);
    const policies = childrenNamed(child(request, 'AuthPolicies'), 'AuthPolicy').map((p) => p.text.trim());
    if (!policies.includes('OnPremise'))
      throw new SoapFault('s:messageformat', 'the device must offer the OnPremise auth policy');
    const base = await this.opts.serverUrl();
    return discoverResponse(req.messageId, {
      policy: base + windowsPaths.policy,
      enroll: base + windowsPaths.enroll,
    });
  }

  async getPolicies(xml: string): Promise<string> {
    const req = parseSoapRequest(xml);
    this.expectAction(req, Action.getPolicies, 'GetPolicies', [NS.policy]);
    await this.authorizer.authorize(readEnrollmentCredential(req.header));
    return getPoliciesResponse(req.messageId, this.renewalSchedule.periodDays * 86_400);
  }

  async enroll(xml: string): Promise<string> {
    const req = parseSoapRequest(xml);
    this.expectAction(req, Action.rst, 'RequestSecurityToken', [NS.wst]);
    // A renewal carries no header token: the certificate that signs its request authenticates it.
    if (textAt(req.body, 'RequestType') === renewRequestType) {
      if (!this.opts.renewal) throw new SoapFault('s:messageformat', 'certificate renewal is not offered');
      return this.opts.renewal.renew(req);
    }
    const identity = await this.authorizer.authorize(readEnrollmentCredential(req.header));

    const rst = req.body;
    if (textAt(rst, 'TokenType') !== deviceEnrollmentTokenType)
      throw new SoapFault('s:messageformat', 'unsupported TokenType');
    if (textAt(rst, 'RequestType') !== issueRequestType)
      throw new SoapFault('s:messageformat', 'only the Issue request type is supported');
    const bst = child(rst, 'BinarySecurityToken', NS.wsse);
    if (!bst || bst.attrs.ValueType !== TokenValueType.pkcs10)
      throw new SoapFault('s:certificaterequest', 'a PKCS#10 BinarySecurityToken is required');

    const context = new Map<string, string>();
    for (const item of childrenNamed(child(rst, 'AdditionalContext', NS.ac), 'ContextItem')) {
      const name = item.attrs.Name;
      if (name && !context.has(name)) context.set(name, textAt(item, 'Value') ?? '');
    }
    const need = (name: string) => {
      const v = context.get(name)?.trim();
      if (!v) throw new SoapFault('s:messageformat', `context item ${name} is required`);
      return v;
    };
    const hwDevId = need('HWDevID');
    const deviceId = need('DeviceID');
    need('OSEdition');
    need('OSVersion');
    const enrollType = need('EnrollmentType');
    if (enrollType !== 'Full' && enrollType !== 'Device')
      throw new SoapFault('s:messageformat', 'EnrollmentType must be Full or Device');
    if (hwDevId.length > 255 || deviceId.length > 255)
      throw new SoapFault('s:messageformat', 'device identifiers are too long');

    let csr;
    try {
      csr = parseWindowsCsr(decodeBase64Lenient(bst.text));
    } catch (err) {
      throw new SoapFault(
        's:certificaterequest',
        err instanceof CsrError ? err.message : 'bad certificate request',
      );
    }

    const ca = await this.opts.ca();
    const caDer = this.caDer(ca.certPem);
    const base = await this.opts.serverUrl();
    const managementUrl = base + windowsPaths.management;
    const password = randomUUID();
    const saved = await this.store.saveEnrollment(
      {
        mdm_device_id: deviceId,
        mdm_hardware_id: hwDevId,
        device_type: context.get('DeviceType') ?? '',
        device_name: context.get('DeviceName') ?? '',
        enroll_type: enrollType,
        enroll_user_id: identity.userId,
        enroll_proto_version: context.get('RequestVersion') || 'request_version_not_present',
        enroll_client_version: context.get('ApplicationVersion') ?? '',
        not_in_oobe: (context.get('NotInOobe') ?? '').toLowerCase() === 'true',
        host_uuid: identity.hostUuid,
        credentials_hash: credentialsHash(deviceId, password),
      },
      (serial) => issueDeviceCertificate({ csr, hwDevId, serial, ca }),
    );
    const issued = saved.certificate;
    const doc = buildProvisioningDoc({
      caCertDer: caDer,
      caThumbprint: thumbprint(caDer),
      clientCertDer: issued.certDer,
      clientThumbprint: issued.thumbprint,
      enrollType,
      managementUrl,
      deviceId,
      password,
      pollIntervalMinutes: this.opts.pollIntervalMinutes,
      renewal: this.renewalSchedule,
    });
    this.log.info(
      { enrollmentId: saved.id, reused: saved.reused, hostUuid: identity.hostUuid },
      'windows mdm: device enrolled',
    );
    await this.hooks.enrolled({
      enrollmentId: saved.id,
      reused: saved.reused,
      identity,
      deviceName: context.get('DeviceName') ?? '',
      managementUrl,
    });
    return requestSecurityTokenResponse(req.messageId, doc);
  }

  private get renewalSchedule(): RenewalSchedule {
    return this.opts.renewalSchedule ?? defaultRenewalSchedule;
  }

  private caDer(pem: string): Buffer {
    if (this.caDerCache?.pem !== pem) this.caDerCache = { pem, der: new X509Certificate(pem).raw };
    return this.caDerCache.der;
  }

  enrollmentByDeviceId(deviceId: string): Promise<WindowsEnrollment | undefined> {
    return this.store.enrollmentByDeviceId(deviceId);
  }
}
