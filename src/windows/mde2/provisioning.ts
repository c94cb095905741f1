import { escapeXml } from '../xml.js';

/** The ProviderID: DMClient provider, APPLICATION PROVIDER-ID and the DMAcc account all use it. */
export const windowsProviderId = 'Fleet';

/**
 * What the CertificateStore CSP's My/WSTEP/Renew node tells the device: start renewing this many
 * days before the certificate expires, retry a failed renewal after this many days, and renew on
 * its own (ROBO, no user prompt).
 */
export interface RenewalSchedule {
  periodDays: number;
  retryIntervalDays: number;
}

/** Used when no setting is given: two months ahead, retried every 4 days (Fleet's retry interval). */
export const defaultRenewalSchedule: RenewalSchedule = { periodDays: 60, retryIntervalDays: 4 };

export interface ProvisioningDocInput {
  caCertDer: Buffer;
  caThumbprint: string;
  clientCertDer: Buffer;
  clientThumbprint: string;
  /** `Device` installs the client certificate in the System store, anything else in User. */
  enrollType: string;
  managementUrl: string;
  deviceId: string;
  /** Digest password the device uses to authenticate its SyncML sessions. */
  password: string;
  pollIntervalMinutes: number;
  renewal?: RenewalSchedule;
}

const parm = (name: string, value?: string, datatype?: string) =>
  `<parm name="${name}"${value === undefined ? '' : ` value="${escapeXml(value)}"`}${datatype ? ` datatype="${datatype}"` : ''}/>`;
const ch = (type: string, inner: string) =>
  inner
    ? `<characteristic type="${escapeXml(type)}">${inner}</characteristic>`
    : `<characteristic type="${escapeXml(type)}"/>`;

const wstepRenew = (r: RenewalSchedule) =>
  ch(
    'WSTEP',
    ch(
      'Renew',
      parm('ROBOSupport', 'true', 'boolean') +
        parm('RenewPeriod', String(r.periodDays), 'integer') +
        parm('RetryInterval', String(r.retryIntervalDays), 'integer'),
    ),
  );

/**
 * MS-MDE2 §2.2.9.1 wap-provisioningdoc: certificate stores (CA in Root/System, the device's
 * certificate in My), the w7 APPLICATION with digest APPAUTH both ways, and the DMClient poll
 * schedule. One line, no tabs or newlines, as Windows expects.
 */
export function buildProvisioningDoc(p: ProvisioningDocInput): string {
  const store = p.enrollType === 'Device' ? 'System' : 'User';
  const certificates = ch(
    'CertificateStore',
    ch('Root', ch('System', ch(p.caThumbprint, parm('EncodedCertificate', p.caCertDer.toString('base64'))))) +
      ch(
        'My',
        ch(
          store,
          ch(p.clientThumbprint, parm('EncodedCertificate', p.clientCertDer.toString('base64'))) +
            ch('PrivateKeyContainer', ''),
        ) + wstepRenew(p.renewal ?? defaultRenewalSchedule),
      ),
  );
  const application = ch(
    'APPLICATION',
    parm('PROVIDER-ID', windowsProviderId) +
      parm('APPID', 'w7') +
      parm('NAME', windowsProviderId) +
      parm('ADDR', p.managementUrl) +
      parm('CONNRETRYFREQ', '6') +
      parm('INITIALBACKOFFTIME', '30000') +
      parm('MAXBACKOFFTIME', '120000') +
      parm('DEFAULTENCODING', 'application/vnd.syncml.dm+xml') +
      parm('BACKCOMPATRETRYDISABLED') +
      ch(
        'APPAUTH',
        parm('AAUTHLEVEL', 'CLIENT') +
          parm('AAUTHTYPE', 'DIGEST') +
          parm('AAUTHSECRET', 'dummy') +
          parm('AAUTHDATA', 'nonce'),
      ) +
      ch(
        'APPAUTH',
        parm('AAUTHLEVEL', 'APPSRV') +
          parm('AAUTHTYPE', 'DIGEST') +
          parm('AAUTHNAME', p.deviceId) +
          parm('AAUTHSECRET', p.password) +
          parm('AAUTHDATA', 'nonce'),
      ),
  );
  const int = (n: string, v: number) => parm(n, String(v), 'integer');
  const poll = ch(
    'DMClient',
    ch(
      'Provider',
      ch(
        windowsProviderId,
        ch(
          'Poll',
          parm('AllUsersPollOnFirstLogin', 'true', 'boolean') +
            parm('PollOnLogin', 'true', 'boolean') +
            int('NumberOfFirstRetries', 0) +
            int('IntervalForFirstSetOfRetries', p.pollIntervalMinutes) +
            int('NumberOfSecondRetries', 0) +
            int('IntervalForSecondSetOfRetries', 0) +
            int('NumberOfRemainingScheduledRetries', 0) +
            int('IntervalForRemainingScheduledRetries', 0),
        ),
      ),
    ),
  );
  return `<?xml version="1.0" encoding="UTF-8"?><wap-provisioningdoc version="1.1">${certificates}${application}${poll}</wap-provisioningdoc>`;
}

/**
 * The answer to a renewal (MS-MDE2 3.5): only the certificate store changes. The new certificate
 * goes to My/<User|System> as at enrollment and the renewal schedule is restated; the management
 * account, its digest secret and the poll schedule stay as they are. The CA goes to Root/System
 * only when a rotated CA issued the new certificate.
 */
export function buildRenewalProvisioningDoc(p: {
  clientCertDer: Buffer;
  clientThumbprint: string;
  enrollType: string;
  renewal: RenewalSchedule;
  newCa?: { der: Buffer; thumbprint: string };
}): string {
  const store = p.enrollType === 'Device' ? 'System' : 'User';
  const root = p.newCa
    ? ch(
        'Root',
        ch('System', ch(p.newCa.thumbprint, parm('EncodedCertificate', p.newCa.der.toString('base64')))),
      )
    : '';
  const certificates = ch(
    'CertificateStore',
    root +
      ch(
        'My',
        ch(
          store,
          ch(p.clientThumbprint, parm('EncodedCertificate', p.clientCertDer.toString('base64'))) +
            ch('PrivateKeyContainer', ''),
        ) + wstepRenew(p.renewal),
      ),
  );
  return `<?xml version="1.0" encoding="UTF-8"?><wap-provisioningdoc version="1.1">${certificates}</wap-provisioningdoc>`;
}
