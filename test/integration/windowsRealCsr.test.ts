import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AssetName } from '../../src/configassets/service.js';
import { decodeBase64Lenient, parseWindowsCsr } from '../../src/windows/mde2/csr.js';
import { child, childrenNamed, parseXml, type XmlNode } from '../../src/windows/xml.js';
import { api } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

/**
 * The RequestSecurityToken a real Windows 10 PC sent (its CSR has a PrintableString CN with `!`
 * and a NUL, a Microsoft extension request, and a SHA-1 signature under the ISO OID). Only its
 * security token is swapped for a programmatic one, so everything else reaches the server as sent.
 */
const realRequest = readFileSync(
  new URL('../vectors/windows/fleet_unittest_requestsecuritytoken_real_device.xml', import.meta.url),
  'utf8',
);
const realCsrB64 = /#PKCS10"[^>]*>([^<]+)</.exec(realRequest)![1];
const hwDevId = 'BF2D12A95AE42E47D58465E9A71336CAF33FCCAD3088F140F4D50B371FB2256F';
const deviceId = 'DB257C3A08778F4FB61E2749066C1F27';
const soap = 'application/soap+xml; charset=utf-8';
const thumbprint = (der: Buffer) => createHash('sha1').update(der).digest('hex').toUpperCase();

const characteristics = (n: XmlNode | undefined, type?: string) =>
  childrenNamed(n, 'characteristic').filter((c) => type === undefined || c.attrs.type === type);
const parms = (n: XmlNode | undefined) =>
  Object.fromEntries(childrenNamed(n, 'parm').map((p) => [p.attrs.name, p.attrs.value ?? '']));

describeEachDialect('Windows enrollment with a real Windows CSR', (server) => {
  let srv: TestServer;
  let dir: string;
  beforeAll(async () => {
    srv = server();
    dir = mkdtempSync(join(tmpdir(), 'flotilla-wstep-'));
    const s = srv.app.services;
    await s.appConfig.patch({
      server_settings: { server_url: srv.url },
      mdm: { windows_enabled_and_configured: true },
    });
    s.windows.invalidateEnabled();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('issues a WSTEP certificate openssl verifies against our CA and a matching wap-provisioningdoc', async () => {
    const s = srv.app.services;
    const hostId = await s.hostStore.create({
      uuid: `REAL-CSR-HOST-${srv.dialect}`,
      platform: 'windows',
      hardware_serial: 'REAL-CSR-SERIAL',
    });
    await s.hostStore.setOrbitNodeKey(hostId, `real-csr-node-key-${srv.dialect}`);
    const token = Buffer.from(
      JSON.stringify({
        type: 1,
        payload: { orbit_node_key: `real-csr-node-key-${srv.dialect}`, auth_token: '' },
      }),
    ).toString('base64');
    const res = await api(srv, 'POST', '/api/mdm/microsoft/enroll', {
      rawBody: realRequest.replace('aGVsbG93b3JsZA==', token),
      headers: { 'content-type': soap },
    });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('s:fault');

    // The SOAP answer: RSTRC action, RelatesTo echoing the real MessageID, the provisioning doc.
    const env = parseXml(res.text);
    expect(env.name).toBe('Envelope');
    expect(res.text).toContain(
      '<a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep</a:Action>',
    );
    expect(res.text).toContain('<a:RelatesTo>urn:uuid:0d5a1441-5891-453b-becf-a2e5f6ea3749</a:RelatesTo>');
    const rstr = child(
      child(child(env, 'Body'), 'RequestSecurityTokenResponseCollection'),
      'RequestSecurityTokenResponse',
    );
    const bst = child(child(rstr, 'RequestedSecurityToken'), 'BinarySecurityToken');
    expect(bst?.attrs.ValueType).toBe(
      'http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentProvisionDoc',
    );
    const docXml = Buffer.from(bst!.text.trim(), 'base64').toString('utf8');
    expect(
      docXml.startsWith('<?xml version="1.0" encoding="UTF-8"?><wap-provisioningdoc version="1.1">'),
    ).toBe(true);
    expect(docXml).not.toMatch(/[\n\t]/);
    const doc = parseXml(docXml);
    expect(characteristics(doc).map((c) => c.attrs.type)).toEqual([
      'CertificateStore',
      'APPLICATION',
      'DMClient',
    ]);

    // Certificate store: our CA under Root/System/<its thumbprint>; the issued certificate under My/User/<its thumbprint>.
    const store = characteristics(doc, 'CertificateStore')[0];
    const caNode = characteristics(characteristics(characteristics(store, 'Root')[0], 'System')[0])[0];
    const caDer = Buffer.from(parms(caNode).EncodedCertificate, 'base64');
    const ourCa = (await s.assets.get([AssetName.windowsWstepCert]))[AssetName.windowsWstepCert]!.toString();
    expect(caDer.equals(new X509Certificate(ourCa).raw)).toBe(true);
    expect(caNode.attrs.type).toBe(thumbprint(caDer));
    const myUser = characteristics(characteristics(store, 'My')[0], 'User')[0];
    const [certNode, keyContainer] = characteristics(myUser);
    expect(keyContainer.attrs.type).toBe('PrivateKeyContainer');
    const certDer = Buffer.from(parms(certNode).EncodedCertificate, 'base64');
    expect(certNode.attrs.type).toBe(thumbprint(certDer));

    // The certificate: for the CSR's key, OU=Fleet CN=<HWDevID>, client auth, signed by our CA.
    const cert = new X509Certificate(certDer);
    const csrKey = parseWindowsCsr(decodeBase64Lenient(realCsrB64)).publicKey;
    expect(
      cert.publicKey
        .export({ type: 'spki', format: 'der' })
        .equals(csrKey.export({ type: 'spki', format: 'der' })),
    ).toBe(true);
    expect(cert.subject.split('\n').sort()).toEqual([`CN=${hwDevId}`, 'OU=Fleet']);
    expect(cert.checkIssued(new X509Certificate(ourCa))).toBe(true);
    // Fleet back-dates NotBefore by the 180-day renewal period and gives 365 days from there.
    const notBefore = new Date(cert.validFrom).getTime();
    const notAfter = new Date(cert.validTo).getTime();
    expect(Math.abs(Date.now() - 180 * 86_400_000 - notBefore)).toBeLessThan(15 * 60_000);
    expect(Math.abs(notAfter - notBefore - 365 * 86_400_000)).toBeLessThan(15 * 60_000);
    writeFileSync(join(dir, 'ca.pem'), ourCa);
    writeFileSync(join(dir, 'device.pem'), cert.toString());
    const verified = execFileSync(
      'openssl',
      ['verify', '-purpose', 'sslclient', '-CAfile', join(dir, 'ca.pem'), join(dir, 'device.pem')],
      { encoding: 'utf8' },
    );
    expect(verified.trim()).toBe(`${join(dir, 'device.pem')}: OK`);
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'device.pem'), '-noout', '-text'], {
      encoding: 'utf8',
    });
    expect(text).toContain('TLS Web Client Authentication');
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    // The CSR's Microsoft extension request (its DeviceID) is copied into the certificate.
    expect(text).toContain('1.3.6.1.4.1.311.66.1.0');

    // APPLICATION: management address and the digest credentials for this DeviceID.
    const app = characteristics(doc, 'APPLICATION')[0];
    expect(parms(app)).toMatchObject({
      'PROVIDER-ID': 'Fleet',
      APPID: 'w7',
      ADDR: `${srv.url}/api/mdm/microsoft/management`,
      DEFAULTENCODING: 'application/vnd.syncml.dm+xml',
    });
    const auth = characteristics(app, 'APPAUTH').map(parms);
    expect(auth.map((a) => a.AAUTHLEVEL).sort()).toEqual(['APPSRV', 'CLIENT']);
    expect(auth.find((a) => a.AAUTHLEVEL === 'APPSRV')).toMatchObject({
      AAUTHTYPE: 'DIGEST',
      AAUTHNAME: deviceId,
    });
    const provider = characteristics(
      characteristics(characteristics(doc, 'DMClient')[0], 'Provider')[0],
      'Fleet',
    )[0];
    expect(parms(characteristics(provider, 'Poll')[0]).IntervalForFirstSetOfRetries).toBe(
      String(srv.config.windowsPollIntervalMinutes),
    );

    // Stored: the enrollment for this device and host, and the issued certificate's record.
    const row = await s.windows.store.enrollmentByDeviceId(deviceId);
    expect(row).toMatchObject({
      mdm_hardware_id: hwDevId,
      host_uuid: `REAL-CSR-HOST-${srv.dialect}`,
      device_name: 'DESKTOP-0C89RC0',
    });
    expect((await s.hostStore.getHostMdm(hostId))?.enrolled).toBe(true);
    const issued = await s.windows.store.wstepCertificates(row!.id);
    expect(issued).toHaveLength(1);
    expect(issued[0]).toMatchObject({
      serial_hex: cert.serialNumber.toLowerCase().replace(/^0+/, ''),
      common_name: hwDevId,
      host_uuid: `REAL-CSR-HOST-${srv.dialect}`,
    });
    expect(new Date(`${issued[0].not_valid_after.replace(' ', 'T')}Z`).getTime()).toBe(notAfter);
  });
});
