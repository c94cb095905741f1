import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AssetName } from '../../src/configassets/service.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { issueCertificate } from '../../src/crypto/issue.js';
import {
  Action,
  base64EncodingType,
  deviceEnrollmentTokenType,
  NS,
  renewRequestType,
  TokenValueType,
} from '../../src/windows/mde2/soap.js';
import type { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';

const secret = 'windows-renewal-secret';
const soap = 'application/soap+xml; charset=utf-8';
const enrollPath = '/api/mdm/microsoft/enroll';

/** What a refused renewal must leave untouched: every certificate row, the serial sequence, the enrollments. */
async function snapshot(srv: TestServer) {
  const db = srv.app.services.database.db;
  return {
    certificates: await db
      .selectFrom('wstep_certificates')
      .select(['serial', 'enrollment_id', 'revoked', 'not_valid_after', 'sha1_thumbprint'])
      .orderBy('serial')
      .execute(),
    serials: (await db.selectFrom('wstep_serials').select('serial').execute()).length,
    enrollments: await db
      .selectFrom('mdm_windows_enrollments')
      .select(['id', 'host_uuid', 'device_state', 'credentials_hash', 'updated_at', 'created_at'])
      .orderBy('id')
      .execute(),
  };
}

/** The fault subcode and reason of a SOAP answer (undefined when it is not a fault). */
function fault(text: string): { code: string; reason: string } | undefined {
  const code = /<s:subcode><s:value>([^<]+)<\/s:value>/.exec(text)?.[1];
  const reason = /<s:text[^>]*>([^<]*)<\/s:text>/.exec(text)?.[1];
  return code ? { code, reason: reason ?? '' } : undefined;
}

/** A renewal RequestSecurityToken around any base64 token (for malformed tokens). */
function renewalXml(srv: TestServer, token: string, valueType: string = TokenValueType.pkcs7): string {
  return (
    `<s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS.addressing}" xmlns:wsse="${NS.wsse}" xmlns:wst="${NS.wst}" xmlns:ac="${NS.ac}">` +
    `<s:Header><a:Action s:mustUnderstand="1">${Action.rst}</a:Action><a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>` +
    `<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>` +
    `<a:To s:mustUnderstand="1">${srv.url}${enrollPath}</a:To></s:Header><s:Body>` +
    `<wst:RequestSecurityToken><wst:TokenType>${deviceEnrollmentTokenType}</wst:TokenType><wst:RequestType>${renewRequestType}</wst:RequestType>` +
    `<wsse:BinarySecurityToken ValueType="${valueType}" EncodingType="${base64EncodingType}">${token}</wsse:BinarySecurityToken>` +
    `</wst:RequestSecurityToken></s:Body></s:Envelope>`
  );
}

const post = (srv: TestServer, xml: string) =>
  api(srv, 'POST', enrollPath, { rawBody: xml, headers: { 'content-type': soap } });

const enrollmentOf = async (srv: TestServer, d: SimulatedWindowsDevice) =>
  (await srv.app.services.windows.store.enrollmentByDeviceId(d.deviceId))!;

describeEachDialect(
  'Windows MDM certificate renewal (MS-MDE2 3.5)',
  (server) => {
    let srv: TestServer;
    let dir: string;
    beforeAll(async () => {
      srv = server();
      dir = mkdtempSync(join(tmpdir(), 'flotilla-win-renew-'));
      await enableWindowsMdm(srv, secret);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('tells the device its renewal schedule at enrollment and in the enrollment policy', async () => {
      const d = await enrolledWindowsPc(srv, secret);
      expect(d.renewal).toEqual({ robo: true, periodDays: 45, retryIntervalDays: 3 });
      const res = await api(srv, 'POST', '/api/mdm/microsoft/policy', {
        rawBody:
          `<s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS.addressing}" xmlns:wsse="${NS.wsse}">` +
          `<s:Header><a:Action s:mustUnderstand="1">${Action.getPolicies}</a:Action><a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>` +
          `<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">x</a:To>` +
          `<wsse:Security><wsse:BinarySecurityToken ValueType="${TokenValueType.programmatic}" EncodingType="${base64EncodingType}">${d.programmaticToken()}</wsse:BinarySecurityToken></wsse:Security>` +
          `</s:Header><s:Body><GetPolicies xmlns="${NS.policy}"><client/></GetPolicies></s:Body></s:Envelope>`,
        headers: { 'content-type': soap },
      });
      expect(res.status).toBe(200);
      expect(res.text).toContain(`<renewalPeriodSeconds>${45 * 86400}</renewalPeriodSeconds>`);
    });

    it('renews end to end: new certificate recorded on the same enrollment, host, queue and credentials kept', async () => {
      const s = srv.app.services;
      const d = await enrolledWindowsPc(srv, secret);
      const before = await enrollmentOf(srv, d);
      const host = (await s.hostStore.findByUuid(d.hardwareUuid))!;
      const oldCert = d.certificate!;
      const oldKey = d.privateKeyPem!;
      // A command queued before the renewal is still delivered after it.
      const uri = './Device/Vendor/MSFT/Policy/Config/Experience/AllowCortana';
      const run = await s.windowsCommands.enqueueRaw(
        [d.hardwareUuid],
        `<Replace><Item><Target><LocURI>${uri}</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>0</Data></Item></Replace>`,
      );

      const renewed = await d.renew();

      // The device holds a new certificate for its new key, from our CA, for the same machine.
      expect(renewed.fingerprint256).not.toBe(oldCert.fingerprint256);
      expect(d.privateKeyPem).not.toBe(oldKey);
      expect(renewed.checkPrivateKey(createPrivateKey(d.privateKeyPem!))).toBe(true);
      expect(renewed.subject.split('\n').sort()).toEqual([`CN=${d.hwDevId}`, 'OU=Fleet']);
      const ca = (await s.assets.get([AssetName.windowsWstepCert]))[AssetName.windowsWstepCert]!.toString();
      expect(renewed.checkIssued(new X509Certificate(ca))).toBe(true);
      writeFileSync(join(dir, 'ca.pem'), ca);
      writeFileSync(join(dir, 'renewed.pem'), renewed.toString());
      const verified = execFileSync(
        'openssl',
        ['verify', '-purpose', 'sslclient', '-CAfile', join(dir, 'ca.pem'), join(dir, 'renewed.pem')],
        { encoding: 'utf8' },
      );
      expect(verified.trim()).toBe(`${join(dir, 'renewed.pem')}: OK`);
      // The renewal answer restates the schedule.
      expect(d.renewal).toEqual({ robo: true, periodDays: 45, retryIntervalDays: 3 });

      // Stored: both certificates on the one enrollment, the new one newest; the enrollment untouched.
      const after = await enrollmentOf(srv, d);
      expect(after).toEqual(before);
      const certs = await s.windows.store.wstepCertificates(before.id);
      expect(certs.map((c) => c.sha1_thumbprint)).toEqual([
        oldCert.fingerprint.replace(/:/g, ''),
        renewed.fingerprint.replace(/:/g, ''),
      ]);
      expect(certs[1]).toMatchObject({
        serial_hex: renewed.serialNumber.toLowerCase().replace(/^0+/, ''),
        common_name: d.hwDevId,
        host_uuid: d.hardwareUuid,
        revoked: false,
      });
      expect((await s.hostStore.findByUuid(d.hardwareUuid))?.id).toBe(host.id);
      expect((await s.hostStore.getHostMdm(host.id))?.enrolled).toBe(true);

      // Management goes on with the same account, and the queued command arrives.
      const session = await d.runSession();
      expect(session.commandsExecuted).toBe(1);
      expect(d.tree.get(uri)?.data).toBe('0');
      expect((await s.windowsCommands.results(run.command_uuid))[0].status).toBe('200');

      const logged = (srv.logLines ?? []).find((l) => l.msg === 'windows mdm: device certificate renewed');
      expect(logged).toMatchObject({ enrollmentId: before.id, hostUuid: d.hardwareUuid });
      expect(JSON.stringify(srv.logLines)).not.toContain(d.privateKeyPem!.split('\n')[1]);
    });

    it('accepts a renewal whose PKCS#7 openssl made (openssl req + openssl cms -sign)', async () => {
      const d = await enrolledWindowsPc(srv, secret);
      writeFileSync(join(dir, 'cur.pem'), d.certificate!.toString());
      writeFileSync(join(dir, 'cur.key'), d.privateKeyPem!);
      const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
      openssl([
        'req',
        '-new',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'next.key'),
        '-subj',
        `/CN=${d.deviceId}`,
        '-outform',
        'DER',
        '-out',
        join(dir, 'next.csr'),
      ]);
      openssl([
        'cms',
        '-sign',
        '-binary',
        '-nodetach',
        '-md',
        'sha256',
        '-in',
        join(dir, 'next.csr'),
        '-signer',
        join(dir, 'cur.pem'),
        '-inkey',
        join(dir, 'cur.key'),
        '-outform',
        'DER',
        '-out',
        join(dir, 'renew.p7'),
      ]);
      const token = readFileSync(join(dir, 'renew.p7')).toString('base64');
      const res = await post(srv, renewalXml(srv, token));
      expect(res.status).toBe(200);
      expect(fault(res.text)).toBeUndefined();
      const doc = Buffer.from(
        /DeviceEnrollmentProvisionDoc"[^>]*>([^<]+)</.exec(res.text)![1],
        'base64',
      ).toString('utf8');
      const certB64 =
        /<characteristic type="User"><characteristic type="[0-9A-F]{40}"><parm name="EncodedCertificate" value="([^"]+)"/.exec(
          doc,
        )![1];
      const issued = new X509Certificate(Buffer.from(certB64, 'base64'));
      const nextKey = execFileSync('openssl', ['pkey', '-in', join(dir, 'next.key'), '-pubout'], {
        encoding: 'utf8',
      });
      expect(issued.publicKey.export({ type: 'spki', format: 'pem' })).toBe(nextKey);
      // Only the certificate store changes: no management account, no poll schedule, same CA.
      expect(doc).not.toContain('APPLICATION');
      expect(doc).not.toContain('DMClient');
      expect(doc).not.toContain('type="Root"');
      expect(doc).toContain(
        '<characteristic type="WSTEP"><characteristic type="Renew"><parm name="ROBOSupport" value="true" datatype="boolean"/><parm name="RenewPeriod" value="45" datatype="integer"/><parm name="RetryInterval" value="3" datatype="integer"/></characteristic></characteristic>',
      );
    });

    it('after the WSTEP CA is replaced, a certificate of the old CA still renews, from the new CA with its root', async () => {
      const s = srv.app.services;
      const d = await enrolledWindowsPc(srv, secret);
      const original = await s.assets.get([AssetName.windowsWstepCert, AssetName.windowsWstepKey]);
      const next = createCertificateAuthority('Flotilla Windows MDM CA (next)');
      await s.assets.set({
        [AssetName.windowsWstepCert]: next.certPem,
        [AssetName.windowsWstepKey]: next.keyPem,
      });
      try {
        const oldCa = new X509Certificate(original[AssetName.windowsWstepCert]!);
        expect(d.certificate!.checkIssued(oldCa)).toBe(true);
        const renewed = await d.renew();
        const nextCa = new X509Certificate(next.certPem);
        expect(renewed.checkIssued(nextCa)).toBe(true);
        expect(renewed.verify(nextCa.publicKey)).toBe(true);
        // The answer carried the new root (Root/System), which the PC installed.
        expect(d.caCertificate!.fingerprint256).toBe(nextCa.fingerprint256);
        // Renewing a certificate of the current CA sends no root.
        const res = await post(srv, d.renewalRequest().xml);
        expect(fault(res.text)).toBeUndefined();
        const doc = Buffer.from(/DeviceEnrollmentProvisionDoc"[^>]*>([^<]+)</.exec(res.text)![1], 'base64');
        expect(doc.toString('utf8')).not.toContain('type="Root"');
      } finally {
        await s.assets.set({
          [AssetName.windowsWstepCert]: original[AssetName.windowsWstepCert]!,
          [AssetName.windowsWstepKey]: original[AssetName.windowsWstepKey]!,
        });
      }
    });

    it('refuses a renewal signed by the certificate it already replaced; nothing changes', async () => {
      const d = await enrolledWindowsPc(srv, secret);
      const old = { certPem: d.certificate!.toString(), keyPem: d.privateKeyPem! };
      await d.renew();
      const before = await snapshot(srv);
      const res = await post(srv, d.renewalRequest(old).xml);
      expect(res.status).toBe(200);
      expect(fault(res.text)).toEqual({
        code: 's:authorization',
        reason: 'the signing certificate was already replaced by a newer one',
      });
      expect(await snapshot(srv)).toEqual(before);
      // The current certificate still renews.
      await expect(d.renew()).resolves.toBeInstanceOf(X509Certificate);
    });

    it('refuses a renewal signed by a certificate this server never issued; nothing changes', async () => {
      const s = srv.app.services;
      const d = await enrolledWindowsPc(srv, secret);
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
      const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
      const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const subject = { OU: 'Fleet', CN: d.hwDevId };
      // Other CAs (one named like ours), same subject and serial as the device's real certificate.
      const serialHex = d.certificate!.serialNumber;
      const issue = (ca: { certPem: string; keyPem: string }) =>
        issueCertificate({ publicKeyPem, subject, days: 30, ca, usage: 'client', serialHex });
      const foreign = issue(createCertificateAuthority('Another MDM CA'));
      const lookalike = issue(createCertificateAuthority('Flotilla Windows MDM CA'));
      // Our own CA's key, but a certificate we never recorded (as if minted outside the server).
      const ours = (await s.assets.get([AssetName.windowsWstepCert, AssetName.windowsWstepKey])) as Record<
        string,
        Buffer
      >;
      const unrecorded = issue({ certPem: ours.wstep_cert.toString(), keyPem: ours.wstep_key.toString() });
      const selfSigned = createCertificateAuthority(d.hwDevId);
      const before = await snapshot(srv);
      const attempts: [{ certPem: string; keyPem: string }, string][] = [
        [
          { certPem: foreign.certPem, keyPem },
          'the renewal is not signed by a certificate this server issued',
        ],
        [selfSigned, 'the renewal is not signed by a certificate this server issued'],
        // Same issuer name and serial as the device's certificate: checked against the one we stored.
        [
          { certPem: lookalike.certPem, keyPem },
          'the renewal signature is not valid: signature does not verify',
        ],
        [
          { certPem: unrecorded.certPem, keyPem },
          'the renewal signature is not valid: signature does not verify',
        ],
      ];
      for (const [signer, reason] of attempts) {
        const res = await post(srv, d.renewalRequest(signer).xml);
        expect(res.status).toBe(200);
        expect(fault(res.text)).toEqual({ code: 's:authentication', reason });
      }
      expect(await snapshot(srv)).toEqual(before);
    });

    it('refuses an expired signing certificate and one whose enrollment is gone; nothing changes', async () => {
      const s = srv.app.services;
      const db = s.database.db;
      const expired = await enrolledWindowsPc(srv, secret);
      const serial = Number.parseInt(expired.certificate!.serialNumber, 16);
      await db
        .updateTable('wstep_certificates')
        .set({ not_valid_after: '2020-01-01 00:00:00.000' })
        .where('serial', '=', serial)
        .execute();
      let before = await snapshot(srv);
      let res = await post(srv, expired.renewalRequest().xml);
      expect(fault(res.text)).toEqual({
        code: 's:authorization',
        reason: 'the signing certificate has expired; enroll the device again',
      });
      expect(await snapshot(srv)).toEqual(before);

      const gone = await enrolledWindowsPc(srv, secret);
      await s.windows.store.deleteEnrollment((await enrollmentOf(srv, gone)).id);
      before = await snapshot(srv);
      res = await post(srv, gone.renewalRequest().xml);
      expect(fault(res.text)).toEqual({
        code: 's:authorization',
        reason: 'the enrollment of the signing certificate no longer exists',
      });
      expect(await snapshot(srv)).toEqual(before);
    });

    it('answers malformed renewal tokens with a SOAP fault and changes nothing', async () => {
      const d = await enrolledWindowsPc(srv, secret);
      const good = d.renewalRequest().xml;
      const token = /#PKCS7"[^>]*>([^<]+)</.exec(good)![1];
      const der = Buffer.from(token, 'base64');
      // Flip the signature's last byte (the SignerInfo ends the DER): it no longer verifies.
      const tampered = Buffer.from(der);
      tampered[der.length - 1] ^= 0x01;
      const before = await snapshot(srv);
      const cases: [string, string, string][] = [
        [renewalXml(srv, '%%%not base64%%%'), 's:certificaterequest', 'the PKCS#7 token is not base64'],
        [
          renewalXml(srv, Buffer.from('hello').toString('base64')),
          's:certificaterequest',
          'the PKCS#7 token is not a CMS SignedData',
        ],
        [
          renewalXml(srv, token, TokenValueType.pkcs10),
          's:certificaterequest',
          'a renewal needs a PKCS#7 BinarySecurityToken',
        ],
        [
          renewalXml(srv, tampered.toString('base64')),
          's:authentication',
          'the renewal signature is not valid: signature does not verify',
        ],
      ];
      for (const [xml, code, reason] of cases) {
        const res = await post(srv, xml);
        expect(res.status).toBe(200);
        const f = fault(res.text);
        expect(f).toEqual({ code, reason: expect.stringContaining(reason) });
      }
      expect(await snapshot(srv)).toEqual(before);
    });
  },
  { windowsCertRenewPeriodDays: 45, windowsCertRenewRetryIntervalDays: 3, logLevel: 'info' },
);
