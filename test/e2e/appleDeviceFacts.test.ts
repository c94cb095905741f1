import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { parsePlistDict } from '../../src/apple/plist/parse.js';
import { readEnrollmentProfile, type SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const apns = await startFakeApns();
afterAll(() => apns.fake.close());

/** The commands queued for an enrollment (by request type: queue times may tie), with their Queries. */
async function queued(srv: TestServer, enrollmentId: string) {
  const rows = await srv.app.services.database.db
    .selectFrom('nano_enrollment_queue as q')
    .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
    .select(['c.request_type', 'c.command_uuid', 'c.command'])
    .where('q.id', '=', enrollmentId)
    .orderBy('c.request_type')
    .execute();
  return rows.map((r) => ({
    requestType: r.request_type,
    commandUuid: r.command_uuid,
    queries: (parsePlistDict(Buffer.from(r.command)).Command as Record<string, unknown>).Queries,
  }));
}

async function inFlight(srv: TestServer, hostId: number): Promise<string[]> {
  const rows = await srv.app.services.database.db
    .selectFrom('host_mdm_commands')
    .select('command_type')
    .where('host_id', '=', hostId)
    .orderBy('command_type')
    .execute();
  return rows.map((r) => r.command_type);
}

async function hostIdOf(srv: TestServer, d: SimulatedAppleDevice): Promise<number> {
  const h = await srv.app.services.hostStore.findByUuid(d.udid);
  if (!h) throw new Error(`no host for ${d.udid}`);
  return h.id;
}

describeEachDialect(
  'Apple device facts: refetch jobs, SecurityInfo, GetToken',
  (server) => {
    let token = '';
    let topic = '';

    beforeAll(async () => {
      const srv = server();
      token = await setupAdmin(srv);
      await srv.app.services.appConfig.patch({ server_settings: { server_url: srv.url } });
      topic = (await installPushCertificate(srv.app.services)).topic;
    });

    async function device(platform: 'macos' | 'ios' | 'ipados', opts: { managedAppleId?: string } = {}) {
      return enrolledDevice(server(), {
        platform,
        topic,
        ...(opts.managedAppleId ? { userEnrollment: { managedAppleId: opts.managedAppleId } } : {}),
      });
    }

    async function hostJson(hostId: number) {
      const res = await api(server(), 'GET', `/api/v1/fleet/hosts/${hostId}`, { token });
      expect(res.status).toBe(200);
      return res.body.host;
    }

    it('iPhone/iPad refetcher: a stale iPhone gets DeviceInformation + SecurityInfo, a fresh iPad nothing; host detail shows the answers as Fleet does', async () => {
      const srv = server();
      const s = srv.app.services;
      const phone = await device('ios');
      const personal = await device('ios', { managedAppleId: 'ann@example.com' });
      const pad = await device('ipados');
      const phoneId = await hostIdOf(srv, phone);
      const personalId = await hostIdOf(srv, personal);
      const padId = await hostIdOf(srv, pad);
      // The iPad's facts are fresh: details refreshed and SecurityInfo answered just now.
      const now = dbNow();
      await s.database.db
        .updateTable('hosts')
        .set({ detail_updated_at: now })
        .where('id', '=', padId)
        .execute();
      await s.database.db
        .insertInto('host_apple_security_info')
        .values({ host_id: padId, passcode_present: 1, fetched_at: now })
        .execute();
      const before = await hostJson(phoneId);
      expect(before.mdm.security_info).toMatchObject({ fetched_at: null, passcode_present: null });
      const pushesBefore = apns.fake.pushesTo(phone.pushTokenHex).length;

      await s.appleFacts.refetchIphonesAndIpads();

      const [phoneInfo, phoneSecurity] = await queued(srv, phone.udid);
      expect([phoneInfo.requestType, phoneSecurity.requestType]).toEqual([
        'DeviceInformation',
        'SecurityInfo',
      ]);
      expect(phoneSecurity.commandUuid).toMatch(/^REFETCH-SECURITY-/);
      expect(phoneInfo.commandUuid).toMatch(/^REFETCH-DEVICE-/);
      expect(phoneInfo.queries).toEqual(expect.arrayContaining(['DeviceName', 'WiFiMAC', 'DeviceCapacity']));
      // The personal (User Enrollment) iPhone shares the SecurityInfo command and gets the shorter
      // DeviceInformation: no hardware identifiers.
      const [personalInfo, personalSecurity] = await queued(srv, personal.udid);
      expect([personalInfo.requestType, personalSecurity.requestType]).toEqual([
        'DeviceInformation',
        'SecurityInfo',
      ]);
      expect(personalSecurity.commandUuid).toBe(phoneSecurity.commandUuid);
      expect(personalInfo.commandUuid).not.toBe(phoneInfo.commandUuid);
      expect(personalInfo.queries).not.toContain('WiFiMAC');
      expect(personalInfo.queries).not.toContain('SerialNumber');
      expect(await queued(srv, pad.udid)).toEqual([]);
      expect(await inFlight(srv, phoneId)).toEqual(['REFETCH-DEVICE-', 'REFETCH-SECURITY-']);
      expect(apns.fake.pushesTo(phone.pushTokenHex).length).toBeGreaterThan(pushesBefore);

      // Nothing more while the commands are in flight.
      await s.appleFacts.refetchIphonesAndIpads();
      expect(await queued(srv, phone.udid)).toHaveLength(2);

      // The devices answer (as woken by the push).
      expect((await phone.connect()).map((c) => c.requestType).sort()).toEqual([
        'DeviceInformation',
        'SecurityInfo',
      ]);
      await personal.connect();
      expect(await inFlight(srv, phoneId)).toEqual([]);

      const host = await hostJson(phoneId);
      expect(host).toMatchObject({
        hostname: phone.deviceName,
        computer_name: phone.deviceName,
        display_name: phone.deviceName,
        os_version: 'iOS 17.4',
        hardware_model: 'iPhone15,2',
        hardware_serial: phone.serial,
        platform: 'ios',
        primary_mac: '00:11:22:33:44:55',
        gigs_total_disk_space: 494.38,
        gigs_disk_space_available: 200.5,
        refetch_requested: false,
      });
      expect(host.percent_disk_space_available).toBeCloseTo((100 * 200.5) / 494.38, 6);
      expect(Date.parse(host.detail_updated_at)).toBeGreaterThan(Date.parse(before.detail_updated_at));
      // Fleet shows no disk_encryption_enabled for an iPhone.
      expect('disk_encryption_enabled' in host).toBe(false);
      expect(host.mdm.enrollment_status).toBe('On (manual)');
      expect(host.mdm.security_info).toEqual({
        fetched_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        filevault_enabled: null,
        filevault_personal_recovery_key: null,
        system_integrity_protection_enabled: null,
        firewall_enabled: null,
        firewall_block_all_incoming: null,
        firewall_stealth_mode: null,
        enrolled_via_dep: false,
        user_approved_enrollment: true,
        is_user_enrollment: false,
        passcode_present: true,
        passcode_compliant: true,
        hardware_encryption_caps: 3,
        secure_boot_level: null,
      });
      const personalHost = await hostJson(personalId);
      expect(personalHost.mdm.enrollment_status).toBe('On (personal)');
      expect(personalHost.mdm.security_info).toMatchObject({ is_user_enrollment: true });

      // Fresh now: the next run asks nothing more.
      await s.appleFacts.refetchIphonesAndIpads();
      expect(await queued(srv, phone.udid)).toHaveLength(2);
      expect(await queued(srv, pad.udid)).toEqual([]);
    });

    it('the refetch action (DeviceInformation in flight) and the refetcher do not send DeviceInformation twice', async () => {
      const srv = server();
      const pad = await device('ipados');
      const padId = await hostIdOf(srv, pad);
      const res = await api(srv, 'POST', `/api/v1/fleet/hosts/${padId}/refetch`, { token });
      expect(res.status).toBe(200);
      await srv.app.services.appleFacts.refetchIphonesAndIpads();
      expect((await queued(srv, pad.udid)).map((q) => q.requestType)).toEqual([
        'DeviceInformation',
        'SecurityInfo',
      ]);
      await pad.connect();
      expect(await inFlight(srv, padId)).toEqual([]);
      expect((await hostJson(padId)).refetch_requested).toBe(false);
    });

    it('refetch commands the device refuses (Error) are no longer in flight: the next run asks again', async () => {
      const srv = server();
      const phone = await device('ios');
      const phoneId = await hostIdOf(srv, phone);
      phone.forcedAnswers.set('DeviceInformation', 'Error');
      phone.forcedAnswers.set('SecurityInfo', 'Error');
      await srv.app.services.appleFacts.refetchIphonesAndIpads();
      expect(await inFlight(srv, phoneId)).toEqual(['REFETCH-DEVICE-', 'REFETCH-SECURITY-']);
      await phone.connect();
      expect(await inFlight(srv, phoneId)).toEqual([]);
      expect((await hostJson(phoneId)).mdm.security_info.fetched_at).toBeNull();
      await srv.app.services.appleFacts.refetchIphonesAndIpads();
      expect(await queued(srv, phone.udid)).toHaveLength(4);
      expect(await inFlight(srv, phoneId)).toEqual(['REFETCH-DEVICE-', 'REFETCH-SECURITY-']);
    });

    it('macOS refetcher: SecurityInfo for every Mac, DeviceInformation only without osquery; FileVault, firewall, SIP and DEP status reach host detail', async () => {
      const srv = server();
      const s = srv.app.services;
      const mac = await device('macos');
      const osqueryMac = await device('macos');
      const macId = await hostIdOf(srv, mac);
      const osqueryMacId = await hostIdOf(srv, osqueryMac);
      await s.database.db
        .updateTable('hosts')
        .set({ osquery_host_id: `osq-${osqueryMac.udid}` })
        .where('id', '=', osqueryMacId)
        .execute();
      Object.assign(mac.security, {
        fdeEnabled: true,
        firewallEnabled: true,
        firewallStealthMode: true,
        sipEnabled: true,
        enrolledViaDep: true,
      });
      const before = await hostJson(macId);
      expect(before.mdm.enrollment_status).toBe('On (manual)');
      expect('disk_encryption_enabled' in before).toBe(false);
      const otherBefore = await hostJson(osqueryMacId);

      await s.appleFacts.refetchMacs();
      expect((await queued(srv, mac.udid)).map((q) => q.requestType)).toEqual([
        'DeviceInformation',
        'SecurityInfo',
      ]);
      expect((await queued(srv, osqueryMac.udid)).map((q) => q.requestType)).toEqual(['SecurityInfo']);
      await mac.connect();
      await osqueryMac.connect();

      const host = await hostJson(macId);
      expect(host.disk_encryption_enabled).toBe(true);
      // The Mac says it enrolled through ADE: Fleet's status follows installed_from_dep.
      expect(host.mdm.enrollment_status).toBe('On (automatic)');
      expect(host).toMatchObject({ primary_mac: '00:11:22:33:44:55', gigs_total_disk_space: 494.38 });
      expect(host.mdm.security_info).toMatchObject({
        filevault_enabled: true,
        filevault_personal_recovery_key: true,
        system_integrity_protection_enabled: true,
        firewall_enabled: true,
        firewall_block_all_incoming: false,
        firewall_stealth_mode: true,
        enrolled_via_dep: true,
        user_approved_enrollment: true,
        is_user_enrollment: false,
        secure_boot_level: 'full',
        passcode_present: null,
      });
      // osquery keeps the other Mac's vitals: its details were not touched by MDM.
      const other = await hostJson(osqueryMacId);
      expect(other.disk_encryption_enabled).toBe(false);
      expect(other.detail_updated_at).toBe(otherBefore.detail_updated_at);
      expect(other.primary_mac).toBe('');

      // A deleted host's facts go with it.
      expect((await api(srv, 'DELETE', `/api/v1/fleet/hosts/${osqueryMacId}`, { token })).status).toBe(200);
      const left = await s.database.db
        .selectFrom('host_apple_security_info')
        .select('host_id')
        .where('host_id', '=', osqueryMacId)
        .execute();
      expect(left).toEqual([]);
    });

    it('a SecurityInfo answer with wrong types changes nothing and is logged with the keys, not the values', async () => {
      const srv = server();
      const s = srv.app.services;
      const phone = await device('ios');
      const hostId = await hostIdOf(srv, phone);
      phone.securityInfoOverride = {
        PasscodePresent: 'secret-looking-value',
        ManagementStatus: { EnrolledViaDEP: 1, IsUserEnrollment: true },
        HardwareEncryptionCaps: 3,
      };
      const snapshot = async () => ({
        host: await s.database.db.selectFrom('hosts').selectAll().where('id', '=', hostId).executeTakeFirst(),
        mdm: await s.database.db
          .selectFrom('host_mdm')
          .selectAll()
          .where('host_id', '=', hostId)
          .executeTakeFirst(),
        facts: await s.database.db
          .selectFrom('host_apple_security_info')
          .selectAll()
          .where('host_id', '=', hostId)
          .execute(),
        inFlight: await inFlight(srv, hostId),
      });
      const before = await snapshot();
      const cmd = buildCommandPlist('SecurityInfo', {});
      const run = await api(srv, 'POST', '/api/latest/fleet/commands/run', {
        token,
        body: { command: cmd.plist.toString('base64'), host_uuids: [phone.udid] },
      });
      expect(run.status).toBe(200);
      const logStart = srv.logLines!.length;
      expect((await phone.connect()).map((c) => c.commandUuid)).toEqual([cmd.commandUuid]);
      // The device's answer is kept as a command result; the facts are not.
      expect(await s.appleQueue.commandResults(cmd.commandUuid)).toMatchObject([{ status: 'Acknowledged' }]);
      expect(await snapshot()).toEqual(before);
      const lines = srv
        .logLines!.slice(logStart)
        .filter((l) => String(l.msg).startsWith('SecurityInfo answer ignored'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 40,
        hostUuid: phone.udid,
        commandUuid: cmd.commandUuid,
        invalidKeys: ['PasscodePresent', 'ManagementStatus.EnrolledViaDEP'],
      });
      expect(JSON.stringify(lines[0])).not.toContain('secret-looking-value');
    });

    it('GetToken is refused as NanoMDM refuses it without a token service, and no profile advertises com.apple.mdm.token', async () => {
      const srv = server();
      const db = srv.app.services.database.db;
      const phone = await device('ios');
      const snapshot = async () => ({
        device: await db
          .selectFrom('nano_devices')
          .selectAll()
          .where('id', '=', phone.udid)
          .executeTakeFirst(),
        enrollment: await db
          .selectFrom('nano_enrollments')
          .selectAll()
          .where('device_id', '=', phone.udid)
          .execute(),
        results: await db
          .selectFrom('nano_command_results')
          .selectAll()
          .where('id', '=', phone.udid)
          .execute(),
      });
      const before = await snapshot();
      for (const [type, params] of [
        ['com.apple.maid', undefined],
        ['com.apple.watch.pairing', { PhoneUDID: phone.udid, WatchUDID: 'WATCH-1', SecurityToken: 'tok' }],
      ] as const) {
        await expect(phone.getToken(type, params)).rejects.toMatchObject({
          status: 500,
          body: 'request not handled',
        });
      }
      // Watch pairing without its TokenParameters is malformed.
      await expect(phone.getToken('com.apple.watch.pairing')).rejects.toMatchObject({
        status: 400,
        body: 'bad request',
      });
      expect(await snapshot()).toEqual(before);

      const secret = await api(srv, 'POST', '/api/latest/fleet/spec/enroll_secret', {
        token,
        body: { spec: { secrets: [{ secret: 'facts-secret' }] } },
      });
      expect(secret.status).toBe(200);
      const res = await fetch(`${srv.url}/api/mdm/apple/enroll?token=facts-secret`);
      expect(res.status).toBe(200);
      const profile = readEnrollmentProfile(Buffer.from(await res.arrayBuffer()));
      expect(profile.serverCapabilities).toEqual([
        'com.apple.mdm.per-user-connections',
        'com.apple.mdm.bootstraptoken',
      ]);
    });
  },
  { ...apns.overrides, logLevel: 'warn' },
);
