import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeDepServer } from '../../src/clients/dep/fakeServer.js';
import { AssetName } from '../../src/configassets/service.js';
import { apiUser } from '../helpers/adminFixtures.js';
import { makePushCertificate } from '../helpers/apns.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { abmPublicKey, makeServerToken, sendToken, serverTokenPlaintext } from '../helpers/dep.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';

const fake = await FakeDepServer.start();
afterAll(() => fake.close());

const v1 = '/api/v1/fleet';
const day = 86_400_000;
const apiTime = (d: Date | string) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
const daysLeft = (notAfter: Date | string, now = new Date()) =>
  Math.floor((new Date(notAfter).getTime() - now.getTime()) / day);

type CertJson = Record<string, unknown> & { certificate: string };

async function configCertificates(srv: TestServer, token: string): Promise<CertJson[]> {
  const res = await api(srv, 'GET', `${v1}/config`, { token });
  expect(res.status).toBe(200);
  return res.body.certificates as CertJson[];
}

/** Warning activities, oldest first, with their details parsed. */
async function warnings(srv: TestServer) {
  const rows = await srv.app.services.activities.list({ type: 'certificate_expiring', desc: false });
  return rows.map((r) => ({
    user: r.user_id,
    ...(JSON.parse(String(r.details)) as { certificate: string; threshold_days: number; days_left: number }),
  }));
}

/** Uploads an APNs certificate for the stored key, valid for `days`, through the service as an admin would. */
async function uploadPushCertificate(srv: TestServer, days: number, topic: string): Promise<X509Certificate> {
  const s = srv.app.services;
  if (!(await s.assets.getOne(AssetName.apnsKey, { fresh: true })))
    await s.apnsCertificates.requestCsr({ organization: 'Test' });
  const keyPem = (await s.assets.getOne(AssetName.apnsKey, { fresh: true }))!.toString('utf8');
  const cert = makePushCertificate({ topic, keyPem, days });
  await s.apnsCertificates.upload(Buffer.from(cert.certPem));
  return new X509Certificate(cert.certPem);
}

describeEachDialect(
  'certificate expiry monitoring',
  (server) => {
    let srv: TestServer;
    let admin: string;
    beforeAll(async () => {
      srv = server();
      admin = await setupAdmin(srv);
    });

    async function uploadAbmToken(orgName: string, expiry: Date): Promise<number> {
      const creds = fake.addAccount(orgName, expiry.toISOString().replace(/\.\d{3}Z$/, 'Z'));
      const cert = await abmPublicKey(srv, admin);
      const res = await sendToken(
        srv,
        admin,
        'POST',
        `${v1}/abm_tokens`,
        makeServerToken(cert, serverTokenPlaintext(creds)),
      );
      expect(res.status).toBe(200);
      return res.body.abm_token.id as number;
    }

    it('GET /config shows the built-in CAs and device certificates to every reader; PATCH ignores it', async () => {
      const s = srv.app.services;
      const cas = await s.assets.get([AssetName.appleScepCaCert, AssetName.windowsWstepCert]);
      const scep = new X509Certificate(cas[AssetName.appleScepCaCert]!);
      const wstep = new X509Certificate(cas[AssetName.windowsWstepCert]!);
      const observer = (await apiUser(srv, admin, 'cert-observer', { global_role: 'observer' })).token;
      for (const token of [admin, observer]) {
        const certs = await configCertificates(srv, token);
        expect(certs.find((c) => c.certificate === 'apple_scep_ca')).toEqual({
          certificate: 'apple_scep_ca',
          description: 'Apple MDM (SCEP) certificate authority',
          subject: 'Flotilla Apple MDM CA',
          renew_date: apiTime(scep.validTo),
          days_left: daysLeft(scep.validTo),
          expired: false,
          expiring_soon: false,
        });
        expect(certs.find((c) => c.certificate === 'windows_wstep_ca')).toEqual({
          certificate: 'windows_wstep_ca',
          description: 'Windows MDM (WSTEP) certificate authority',
          subject: 'Flotilla Windows MDM CA',
          renew_date: apiTime(wstep.validTo),
          days_left: daysLeft(wstep.validTo),
          expired: false,
          expiring_soon: false,
        });
        for (const key of ['apple_device_certificates', 'windows_device_certificates'])
          expect(Object.keys(certs.find((c) => c.certificate === key)!).sort()).toEqual(
            [
              'certificate',
              'description',
              'subject',
              'renew_date',
              'days_left',
              'expired',
              'expiring_soon',
              'devices',
              'devices_expiring_soon',
              'devices_expired',
            ].sort(),
          );
      }
      // The GET answer sent back as a PATCH body is accepted; the listing is not stored.
      const doc = (await api(srv, 'GET', `${v1}/config`, { token: admin })).body;
      const patch = await api(srv, 'PATCH', `${v1}/config`, { token: admin, body: doc });
      expect(patch.status).toBe(200);
      expect(patch.body.certificates).toBeUndefined();
      const stored = await s.database.db.selectFrom('app_config_json').select('json_value').execute();
      for (const r of stored) expect(Object.keys(JSON.parse(r.json_value))).not.toContain('certificates');
    });

    it("summarises device certificates by each device's newest one (Windows renewal, Apple identity)", async () => {
      const s = srv.app.services;
      await enableWindowsMdm(srv, 'expiry-secret');
      const before = await s.certificates.list();
      const count = (key: string) => before.find((c) => c.certificate === key)!.devices!.count;
      const pc = await enrolledWindowsPc(srv, 'expiry-secret');
      const renewed = await pc.renew();
      const mac = await enrolledDevice(srv);
      const after = await s.certificates.list();
      const win = after.find((c) => c.certificate === 'windows_device_certificates')!;
      const apple = after.find((c) => c.certificate === 'apple_device_certificates')!;
      // One more device each: the renewed PC counts once, by its new certificate.
      expect(win.devices!.count).toBe(count('windows_device_certificates') + 1);
      expect(apple.devices!.count).toBe(count('apple_device_certificates') + 1);
      expect(win.devices!.expired).toBe(0);
      expect(apple.devices!.expired).toBe(0);
      expect(win.notAfter!.getTime()).toBeLessThanOrEqual(new Date(renewed.validTo).getTime());
      const identity = new X509Certificate(mac.identity!.certPem);
      expect(apple.notAfter!.getTime()).toBeLessThanOrEqual(new Date(identity.validTo).getTime());
    });

    it('warns 30, 14 and 1 days before expiry, once per threshold, and again after a renewal', async () => {
      const s = srv.app.services;
      // The topic of the enrolled test devices (a push certificate for another topic is refused then).
      const topic = testTopic;
      const push = await uploadPushCertificate(srv, 20, topic);
      const soonToken = await uploadAbmToken('Expiring Org', new Date(Date.now() + 10 * day + 3600_000));
      const laterToken = await uploadAbmToken('Later Org', new Date(Date.now() + 40 * day + 3600_000));
      const mine = (certificate: string) => certificate === 'apns' || certificate.startsWith('abm_token:');
      const seen = async () => (await warnings(srv)).filter((w) => mine(w.certificate));
      expect(await seen()).toEqual([]);

      // GET /config: Fleet's renew_date and the derived flags.
      const certs = await configCertificates(srv, admin);
      expect(certs.find((c) => c.certificate === 'apns')).toEqual({
        certificate: 'apns',
        description: 'Apple Push Notification service certificate',
        subject: /^CN=(.*)$/m.exec(push.subject)![1],
        renew_date: apiTime(push.validTo),
        days_left: daysLeft(push.validTo),
        expired: false,
        expiring_soon: true,
      });
      expect(certs.find((c) => c.certificate === `abm_token:${laterToken}`)).toMatchObject({
        subject: 'Later Org',
        days_left: 40,
        expiring_soon: false,
      });

      // The daily job: APNs (about 20 days) at 30, the 10-day token at 14, the 40-day token not yet.
      const run = await s.cron.trigger('certificate_expiry_warnings');
      expect(await run.finished).toMatchObject({ ran: true, errors: [] });
      const first = await seen();
      expect(first.map((w) => [w.certificate, w.threshold_days]).sort()).toEqual(
        [
          ['apns', 30],
          [`abm_token:${soonToken}`, 14],
        ].sort(),
      );
      expect(first.every((w) => w.user === null)).toBe(true);
      const logged = (srv.logLines ?? []).filter(
        (l) => l.level === 40 && String(l.msg).startsWith('certificate expires in'),
      );
      expect(logged.map((l) => l.certificate).sort()).toEqual(['apns', `abm_token:${soonToken}`].sort());

      // Run again: nothing new.
      await s.certificates.warnExpiring();
      expect(await seen()).toEqual(first);

      // Eleven days later: APNs crosses 14, the first token is at or past 1, the second at 30.
      const later = new Date(Date.now() + 11 * day);
      await s.certificates.warnExpiring(later);
      const second = (await seen()).slice(first.length);
      expect(second.map((w) => [w.certificate, w.threshold_days]).sort()).toEqual(
        [
          ['apns', 14],
          [`abm_token:${soonToken}`, 1],
          [`abm_token:${laterToken}`, 30],
        ].sort(),
      );
      expect(second.find((w) => w.certificate === `abm_token:${soonToken}`)!.days_left).toBe(-1);
      expect(
        (srv.logLines ?? []).some(
          (l) => l.msg === 'certificate expired: Apple Business Manager server token',
        ),
      ).toBe(true);

      // A renewed push certificate (new expiry date) is warned about afresh.
      const count = (await seen()).length;
      await uploadPushCertificate(srv, 25, topic);
      await s.certificates.warnExpiring();
      const third = (await seen()).slice(count);
      expect(third.map((w) => [w.certificate, w.threshold_days])).toEqual([['apns', 30]]);
    });
  },
  { logLevel: 'info', appleDepBaseUrl: fake.url },
);
