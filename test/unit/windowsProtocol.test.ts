import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { prepareCommand, commandUuidOfCmdRef } from '../../src/windows/commands.js';
import { CsrError, decodeBase64Lenient, parseWindowsCsr } from '../../src/windows/mde2/csr.js';
import { buildProvisioningDoc } from '../../src/windows/mde2/provisioning.js';
import { parseSoapRequest, SoapFault } from '../../src/windows/mde2/soap.js';
import { readEnrollmentCredential } from '../../src/windows/mde2/auth.js';
import { parseSyncMessage, SyncmlError } from '../../src/windows/syncml/codec.js';
import { digestFromHash, digestMatches } from '../../src/windows/syncml/digest.js';
import { parseXml, parseXmlFragment } from '../../src/windows/xml.js';

const vector = (name: string) => readFileSync(new URL(`../vectors/windows/${name}`, import.meta.url), 'utf8');
const vectorPath = (name: string) => fileURLToPath(new URL(`../vectors/windows/${name}`, import.meta.url));
const readVector = (name: string) => {
  try {
    return vector(name);
  } catch {
    return readFileSync(vectorPath(name), 'utf8');
  }
};

function csrOf(xml: string): string {
  return /#PKCS10"[^>]*>([^<]+)</.exec(xml)?.[1] ?? '';
}

describe('Windows CSR handling', () => {
  it('accepts the real Windows CSR (PrintableString CN with ! and NUL, SHA-1 under 1.3.14.3.2.29)', () => {
    const csr = parseWindowsCsr(
      decodeBase64Lenient(csrOf(readVector('fleet_unittest_requestsecuritytoken_real_device.xml'))),
    );
    expect(csr.signatureOid).toBe('1.3.14.3.2.29');
    expect(csr.subject.CN).toBe('2B9B52AC-DF38-4161-8142-F4B1E0!DB257C3A08778F4FB61E2749066C1F27');
    expect(csr.publicKeyPem).toContain('BEGIN PUBLIC KEY');
  });

  it('accepts the programmatic CSR with line breaks (SHA-256)', () => {
    const csr = parseWindowsCsr(
      decodeBase64Lenient(csrOf(readVector('fleet_mdmtest_enroll_request_programmatic.xml'))),
    );
    expect(csr.signatureOid).toBe('1.2.840.113549.1.1.11');
  });

  it('rejects a tampered signature and data that is not PKCS#10', () => {
    const der = decodeBase64Lenient(csrOf(readVector('fleet_unittest_requestsecuritytoken_real_device.xml')));
    const bad = Buffer.from(der);
    bad[bad.length - 5] ^= 0xff;
    expect(() => parseWindowsCsr(bad)).toThrow(/does not verify/);
    expect(() => parseWindowsCsr(Buffer.from('hello world'))).toThrow(CsrError);
    expect(() =>
      decodeBase64Lenient('DER format PKCS#10 certificate request in Base64 encoding Insterted Here'),
    ).toThrow(CsrError);
  });
});

describe('SOAP requests', () => {
  it('parses every enrollment vector and reads the programmatic token', () => {
    for (const f of [
      'fleet_unittest_discover_request.xml',
      'fleet_mdmtest_discover_request_programmatic.xml',
      'msdocs_onprem_discover_request.xml',
    ]) {
      const r = parseSoapRequest(readVector(f));
      expect(r.body.name).toBe('Discover');
    }
    const pol = parseSoapRequest(readVector('fleet_mdmtest_getpolicies_request_programmatic.xml'));
    expect(pol.messageId).toBe('urn:uuid:72048B64-0F19-448F-8C2E-B4C661860AA0');
    expect(readEnrollmentCredential(pol.header)).toEqual({
      kind: 'programmatic',
      orbitNodeKey: 'example-orbit-node-key',
    });
    const onprem = parseSoapRequest(readVector('msdocs_onprem_getpolicies_request_usernametoken.xml'));
    expect(readEnrollmentCredential(onprem.header)).toMatchObject({
      kind: 'onPremise',
      username: 'user@contoso.com',
    });
    // The real-device vector's token is base64 of "helloworld": not JSON, so an authentication fault.
    const real = parseSoapRequest(readVector('fleet_unittest_requestsecuritytoken_real_device.xml'));
    expect(() => readEnrollmentCredential(real.header)).toThrow(SoapFault);
  });

  it('faults on missing MessageID, wrong envelope namespace and malformed XML', () => {
    const good = readVector('fleet_unittest_discover_request.xml');
    expect(() => parseSoapRequest(good.replace(/<a:MessageID>.*<\/a:MessageID>/, ''))).toThrow(/MessageID/);
    expect(() =>
      parseSoapRequest(
        good.replace('http://www.w3.org/2003/05/soap-envelope', 'http://schemas.xmlsoap.org/soap/envelope/'),
      ),
    ).toThrow(/SOAP 1.2/);
    expect(() => parseSoapRequest(good.slice(0, 200))).toThrow(/well-formed/);
  });
});

describe('SyncML codec', () => {
  it('parses the client init package in order and keeps Data intact', () => {
    const m = parseSyncMessage(readVector('fleet_mdmtest_syncml_client_init_pkg1.xml'));
    expect(m.header).toMatchObject({ sessionId: '1', msgId: '1', sourceUri: 'EXAMPLE-DEVICE-ID-0001' });
    expect(m.commands.map((c) => c.verb)).toEqual(['Alert', 'Alert', 'Replace']);
    expect(m.commands[2].items.map((i) => i.source)).toContain('./DevInfo/DmV');
    expect(m.commands[1].items[0].metaType).toBe('com.microsoft/MDM/LoginStatus');
    expect(m.final).toBe(true);
  });

  it('parses both unenroll vectors (including the metinfo typo and padded Type)', () => {
    for (const f of [
      'fleet_mdmtest_syncml_unenroll_alert_1226.xml',
      'msdocs_unenroll_first_package_1226.xml',
    ]) {
      const alert = parseSyncMessage(readVector(f)).commands.find((c) => c.verb === 'Alert');
      expect(alert?.data).toBe('1226');
      expect(alert?.items[0].metaType?.trim()).toBe('com.microsoft:mdm.unenrollment.userrequest');
    }
  });

  it('keeps escaped XML and CDATA inside Data verbatim', () => {
    const frag = parseXmlFragment(readVector('fleet_profile_replace_admx_AllowUsersToConnectRemotely.xml'));
    const data = frag[0].children
      .find((c) => c.name === 'Item')
      ?.children.find((c) => c.name === 'Data')?.text;
    expect(data).toContain('&lt;');
    const cdata = parseXml('<Item><Data><![CDATA[<enabled/>&]]></Data></Item>');
    expect(cdata.children[0].text).toBe('<![CDATA[<enabled/>&]]>');
  });

  it('rejects wrong namespace, version and missing MsgID', () => {
    const v = readVector('fleet_mdmtest_syncml_client_init_pkg1.xml');
    expect(() => parseSyncMessage(v.replace('SYNCML:SYNCML1.2', 'SYNCML:SYNCML1.1'))).toThrow(SyncmlError);
    expect(() => parseSyncMessage(v.replace('<VerProto>DM/1.2', '<VerProto>DM/1.1'))).toThrow(/VerProto/);
    expect(() => parseSyncMessage(v.replace('<MsgID>1</MsgID>', '<MsgID></MsgID>'))).toThrow(/MsgID/);
  });
});

describe('MD5 digest', () => {
  it('matches the worked example of the reference', () => {
    const hash = Buffer.from('a6ab68947ad0de46235b8591b853b485', 'hex');
    const nonce = Buffer.from('b5f1e3a2-9c1d-4e7b-8a6f-3d2c1b0a9e8f');
    expect(digestFromHash(hash, nonce)).toBe('7/p9z7Vwqkvb7dnEWpMT+A==');
    expect(digestMatches(hash, nonce, '7/p9z7Vwqkvb7dnEWpMT+A==')).toBe(true);
    expect(digestMatches(hash, nonce, 'AAAAAAAAAAAAAAAAAAAAAA==')).toBe(false);
  });
});

describe('command preparation', () => {
  it('gives the first command the UUID and nested Atomic children derived CmdIDs', () => {
    const p = prepareCommand(readVector('fleet_rendered_bitlocker_startup_auth_atomic.xml'), 'u-1');
    expect(p.rawCommand).toMatch(/^<Atomic><CmdID>u-1<\/CmdID>/);
    expect(p.rawCommand).toContain('<CmdID>u-1.1</CmdID>');
    expect(p.targetLocUri).toBe('./Device/Vendor/MSFT/BitLocker/SystemDrivesRequireStartupAuthentication');
    expect(commandUuidOfCmdRef('u-1.1')).toBe('u-1');
    const multi = prepareCommand(readVector('fleet_rendered_fleetd_install_add_exec.xml'), 'u-2');
    expect(multi.verbs).toEqual(['Add', 'Exec']);
    expect(multi.rawCommand).toContain('<MsiInstallJob');
    expect(() => prepareCommand('<Foo/>')).toThrow();
    let reason = '';
    try {
      prepareCommand('<Replace><CmdID>1</CmdID>');
    } catch (err) {
      reason = (err as { errors: { reason: string }[] }).errors[0].reason;
    }
    expect(reason).toMatch(/valid XML/);
  });

  it('builds a provisioning document Windows can read (one line, Fleet provider, digest creds)', () => {
    const doc = buildProvisioningDoc({
      caCertDer: Buffer.from('ca'),
      caThumbprint: 'AA',
      clientCertDer: Buffer.from('cl'),
      clientThumbprint: 'BB',
      enrollType: 'Device',
      managementUrl: 'https://x.example/api/mdm/microsoft/management?a=1&b=2',
      deviceId: 'DEV',
      password: 'pw',
      pollIntervalMinutes: 1,
    });
    expect(doc).not.toMatch(/[\n\t]/);
    expect(doc).toContain('<characteristic type="System"><characteristic type="BB">');
    expect(doc).toContain('value="https://x.example/api/mdm/microsoft/management?a=1&amp;b=2"');
    expect(doc).toContain('<parm name="AAUTHNAME" value="DEV"/>');
    expect(parseXml(doc).name).toBe('wap-provisioningdoc');
  });
});
