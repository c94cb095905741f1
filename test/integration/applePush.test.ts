import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApnsCertificateService } from '../../src/apple/push/certificates.js';
import { ApplePushStore } from '../../src/apple/push/store.js';
import { ConfigAssetService } from '../../src/configassets/service.js';
import { ConfigAssetStore } from '../../src/configassets/store.js';
import { toDbTime } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { makePushCertificate, newPushTopic, startFakeApns } from '../helpers/apns.js';
import { seedEnrollment, seedPendingCommand, tokenForRole } from '../helpers/appleSeed.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const vectors = fileURLToPath(new URL('../vectors/apple', import.meta.url));
const apns = await startFakeApns();
afterAll(() => apns.fake.close());

async function uploadCert(srv: TestServer, token: string, pem: string | Buffer) {
  const form = new FormData();
  form.append(
    'certificate',
    new Blob([new Uint8Array(Buffer.from(pem))], { type: 'application/x-pem-file' }),
    'push.pem',
  );
  const res = await fetch(`${srv.url}/api/v1/fleet/mdm/apple/apns_certificate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function storedAssetNames(srv: TestServer): Promise<string[]> {
  const rows = await srv.app.services.database.db
    .selectFrom('mdm_config_assets')
    .select('name')
    .where('deletion_uuid', '=', '')
    .where('name', 'in', ['apns_cert', 'apns_key'])
    .execute();
  return rows.map((r) => r.name).sort();
}

async function enrollmentRow(srv: TestServer, id: string) {
  return srv.app.services.database.db
    .selectFrom('nano_enrollments')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

describeEachDialect(
  'APNs setup, push and re-push',
  (server) => {
    let admin = '';
    let keyPem = '';
    let topic = '';

    beforeAll(async () => {
      admin = await setupAdmin(server());
    });

    /** The APNs key, made through a CSR request as the CSR test does, unless it ran already. */
    async function apnsKey(): Promise<void> {
      if (keyPem) return;
      expect(
        (await api(server(), 'GET', '/api/v1/fleet/mdm/apple/request_csr', { token: admin })).status,
      ).toBe(200);
      keyPem = (await server().app.services.assets.getOne('apns_key', { fresh: true }))!.toString();
    }

    /** A signed certificate for the key, uploaded as the upload test does, unless it ran already. */
    async function pushCertificate(): Promise<void> {
      if (topic) return;
      await apnsKey();
      topic = newPushTopic();
      expect((await uploadCert(server(), admin, makePushCertificate({ keyPem, topic }).certPem)).status).toBe(
        202,
      );
    }

    it('answers 400 before a certificate exists and keeps Apple MDM off', async () => {
      const st = await api(server(), 'GET', '/api/v1/fleet/mdm/apple', { token: admin });
      expect(st.status).toBe(400);
      expect(st.body.errors[0].reason).toMatch(/MDM features aren't turned on/);
      expect((await server().app.services.appConfig.get()).mdm.enabled_and_configured).toBe(false);
    });

    it('lets only a global admin request a CSR; the key is made once', async () => {
      const observer = await tokenForRole(server().app.services, 'observer');
      const maintainer = await tokenForRole(server().app.services, 'maintainer');
      expect(
        (await api(server(), 'GET', '/api/v1/fleet/mdm/apple/request_csr', { token: observer })).status,
      ).toBe(403);
      expect(
        (await api(server(), 'GET', '/api/v1/fleet/mdm/apple/request_csr', { token: maintainer })).status,
      ).toBe(403);
      expect(await storedAssetNames(server())).toEqual([]);

      const a = await api(server(), 'GET', '/api/v1/fleet/mdm/apple/request_csr', { token: admin });
      expect(a.status).toBe(200);
      const csr = forge.pki.certificationRequestFromPem(Buffer.from(a.body.csr, 'base64').toString('utf8'));
      expect(csr.verify()).toBe(true);
      const b = await api(server(), 'GET', '/api/latest/fleet/mdm/apple/request_csr', { token: admin });
      const csr2 = forge.pki.certificationRequestFromPem(Buffer.from(b.body.csr, 'base64').toString('utf8'));
      expect(forge.pki.publicKeyToPem(csr2.publicKey!)).toBe(forge.pki.publicKeyToPem(csr.publicKey!));
      expect(await storedAssetNames(server())).toEqual(['apns_key']);
      keyPem = (await server().app.services.assets.getOne('apns_key', { fresh: true }))!.toString();
      expect(
        forge.pki.publicKeyToPem(
          forge.pki.setRsaPublicKey(
            (forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey).n,
            (forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey).e,
          ),
        ),
      ).toBe(forge.pki.publicKeyToPem(csr.publicKey!));
    });

    it('refuses bad uploads with 4xx and stores nothing', async () => {
      await apnsKey();
      const cases: [string | Buffer, number, RegExp][] = [
        [readFileSync(`${vectors}/pushcert-mock-no-uid.micromdm.pem`), 422, /no UID attribute/],
        [
          readFileSync(`${vectors}/pushcert-mock-wrong-uid-prefix.micromdm.pem`),
          422,
          /not an MDM push topic/,
        ],
        // Valid shape and topic, but made for someone else's key.
        [
          readFileSync(`${vectors}/pushcert-mock-valid-uid.micromdm.pem`),
          422,
          /does not match the stored APNs key/,
        ],
        [makePushCertificate().certPem, 422, /does not match the stored APNs key/],
        [makePushCertificate({ keyPem, days: -1 }).certPem, 422, /expired/],
        ['this is not a certificate', 422, /not a PEM or DER certificate/],
      ];
      for (const [pem, status, reason] of cases) {
        const res = await uploadCert(server(), admin, pem);
        expect(res.status, String(reason)).toBe(status);
        expect(res.body.errors[0].reason).toMatch(reason);
      }
      const empty = await fetch(`${server().url}/api/v1/fleet/mdm/apple/apns_certificate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}` },
        body: new FormData(),
      });
      expect(empty.status).toBe(400);
      expect(await storedAssetNames(server())).toEqual(['apns_key']);
      expect((await api(server(), 'GET', '/api/v1/fleet/mdm/apple', { token: admin })).status).toBe(400);
      expect((await server().app.services.appConfig.get()).mdm.enabled_and_configured).toBe(false);
    });

    it('accepts the signed certificate and reports it', async () => {
      await apnsKey();
      topic = newPushTopic();
      const cert = makePushCertificate({ keyPem, topic });
      const res = await uploadCert(server(), admin, cert.certPem);
      // 202 Accepted, as Fleet answers it.
      expect(res.status).toBe(202);
      const st = await api(server(), 'GET', '/api/v1/fleet/mdm/apple', { token: admin });
      expect(st.status).toBe(200);
      const x = new X509Certificate(cert.certPem);
      expect(st.body).toEqual({
        common_name: `APSP:${topic.split('.').pop()}`,
        serial_number: BigInt(`0x${x.serialNumber}`).toString(10),
        issuer: 'Test Apple Push CA',
        renew_date: new Date(x.validTo).toISOString().replace('.000Z', 'Z'),
      });
      expect((await api(server(), 'GET', '/api/latest/fleet/apns', { token: admin })).body).toEqual(st.body);
      expect((await server().app.services.appConfig.get()).mdm.enabled_and_configured).toBe(true);
      const cur = await server().app.services.apnsCertificates.current();
      expect(cur?.topic).toBe(topic);
      const acts = await server()
        .app.services.database.db.selectFrom('activities')
        .select('activity_type')
        .where('activity_type', '=', 'uploaded_apns_certificate')
        .execute();
      expect(acts.length).toBe(1);
    });

    it('pushes to devices and records dead tokens, which are not pushed again until a TokenUpdate', async () => {
      await pushCertificate();
      const { db } = server().app.services.database;
      const good = await seedEnrollment(db, { topic });
      const bad = await seedEnrollment(db, { topic });
      const gone = await seedEnrollment(db, { topic });
      apns.fake.markBadToken(bad.tokenHex);
      apns.fake.markUnregistered(gone.tokenHex);
      const woke: string[] = [];
      apns.fake.onPush(good.tokenHex, (p) => woke.push(p.pushMagic ?? ''));

      const res = await server().app.services.applePush.pushEnrollments([
        good.udid,
        bad.udid,
        gone.udid,
        'NO-SUCH-ID',
      ]);
      expect(res).toEqual([
        { enrollmentId: good.udid, ok: true, status: 200, reason: undefined },
        { enrollmentId: bad.udid, ok: false, status: 400, reason: 'BadDeviceToken' },
        { enrollmentId: gone.udid, ok: false, status: 410, reason: 'Unregistered' },
        { enrollmentId: 'NO-SUCH-ID', ok: false, reason: 'unknown enrollment' },
      ]);
      expect(woke).toEqual([good.pushMagic]);
      const push = apns.fake.pushesTo(good.tokenHex)[0];
      expect(push).toMatchObject({ topic, pushType: 'mdm', clientCertTopic: topic });
      expect((await enrollmentRow(server(), good.udid)).last_push_error).toBeNull();
      expect((await enrollmentRow(server(), good.udid)).last_push_at).not.toBeNull();
      expect((await enrollmentRow(server(), bad.udid)).last_push_error).toBe('BadDeviceToken');
      expect((await enrollmentRow(server(), gone.udid)).last_push_error).toBe('Unregistered');

      const before = apns.fake.pushes.length;
      const again = await server().app.services.applePush.pushEnrollments([bad.udid, gone.udid]);
      expect(again.map((r) => r.reason)).toEqual(['BadDeviceToken', 'Unregistered']);
      expect(apns.fake.pushes.length).toBe(before);

      // A TokenUpdate rewrites the enrollment with a fresh token: pushing resumes.
      const fresh = 'ab'.repeat(32);
      await db
        .updateTable('nano_enrollments')
        .set({ token_hex: fresh, updated_at: toDbTime(new Date(Date.now() + 1000)) })
        .where('id', '=', gone.udid)
        .execute();
      const [revived] = await server().app.services.applePush.pushEnrollments([gone.udid]);
      expect(revived.ok).toBe(true);
      expect((await enrollmentRow(server(), gone.udid)).last_push_error).toBeNull();
    });

    it('re-pushes pending and NotNow commands with exponential back-off, skipping answered ones', async () => {
      await pushCertificate();
      const { db } = server().app.services.database;
      const svc = server().app.services.applePush;
      const pending = await seedEnrollment(db, { topic });
      const notNow = await seedEnrollment(db, { topic });
      const answered = await seedEnrollment(db, { topic });
      const idle = await seedEnrollment(db, { topic });
      await seedPendingCommand(db, [pending.udid]);
      await seedPendingCommand(db, [notNow.udid], 'NotNow');
      await seedPendingCommand(db, [answered.udid], 'Acknowledged');
      const ours = [pending.udid, notNow.udid, answered.udid, idle.udid];
      const pushedIds = () =>
        new Set(apns.fake.pushes.filter((p) => p.status === 200).map((p) => p.tokenHex));
      const tokenOf = new Map([pending, notNow, answered, idle].map((e) => [e.tokenHex, e.udid]));
      const ourPushes = () =>
        [...pushedIds()]
          .map((t) => tokenOf.get(t))
          .filter(Boolean)
          .sort();

      apns.fake.resetStats();
      await svc.repushPending();
      expect(ourPushes()).toEqual([notNow.udid, pending.udid].sort());
      let row = await enrollmentRow(server(), pending.udid);
      expect(Number(row.push_failures)).toBe(1);
      const gap = (r: typeof row) =>
        new Date(r.next_push_at! + 'Z').getTime() - new Date(r.last_push_at! + 'Z').getTime();
      expect(gap(row)).toBe(2 * 60_000);

      // Not due yet: nothing is pushed.
      apns.fake.resetStats();
      await svc.repushPending();
      expect(ourPushes()).toEqual([]);

      // Due again: pushed, and the delay doubles; it never exceeds the maximum.
      for (const expected of [4, 8, 16, 32, 60, 60]) {
        await db
          .updateTable('nano_enrollments')
          .set({ next_push_at: toDbTime(new Date(Date.now() - 1000)) })
          .where('id', 'in', ours)
          .execute();
        apns.fake.resetStats();
        await svc.repushPending();
        expect(ourPushes()).toEqual([notNow.udid, pending.udid].sort());
        row = await enrollmentRow(server(), pending.udid);
        expect(gap(row)).toBe(expected * 60_000);
      }

      // A new command pushed right away resets the back-off.
      await svc.pushEnrollments([pending.udid]);
      row = await enrollmentRow(server(), pending.udid);
      expect(Number(row.push_failures)).toBe(0);
      expect(gap(row)).toBe(60_000);
      // The cron runs the same method.
      expect(server().app.services.cron.jobNames()).toContain('apple_mdm_apns_pusher');
    });

    it('refuses a certificate with another topic while devices are enrolled; nothing changes', async () => {
      await pushCertificate();
      await seedEnrollment(server().app.services.database.db, { topic }); // a device enrolled
      const before = await api(server(), 'GET', '/api/v1/fleet/mdm/apple', { token: admin });
      const other = makePushCertificate({ keyPem, topic: newPushTopic() });
      const res = await uploadCert(server(), admin, other.certPem);
      expect(res.status).toBe(409);
      expect(res.body.errors[0].reason).toMatch(/differs from the topic of \d+ enrolled device/);
      expect((await api(server(), 'GET', '/api/v1/fleet/mdm/apple', { token: admin })).body).toEqual(
        before.body,
      );
      expect((await server().app.services.apnsCertificates.current())?.topic).toBe(topic);
    });

    it('uses a renewed certificate for the next push without a restart', async () => {
      await pushCertificate();
      const { db } = server().app.services.database;
      const dev = await seedEnrollment(db, { topic });
      await server().app.services.applePush.pushEnrollments([dev.udid]);
      const firstSerial = apns.fake.pushesTo(dev.tokenHex).at(-1)!.clientCertSerial;

      const renewed = makePushCertificate({ keyPem, topic, days: 400 });
      expect((await uploadCert(server(), admin, renewed.certPem)).status).toBe(202);
      await server().app.services.applePush.pushEnrollments([dev.udid]);
      const secondSerial = apns.fake.pushesTo(dev.tokenHex).at(-1)!.clientCertSerial;
      expect(secondSerial).toBe(new X509Certificate(renewed.certPem).serialNumber.toUpperCase());
      expect(secondSerial).not.toBe(firstSerial);
    });

    it('another process sees a renewed certificate once its short cache expires', async () => {
      await pushCertificate();
      const s = server().app.services;
      let clock = Date.now();
      // A second process: its own asset service and certificate cache over the same database.
      const otherAssets = new ConfigAssetService(new ConfigAssetStore(s.database.db), s.box);
      const other = new ApnsCertificateService(
        otherAssets,
        new ApplePushStore(s.database.db),
        s.appConfig,
        30_000,
        () => clock,
      );
      const before = await other.current();
      const renewed = makePushCertificate({ keyPem, topic, days: 500 });
      expect((await uploadCert(server(), admin, renewed.certPem)).status).toBe(202);
      expect((await other.current())?.certPem).toBe(before?.certPem);
      clock += 31_000;
      expect((await other.current())?.certPem).toBe(new X509Certificate(renewed.certPem).toString());
    });

    it('deletes the certificate: Apple MDM is off and pushes stop', async () => {
      await pushCertificate();
      const { db } = server().app.services.database;
      const dev = await seedEnrollment(db, { topic });
      const observer = await tokenForRole(server().app.services, 'observer');
      expect(
        (await api(server(), 'DELETE', '/api/v1/fleet/mdm/apple/apns_certificate', { token: observer }))
          .status,
      ).toBe(403);
      const del = await api(server(), 'DELETE', '/api/v1/fleet/mdm/apple/apns_certificate', { token: admin });
      expect(del.status).toBe(200);
      expect(await storedAssetNames(server())).toEqual([]);
      expect((await api(server(), 'GET', '/api/v1/fleet/mdm/apple', { token: admin })).status).toBe(400);
      expect((await server().app.services.appConfig.get()).mdm.enabled_and_configured).toBe(false);
      const [r] = await server().app.services.applePush.pushEnrollments([dev.udid]);
      expect(r).toMatchObject({ ok: false, reason: 'APNs certificate not configured' });
      expect(apns.fake.pushesTo(dev.tokenHex)).toEqual([]);
    });
  },
  apns.overrides,
);
