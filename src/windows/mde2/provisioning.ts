import { escapeXml } from '../xml.js';

/** The ProviderID: DMClient provider, APPLICATION PROVIDER-ID and the DMAcc account all use it. */
export const windowsProviderId = 'Fleet';

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
}

const parm = (name: string, value?: string, datatype?: string) =>
  `<parm name="${name}"${value === undefined ? '' : ` value="${escapeXml(value)}"`}${datatype ? ` datatype="${datatype}"` : ''}/>`;
const ch = (type: string, inner: string) =>
  inner
    ? `<characteristic type="${escapeXml(type)}">${inner}</characteristic>`
    : `<characteristic type="${escapeXml(type)}"/>`;

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
        ) +
          ch(
            'WSTEP',
            ch(
              'Renew',
              parm('ROBOSupport', 'true', 'boolean') +
                parm('RenewPeriod', '365', 'integer') +
                parm('RetryInterval', '4', 'integer'),
            ),
          ),
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
