import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { DeviceHttpError, SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { dbNow } from '../../src/db/dialect.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { issueDeviceIdentity } from '../helpers/appleDevice.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const { fake, overrides } = await startFakeApns();
afterAll(async () => {
  await fake.close();
});

const enrollSecret = 'takeover-test-secret';

/** Every row of the tables a claim could change, to show a refused one changed nothing. */
async function snapshot(srv: TestServer): Promise<string> {
  await srv.app.services.flushAppleCheckin();
  const { db } = srv.app.services.database;
  const tables = [
    'nano_devices',
    'nano_enrollments',
    'nano_enrollment_queue',
    'nano_command_results',
    'nano_cert_auth_associations',
    'scep_certificates',
    'hosts',
    'host_mdm',
    'host_mdm_actions',
  ] as const;
  const out: Record<string, unknown> = {};
  for (const t of tables) out[t] = await db.selectFrom(t).selectAll().execute();
  return JSON.stringify(out, (_k, v) =>
    v && v.type === 'Buffer' ? Buffer.from(v.data).toString('base64') : v,
  );
}

/** Expects the device's request to be refused with 400 (never 401). */
async function refused(p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeviceHttpError);
  expect((err as DeviceHttpError).status).toBe(400);
}

describeEachDialect(
  'Apple enrollment takeover',
  (server) => {
    let token: string;
    const enrollUrl = () => `${server().url}/api/mdm/apple/enroll?token=${enrollSecret}`;

    /** A device enrolled as a real one is: enrollment profile, SCEP with its one-time challenge, check-ins. */
    async function realDevice(udid?: string): Promise<SimulatedAppleDevice> {
      const d = new SimulatedAppleDevice({ serverUrl: server().url, platform: 'macos', udid });
      await d.enroll(enrollUrl());
      return d;
    }

    /** Someone with the enroll secret: a genuine certificate of ours, then another device's UDID. */
    async function attackerFor(victim: SimulatedAppleDevice): Promise<SimulatedAppleDevice> {
      const a = new SimulatedAppleDevice({ serverUrl: server().url, platform: 'macos', udid: victim.udid });
      await a.loadEnrollmentProfile(enrollUrl());
      await a.scepEnroll();
      return a;
    }

    async function hostOf(d: SimulatedAppleDevice) {
      return (await server().app.services.hostStore.findByUuid(d.udid))!;
    }

    async function conflictActivities(hostId: number) {
      const res = await api(server(), 'GET', '/api/latest/fleet/activities?per_page=100', { token });
      expect(res.status).toBe(200);
      return (res.body.activities as { type: string; details: Record<string, unknown> }[]).filter(
        (a) => a.type === 'mdm_enrollment_conflict' && a.details.host_id === hostId,
      );
    }

    beforeAll(async () => {
      const srv = server();
      token = await setupAdmin(srv);
      await srv.app.services.appConfig.patch({ server_settings: { server_url: srv.url } });
      await installPushCertificate(srv.app.services);
      const res = await api(srv, 'POST', '/api/latest/fleet/spec/enroll_secret', {
        token,
        body: { spec: { secrets: [{ secret: enrollSecret }] } },
      });
      expect(res.status).toBe(200);
    });

    it('refuses a second real SCEP identity claiming an enrolled UDID; the real device keeps working', async () => {
      const srv = server();
      const victim = await realDevice();
      const host = await hostOf(victim);
      const queued = buildCommandPlist('ProfileList', {});
      await srv.app.services.appleQueue.enqueue([victim.udid], {
        commandUuid: queued.commandUuid,
        requestType: 'ProfileList',
        plist: queued.plist,
      });

      const attacker = await attackerFor(victim);
      const before = await snapshot(srv);
      const lines = srv.logLines!;
      const seen = lines.length;
      await refused(attacker.authenticate());
      await refused(attacker.tokenUpdate());
      await refused(attacker.connect());
      await refused(attacker.authenticate());
      // Nothing the real device relies on changed: push token, PushMagic, queue, host, certificates.
      expect(await snapshot(srv)).toBe(before);

      // Logged as refused, with the reason; no secret of either device in the log.
      const rejected = lines.slice(seen).filter((l) => l.msg === 'apple mdm request rejected');
      expect(rejected.map((l) => l.reason)).toEqual([
        'UDID is enrolled with another identity',
        'certificate is not associated with this enrollment',
        'certificate is not associated with this enrollment',
        'UDID is enrolled with another identity',
      ]);
      const logged = JSON.stringify(lines.slice(seen));
      for (const secret of [victim.pushMagic, attacker.pushMagic, attacker.identity!.keyPem.slice(40, 80)]) {
        expect(logged).not.toContain(secret);
      }

      // One activity for the attacker's certificate, however often it retries; the host shows it.
      const activities = await conflictActivities(host.id);
      expect(activities).toHaveLength(1);
      expect(activities[0].details).toMatchObject({
        host_id: host.id,
        host_serial: victim.serial,
        reason: 'UDID is enrolled with another identity',
      });
      const detail = await api(srv, 'GET', `/api/latest/fleet/hosts/${host.id}`, { token });
      expect(detail.status).toBe(200);
      expect(detail.body.host.mdm.enrollment_conflict).toMatchObject({
        reason: 'UDID is enrolled with another identity',
        attempts: 2,
        certificate_serial: activities[0].details.certificate_serial,
      });

      // The real device still gets its queued command and the admin's lock, with the PIN.
      expect((await victim.connect()).map((c) => c.commandUuid)).toEqual([queued.commandUuid]);
      const lock = await api(srv, 'POST', `/api/latest/fleet/hosts/${host.id}/lock?view_pin=true`, { token });
      expect(lock.status).toBe(200);
      const got = await victim.connect();
      expect(got.map((c) => c.requestType)).toEqual(['DeviceLock']);
      expect(String(got[0].command.PIN)).toBe(lock.body.unlock_pin);
      await refused(attacker.connect());
    });

    it('allows a genuine re-enrollment: after CheckOut, with an identity bound to the UDID, after an erase, after silence', async () => {
      const srv = server();
      const { db } = srv.app.services.database;

      // Checked out: the device left, so a new identity may bring it back.
      const left = await realDevice();
      await left.checkOut();
      const back = await attackerFor(left);
      await back.authenticate();
      await back.tokenUpdate();
      expect((await srv.app.services.hostStore.getHostMdm((await hostOf(left)).id))!.enrolled).toBe(true);

      // Bound: a re-enrollment profile made for this UDID carries a challenge bound to it.
      const bound = await realDevice();
      const reenroll = new SimulatedAppleDevice({ serverUrl: srv.url, platform: 'macos', udid: bound.udid });
      await reenroll.loadEnrollmentProfile(
        await srv.app.services.appleEnrollment.manualProfile({ deviceId: bound.udid }),
      );
      await reenroll.scepEnroll();
      await reenroll.authenticate();
      await reenroll.tokenUpdate();
      expect(await reenroll.connect()).toEqual([]);
      // ... and a challenge bound to one UDID does not let its certificate take over another.
      const elsewhere = await realDevice();
      const misbound = new SimulatedAppleDevice({
        serverUrl: srv.url,
        platform: 'macos',
        udid: elsewhere.udid,
      });
      await misbound.loadEnrollmentProfile(
        await srv.app.services.appleEnrollment.manualProfile({ deviceId: bound.udid }),
      );
      await misbound.scepEnroll();
      await refused(misbound.authenticate());

      // Erased: the device acknowledged an EraseDevice, so it will enroll afresh.
      const wiped = await realDevice();
      const erase = buildCommandPlist('EraseDevice', { PIN: '123456' });
      await srv.app.services.appleQueue.enqueue([wiped.udid], {
        commandUuid: erase.commandUuid,
        requestType: 'EraseDevice',
        plist: erase.plist,
      });
      await wiped.connect();
      const fresh = await attackerFor(wiped);
      await fresh.authenticate();

      // Silent: nothing heard from the enrolled identity for longer than the configured period.
      const silent = await realDevice();
      const stranger = await attackerFor(silent);
      await refused(stranger.authenticate());
      await srv.app.services.flushAppleCheckin();
      await db
        .updateTable('nano_enrollments')
        .set({ last_seen_at: dbNow(-31 * 86_400_000) })
        .where('id', '=', silent.udid)
        .execute();
      await stranger.authenticate();
    });

    it('refuses an unbound identity while a renewal is in progress (no OU no longer means renewal)', async () => {
      const srv = server();
      const d = await realDevice();
      const { db } = srv.app.services.database;
      const { sha256 } = await db
        .selectFrom('nano_cert_auth_associations')
        .select('sha256')
        .where('id', '=', d.udid)
        .executeTakeFirstOrThrow();
      const renew = buildCommandPlist('InstallProfile', { Payload: Buffer.from('renewal profile') });
      await srv.app.services.appleQueue.enqueue([d.udid], {
        commandUuid: renew.commandUuid,
        requestType: 'InstallProfile',
        plist: renew.plist,
      });
      await srv.app.services.appleEnrollments.markRenewal(d.udid, sha256, renew.commandUuid);
      const a = new SimulatedAppleDevice({
        serverUrl: srv.url,
        udid: d.udid,
        identity: await issueDeviceIdentity(srv, { CN: 'Fleet Identity', O: 'Fleet' }),
      });
      const before = await snapshot(srv);
      await refused(a.authenticate());
      expect(await snapshot(srv)).toBe(before);
    });

    it('refuses certificates we did not issue or have revoked; deleting a host revokes its certificates', async () => {
      const srv = server();
      const { db } = srv.app.services.database;
      // Signed by our CA but not recorded (e.g. a leaked CA key or a copy of another server's CA).
      const unrecorded = new SimulatedAppleDevice({
        serverUrl: srv.url,
        identity: await issueDeviceIdentity(srv, undefined, await srv.app.services.appleScep.caCertificate()),
      });
      const before = await snapshot(srv);
      await refused(unrecorded.authenticate());
      // From another CA entirely.
      const foreign = new SimulatedAppleDevice({
        serverUrl: srv.url,
        identity: await issueDeviceIdentity(srv, undefined, createCertificateAuthority('Other CA')),
      });
      await refused(foreign.authenticate());
      expect(await snapshot(srv)).toBe(before);

      const d = await realDevice();
      const host = await hostOf(d);
      const del = await api(srv, 'DELETE', `/api/latest/fleet/hosts/${host.id}`, { token });
      expect(del.status).toBe(200);
      const certs = await db
        .selectFrom('scep_certificates')
        .select(['revoked'])
        .where('enrollment_id', '=', d.udid)
        .execute();
      expect(certs.map((c) => Number(c.revoked))).toEqual([1]);
      // The deleted device's identity can no longer enroll, not even as a new device.
      await refused(d.authenticate());
      expect(await db.selectFrom('nano_devices').select('id').where('id', '=', d.udid).execute()).toEqual([]);
      // It comes back with a new enrollment profile.
      const again = await realDevice(d.udid);
      expect((await hostOf(again)).uuid).toBe(d.udid);
    });

    it('gives every enrollment profile download its own one-time challenge', async () => {
      const srv = server();
      const a = new SimulatedAppleDevice({ serverUrl: srv.url });
      const b = new SimulatedAppleDevice({ serverUrl: srv.url });
      const pa = await a.loadEnrollmentProfile(enrollUrl());
      const pb = await b.loadEnrollmentProfile(enrollUrl());
      expect(pa.challenge).not.toBe(pb.challenge);
      await a.scepEnroll();
      // b's profile still works; a's challenge does not work twice.
      await b.scepEnroll();
      const c = new SimulatedAppleDevice({ serverUrl: srv.url });
      await c.loadEnrollmentProfile(enrollUrl());
      c.profileInfo!.challenge = pa.challenge;
      await expect(c.scepEnroll()).rejects.toThrow();
    });
  },
  { ...overrides, logLevel: 'info' },
);
