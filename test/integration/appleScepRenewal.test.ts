import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { buildEnrollmentProfile } from '../../src/apple/enrollment/profile.js';
import { parsePlistDict, type PlistValue } from '../../src/apple/plist/parse.js';
import { scepEnroll } from '../../src/apple/scep/client.js';
import {
  DeviceHttpError,
  enrollmentReplacementProblem,
  readEnrollmentProfile,
  SimulatedAppleDevice,
} from '../../src/apple/sim/device.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { cmsVerifyAttached } from '../../src/crypto/cms.js';
import { issueCertificate } from '../../src/crypto/issue.js';
import { dbNow } from '../../src/db/dialect.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { enrolledDevice, quickDevice, testTopic } from '../helpers/appleDevice.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const run = promisify(execFile);
const { fake, overrides } = await startFakeApns();
afterAll(async () => {
  await fake.close();
});

// The operator's migration profile is read from this file on each run; tests write and remove it.
const migrationFile = join(mkdtempSync(join(tmpdir(), 'flotilla-migration-')), 'migration.mobileconfig');

type Dict = Record<string, PlistValue>;
const day = 86_400_000;

function sha256Of(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

describeEachDialect(
  'Apple SCEP identity renewal (renew_scep_certificates)',
  (server) => {
    const services = () => server().app.services;
    const db = () => services().database.db;
    const renew = (now?: Date) => services().appleScepRenewal.service.run(now);

    const prepared = new WeakSet<TestServer>();
    /** The server URL and an APNs certificate for the devices' topic (renewal needs Apple MDM on). */
    async function prepare(): Promise<void> {
      const srv = server();
      if (prepared.has(srv)) return;
      await services().appConfig.patch({ server_settings: { server_url: srv.url } });
      await installPushCertificate(services(), { topic: testTopic });
      prepared.add(srv);
    }

    async function device(opts: Parameters<typeof enrolledDevice>[1] = {}): Promise<SimulatedAppleDevice> {
      await prepare();
      return enrolledDevice(server(), opts);
    }

    function associations(id: string) {
      return db()
        .selectFrom('nano_cert_auth_associations')
        .selectAll()
        .where('id', '=', id)
        .orderBy('created_at')
        .execute();
    }

    async function renewal(d: SimulatedAppleDevice, certPem = d.identity!.certPem) {
      return (await services().appleScepRenewal.store.get({ id: d.udid, sha256: sha256Of(certPem) }))!;
    }

    /** Moves the device's identity close to expiry (as if it had been enrolled for months). */
    async function expireSoon(d: SimulatedAppleDevice, days = 10): Promise<void> {
      await db()
        .updateTable('nano_cert_auth_associations')
        .set({ cert_not_valid_after: dbNow(days * day) })
        .where('id', '=', d.udid)
        .where('sha256', '=', sha256Of(d.identity!.certPem))
        .execute();
    }

    async function activities(type: string, hostId?: number) {
      let q = db()
        .selectFrom('activities')
        .select(['activities.id', 'activities.details'])
        .where('activity_type', '=', type);
      if (hostId !== undefined)
        q = q
          .innerJoin('host_activities', 'host_activities.activity_id', 'activities.id')
          .where('host_activities.host_id', '=', hostId);
      const rows = await q.orderBy('activities.id').execute();
      return rows.map((r) => JSON.parse(String(r.details)) as Record<string, unknown>);
    }

    async function queuedFor(commandUuid: string): Promise<string[]> {
      const rows = await db()
        .selectFrom('nano_enrollment_queue')
        .select('id')
        .where('command_uuid', '=', commandUuid)
        .orderBy('id')
        .execute();
      return rows.map((r) => r.id);
    }

    /** The enrollment profile inside a renewal command the device received, checked as signed by our CA. */
    async function receivedProfile(d: SimulatedAppleDevice, commandUuid: string): Promise<Dict> {
      const cmd = d.received.find((c) => c.commandUuid === commandUuid);
      expect(cmd?.requestType).toBe('InstallProfile');
      const signed = cmsVerifyAttached(cmd!.command.Payload as Buffer);
      const ca = await services().appleScep.caCertificate();
      expect(signed.signerCertDer.equals(ca.certDer)).toBe(true);
      return parsePlistDict(signed.content);
    }

    const mdmPayload = (p: Dict) =>
      (p.PayloadContent as Dict[]).find((x) => x.PayloadType === 'com.apple.mdm')!;
    const scepPayload = (p: Dict) =>
      (p.PayloadContent as Dict[]).find((x) => x.PayloadType === 'com.apple.security.scep')!;

    it('renews an identity close to expiry: SCEP with the profile challenge, and the host keeps its id, queue and history', async () => {
      const srv = server();
      const d = await device();
      const host = (await services().hostStore.findByUuid(d.udid))!;
      // History and a command still waiting in the queue.
      const info = buildCommandPlist('DeviceInformation', { Queries: ['DeviceName'] });
      await services().appleQueue.enqueue([d.udid], {
        commandUuid: info.commandUuid,
        requestType: 'DeviceInformation',
        plist: info.plist,
      });
      const oldPem = d.identity!.certPem;
      const oldSha = sha256Of(oldPem);
      await expireSoon(d);

      await renew();
      const sent = await renewal(d);
      expect(sent).toMatchObject({
        renew_state: 'command_sent',
        renew_kind: 'enrollment',
        renew_attempts: 0,
      });
      const commandUuid = sent.renew_command_uuid!;
      expect(await queuedFor(commandUuid)).toContain(d.udid);
      expect(await activities('sent_identity_certificate_renewal', host.id)).toEqual([
        expect.objectContaining({
          command_uuid: commandUuid,
          renewal_profile: 'enrollment',
          mdm_platform: 'apple',
        }),
      ]);
      // Nothing is sent twice in a row: a second run leaves the queued command as it is.
      await renew();
      expect((await renewal(d)).renew_command_uuid).toBe(commandUuid);

      const handled = await d.connect();
      expect(handled.map((c) => c.commandUuid)).toEqual([info.commandUuid, commandUuid]);
      await services().flushAppleCheckin();

      // The renewal profile keeps every invariant of the installed one (reference 1.6).
      const profile = await receivedProfile(d, commandUuid);
      expect(profile).toMatchObject({
        PayloadIdentifier: 'com.fleetdm.fleet.mdm.apple',
        PayloadUUID: '5ACABE91-CE30-4C05-93E3-B235C152404E',
        PayloadType: 'Configuration',
      });
      expect(mdmPayload(profile)).toMatchObject({
        PayloadIdentifier: 'com.fleetdm.fleet.mdm.apple.mdm',
        PayloadUUID: '29713130-1602-4D27-90C9-B822A295E44E',
        IdentityCertificateUUID: 'BCA53F9D-5DD2-494D-98D3-0D0F20FF6BA1',
        ServerURL: `${srv.url}/mdm/apple/mdm`,
        Topic: testTopic,
        AccessRights: 8191,
        SignMessage: true,
      });
      expect(mdmPayload(profile).CheckInURL).toBeUndefined();
      const scep = scepPayload(profile).PayloadContent as Dict;
      expect(scep.URL).toBe(`${srv.url}/mdm/apple/scep`);
      // A renewal identity has no fresh-enrollment OU.
      expect(scep.Subject).toEqual([[['O', 'Fleet']], [['CN', 'Fleet Identity']]]);

      // The device holds a new identity from our CA, issued through the command's challenge.
      const newPem = d.identity!.certPem;
      expect(newPem).not.toBe(oldPem);
      const ca = await services().appleScep.caCertificate();
      const issued = new X509Certificate(newPem);
      expect(issued.checkIssued(ca.x509) && issued.verify(ca.x509.publicKey)).toBe(true);
      expect(issued.subject).not.toContain('OU=');
      expect(await services().appleScep.certificateFor(issued.raw)).toMatchObject({
        renew_command_uuid: commandUuid,
        enrollment_id: d.udid,
        revoked: false,
      });
      // Bound next to the old one; the old one is renewed by it.
      const rows = await associations(d.udid);
      expect(rows.map((r) => r.sha256).sort()).toEqual([oldSha, sha256Of(newPem)].sort());
      expect(await renewal(d, oldPem)).toMatchObject({
        renew_state: 'renewed',
        renew_command_uuid: null,
        renewed_by_sha256: sha256Of(newPem),
      });
      expect((await renewal(d, newPem)).renew_state).toBeNull();

      // Same host, MDM still on, no new enrollment, the enrollment not reset.
      const after = (await services().hostStore.findByUuid(d.udid))!;
      expect(after.id).toBe(host.id);
      expect((await services().hostStore.getHostMdm(host.id))!.enrolled).toBe(true);
      expect(await activities('mdm_enrolled', host.id)).toHaveLength(1);
      const enrollment = await services().appleEnrollments.getEnrollment(d.udid);
      expect(enrollment).toMatchObject({ enabled: true, token_update_tally: 2 });
      expect(await services().appleEnrollments.renewalInProgress(d.udid)).toBe(false);
      const results = await services().appleQueue.commandResults(info.commandUuid);
      expect(results.map((r) => r.status)).toEqual(['Acknowledged']);
      expect(
        (await services().appleQueue.commandResults(commandUuid)).find((r) => r.hostUuid === d.udid),
      ).toMatchObject({
        status: 'Acknowledged',
      });
      const renewed = await activities('renewed_identity_certificate', host.id);
      expect(renewed).toEqual([
        expect.objectContaining({
          host_serial: d.serial,
          mdm_platform: 'apple',
          renewal_profile: 'enrollment',
          not_valid_after: new Date(issued.validTo).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        }),
      ]);

      // The next runs leave the device alone; it keeps working with its new identity only.
      await renew();
      await renew(new Date(Date.now() + 2 * day));
      expect(await d.connect()).toEqual([]);
      // The profile's challenge (a secret) never reached the log.
      const challenge = String(scep.Challenge);
      expect(challenge.length).toBeGreaterThan(20);
      expect(JSON.stringify(srv.logLines)).not.toContain(challenge);
    });

    it('the renewal profile is a CMS signed by the SCEP CA that openssl verifies, holding a plist plistutil reads', async () => {
      const d = await device();
      await expireSoon(d);
      await renew();
      const commandUuid = (await renewal(d)).renew_command_uuid!;
      const cmd = await d.report({ Status: 'Idle' });
      expect(cmd?.commandUuid).toBe(commandUuid);
      const dir = mkdtempSync(join(tmpdir(), 'renewal-profile-'));
      writeFileSync(join(dir, 'profile.p7'), cmd!.command.Payload as Buffer);
      writeFileSync(join(dir, 'ca.pem'), (await services().appleScep.caCertificate()).certPem);
      await run('openssl', [
        'cms',
        '-verify',
        '-inform',
        'DER',
        '-in',
        join(dir, 'profile.p7'),
        '-CAfile',
        join(dir, 'ca.pem'),
        '-purpose',
        'any',
        '-out',
        join(dir, 'profile.xml'),
      ]);
      await run('plistutil', ['-i', join(dir, 'profile.xml'), '-o', join(dir, 'profile.bin')]);
      await run('plistutil', ['-i', join(dir, 'profile.bin'), '-o', join(dir, 'again.xml')]);
      const again = parsePlistDict(readFileSync(join(dir, 'again.xml')));
      expect(again.PayloadIdentifier).toBe('com.fleetdm.fleet.mdm.apple');
      // The device finishes the renewal.
      await d.report(await d.respond(cmd!));
      expect((await associations(d.udid)).length).toBe(2);
    });

    it('hosts that share a profile share one command; an SSO host gets its own; an ADE host keeps the MDM URL', async () => {
      const srv = server();
      const a = await device();
      const b = await device();
      // Enrolled through an SSO (end-user authentication) profile: its ServerURL carries the reference.
      await prepare();
      const ref = randomUUID();
      const sso = await quickDevice(srv);
      sso.serverUrl = sso.checkInUrl = `${srv.url}/mdm/apple/mdm?enroll_reference=${ref}`;
      await sso.authenticate();
      await sso.tokenUpdate();
      const ssoHost = (await services().hostStore.findByUuid(sso.udid))!;
      expect((await services().hostStore.getHostMdm(ssoHost.id))!.fleet_enroll_ref).toBe(ref);
      // An ADE host whose recorded URL is unknown: its profile was built on the MDM URL.
      const ade = await device();
      const adeHost = (await services().hostStore.findByUuid(ade.udid))!;
      await db()
        .updateTable('host_mdm')
        .set({ installed_from_dep: 1, server_url: '' })
        .where('host_id', '=', adeHost.id)
        .execute();
      for (const d of [a, b, sso, ade]) await expireSoon(d);

      // Today's server URL differs from the one the devices enrolled with; the profiles must not follow it.
      await services().appConfig.patch({
        server_settings: { server_url: 'https://moved.example.com' },
        mdm: { apple_server_url: srv.url },
      });
      try {
        await renew();
      } finally {
        await services().appConfig.patch({
          server_settings: { server_url: srv.url },
          mdm: { apple_server_url: '' },
        });
      }
      const shared = (await renewal(a)).renew_command_uuid!;
      expect((await renewal(b)).renew_command_uuid).toBe(shared);
      expect((await renewal(ade)).renew_command_uuid).toBe(shared);
      expect(await queuedFor(shared)).toEqual(expect.arrayContaining([a.udid, b.udid, ade.udid].sort()));
      const own = (await renewal(sso)).renew_command_uuid!;
      expect(own).not.toBe(shared);
      expect(await queuedFor(own)).toEqual([sso.udid]);

      // Every device accepts its profile (the simulator refuses one that breaks reference 1.6) and renews.
      for (const d of [a, b, sso, ade]) {
        await d.connect();
        expect(d.replacedIdentities).toHaveLength(1);
        expect((await associations(d.udid)).length).toBe(2);
      }
      expect(mdmPayload(await receivedProfile(sso, own)).ServerURL).toBe(
        `${srv.url}/mdm/apple/mdm?enroll_reference=${ref}`,
      );
      expect(mdmPayload(await receivedProfile(ade, shared)).ServerURL).toBe(`${srv.url}/mdm/apple/mdm`);
      // The challenge is shared by the command's devices, each with its own certificate.
      const serials = [a, b, ade].map((d) => new X509Certificate(d.identity!.certPem).serialNumber);
      expect(new Set(serials).size).toBe(3);
    });

    it('a user-enrolled device is renewed with its Managed Apple Account; one whose account is unknown is reported', async () => {
      await prepare();
      const srv = server();
      const email = `user-${randomUUID()}@example.com`;
      const ue = await quickDevice(srv, { userEnrollment: { managedAppleId: email }, platform: 'ios' });
      await ue.authenticate();
      await ue.tokenUpdate();
      const host = (await services().hostStore.findByUuid(ue.udid))!;
      expect((await services().hostStore.getHostMdm(host.id))!.is_personal_enrollment).toBe(true);
      const account = randomUUID();
      const now = dbNow();
      await db()
        .insertInto('mdm_idp_accounts')
        .values({ uuid: account, username: email, fullname: 'User', email, created_at: now, updated_at: now })
        .execute();
      await db()
        .insertInto('host_mdm_idp_accounts')
        .values({ host_uuid: ue.udid, account_uuid: account, created_at: now, updated_at: now })
        .execute();
      const unknown = await quickDevice(srv, {
        userEnrollment: { managedAppleId: 'nobody@example.com' },
        platform: 'ios',
      });
      await unknown.authenticate();
      await unknown.tokenUpdate();
      await expireSoon(ue);
      await expireSoon(unknown);

      await renew();
      const sent = await renewal(ue);
      expect(sent).toMatchObject({ renew_state: 'command_sent', renew_kind: 'user_enrollment' });
      expect(await queuedFor(sent.renew_command_uuid!)).toEqual([ue.udid]);
      await ue.connect();
      const profile = await receivedProfile(ue, sent.renew_command_uuid!);
      expect(profile.PayloadScope).toBe('User');
      expect(mdmPayload(profile)).toMatchObject({ EnrollmentMode: 'BYOD', AssignedManagedAppleID: email });
      expect(mdmPayload(profile).AccessRights).toBeUndefined();
      expect(ue.replacedIdentities).toHaveLength(1);
      expect((await renewal(ue, ue.replacedIdentities[0].certPem)).renew_state).toBe('renewed');

      // Reported, not sent a profile it would refuse.
      const refused = await renewal(unknown);
      expect(refused).toMatchObject({
        renew_state: 'failed',
        renew_kind: 'user_enrollment',
        renew_command_uuid: null,
        renew_attempts: 1,
        renew_error: 'User Enrollment: the Managed Apple Account of this enrollment is not known',
      });
      expect(await unknown.connect()).toEqual([]);
      const unknownHost = (await services().hostStore.findByUuid(unknown.udid))!;
      expect(await activities('failed_identity_certificate_renewal', unknownHost.id)).toEqual([
        expect.objectContaining({
          reason: refused.renew_error,
          attempts: 1,
          renewal_profile: 'user_enrollment',
        }),
      ]);
    });

    it('a personal device enrollment keeps byod=1 on its ServerURL and gets no lock or erase rights', async () => {
      await prepare();
      const srv = server();
      const d = await quickDevice(srv, { platform: 'ios' });
      d.serverUrl = d.checkInUrl = `${srv.url}/mdm/apple/mdm?byod=1`;
      await d.authenticate();
      await d.tokenUpdate();
      const host = (await services().hostStore.findByUuid(d.udid))!;
      expect((await services().hostStore.getHostMdm(host.id))!.is_personal_enrollment).toBe(true);
      await expireSoon(d);
      await renew();
      const commandUuid = (await renewal(d)).renew_command_uuid!;
      expect(await queuedFor(commandUuid)).toEqual([d.udid]);
      await d.connect();
      const mdm = mdmPayload(await receivedProfile(d, commandUuid));
      expect(mdm).toMatchObject({ ServerURL: `${srv.url}/mdm/apple/mdm?byod=1`, AccessRights: 8191 & ~12 });
      expect(d.replacedIdentities).toHaveLength(1);
    });

    it('a renewal whose acknowledgement is lost is retried with the same command, never a second one', async () => {
      const d = await device();
      await expireSoon(d);
      await renew();
      const commandUuid = (await renewal(d)).renew_command_uuid!;
      // The device receives the command, and its answer never arrives (it went offline).
      const first = await d.report({ Status: 'Idle' });
      expect(first?.commandUuid).toBe(commandUuid);
      await services().flushAppleCheckin();
      await renew();
      await renew(new Date(Date.now() + 3 * day));
      expect(await renewal(d)).toMatchObject({
        renew_state: 'command_sent',
        renew_command_uuid: commandUuid,
      });
      const renewalRows = await db()
        .selectFrom('nano_enrollment_queue as q')
        .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
        .select('q.command_uuid')
        .where('q.id', '=', d.udid)
        .where('c.request_type', '=', 'InstallProfile')
        .execute();
      expect(renewalRows.map((r) => r.command_uuid)).toEqual([commandUuid]);
      // Back online: the same command again, and this time the renewal goes through.
      const handled = await d.connect();
      expect(handled.map((c) => c.commandUuid)).toEqual([commandUuid]);
      expect(d.replacedIdentities).toHaveLength(1);
      expect((await renewal(d, d.replacedIdentities[0].certPem)).renew_state).toBe('renewed');
    });

    it('a device that renewed but whose acknowledgement was lost is not asked again', async () => {
      const d = await device();
      await expireSoon(d);
      await renew();
      const cmd = (await d.report({ Status: 'Idle' }))!;
      // SCEP, Authenticate and TokenUpdate happen; the acknowledgement is lost.
      await d.respond(cmd);
      const old = d.replacedIdentities[0];
      expect((await renewal(d, old.certPem)).renew_state).toBe('renewed');
      // The command left the queue when the new identity authenticated: no second renewal.
      expect(await d.connect()).toEqual([]);
      await renew(new Date(Date.now() + 3 * day));
      expect(await d.connect()).toEqual([]);
      expect(d.replacedIdentities).toHaveLength(1);
    });

    it('a refused renewal fails, backs off, and is retried with a new command', async () => {
      const d = await device();
      const host = (await services().hostStore.findByUuid(d.udid))!;
      await expireSoon(d);
      d.forcedAnswers.set('InstallProfile', 'Error');
      await renew();
      const firstCommand = (await renewal(d)).renew_command_uuid!;
      await d.connect();
      const t0 = Date.now();
      await renew(new Date(t0));
      const failed = await renewal(d);
      expect(failed).toMatchObject({
        renew_state: 'failed',
        renew_command_uuid: null,
        renew_attempts: 1,
        renew_error: 'the device answered Error: MCMDMErrorDomain (12345): Simulated failure',
      });
      const retryAt = new Date(`${failed.renew_retry_at!.replace(' ', 'T')}Z`).getTime();
      expect(retryAt - t0).toBe(60 * 60_000);
      expect(await activities('failed_identity_certificate_renewal', host.id)).toHaveLength(1);
      // Not before the back-off ends.
      await renew(new Date(t0 + 30 * 60_000));
      expect((await renewal(d)).renew_state).toBe('failed');
      await renew(new Date(t0 + 61 * 60_000));
      const again = await renewal(d);
      expect(again).toMatchObject({ renew_state: 'command_sent', renew_attempts: 1, renew_error: null });
      expect(again.renew_command_uuid).not.toBe(firstCommand);
      d.forcedAnswers.delete('InstallProfile');
      const handled = await d.connect();
      expect(handled.map((c) => c.commandUuid)).toEqual([again.renew_command_uuid]);
      expect((await renewal(d, d.replacedIdentities[0].certPem)).renew_state).toBe('renewed');
      // The second failure would have waited twice as long.
      expect(services().appleScepRenewal.service.retryDelayMs(1)).toBe(2 * 60 * 60_000);
      expect(services().appleScepRenewal.service.retryDelayMs(30)).toBe(7 * day);
    });

    it('renews through a RenewalReq signed by the current identity too', async () => {
      const d = await device();
      d.scepRenewalMode = 'renewalReq';
      await expireSoon(d);
      await renew();
      const commandUuid = (await renewal(d)).renew_command_uuid!;
      await d.connect();
      expect(d.replacedIdentities).toHaveLength(1);
      const row = await services().appleScep.certificateFor(new X509Certificate(d.identity!.certPem).raw);
      // Issued for the device the old identity authenticated, without the command's challenge.
      expect(row).toMatchObject({ bound_device_id: d.udid, renew_command_uuid: null });
      expect((await renewal(d, d.replacedIdentities[0].certPem)).renewed_by_sha256).toBe(
        sha256Of(d.identity!.certPem),
      );
      expect((await services().appleQueue.commandResults(commandUuid))[0].status).toBe('Acknowledged');
    });

    it('migrated devices are reported without a usable migration profile and renewed with the operator profile', async () => {
      await prepare();
      rmSync(migrationFile, { force: true });
      const srv = server();
      // Enrolled by the previous vendor: its identifiers, our URLs (the migration kept them reachable).
      const vendor = (challenge: string) =>
        Buffer.from(
          buildEnrollmentProfile({
            serverUrl: srv.url,
            scepChallenge: challenge,
            topic: testTopic,
            orgName: 'Old',
          })
            .toString('utf8')
            .replaceAll('com.fleetdm.fleet.mdm.apple', 'com.vendor.mdm')
            .replaceAll('5ACABE91-CE30-4C05-93E3-B235C152404E', 'A1A1A1A1-0000-4000-8000-000000000001'),
        );
      const d = await quickDevice(srv);
      await d.loadEnrollmentProfile(vendor('old-vendor-challenge'));
      await d.authenticate();
      await d.tokenUpdate();
      await db()
        .updateTable('nano_enrollments')
        .set({ enrolled_from_migration: 1 })
        .where('id', '=', d.udid)
        .execute();
      const host = (await services().hostStore.findByUuid(d.udid))!;
      await expireSoon(d);
      // Our standard profile would be refused by this device (a second MDM payload).
      const ours = readEnrollmentProfile(
        buildEnrollmentProfile({ serverUrl: srv.url, scepChallenge: 'x', topic: testTopic, orgName: 'Acme' }),
      );
      expect(enrollmentReplacementProblem(d.installedEnrollment(), ours)).toBe(
        'A profile with an MDM payload is already installed; only one is allowed.',
      );

      const t0 = Date.now();
      await renew(new Date(t0));
      expect(await renewal(d)).toMatchObject({
        renew_state: 'failed',
        renew_kind: 'migration',
        renew_attempts: 1,
        renew_error: 'migration enrollment profile unusable: cannot read the file: ENOENT',
      });
      expect(await d.connect()).toEqual([]);

      // A profile with two MDM payloads is refused by us before any device sees it.
      const mdmBlock = /<dict>\s*<key>AccessRights<\/key>[\s\S]*?<\/dict>/.exec(vendor('c').toString())![0];
      const xml = vendor('c').toString();
      const end = xml.lastIndexOf('</array>'); // the end of the top-level PayloadContent
      writeFileSync(migrationFile, `${xml.slice(0, end)}${mdmBlock}${xml.slice(end)}`);
      await renew(new Date(t0 + 2 * 3600_000));
      expect(await renewal(d)).toMatchObject({
        renew_state: 'failed',
        renew_attempts: 2,
        renew_error: 'migration enrollment profile unusable: expected one com.apple.mdm payload, found 2',
      });
      expect(await d.connect()).toEqual([]);

      // The operator's profile, base64 as Fleet's variable holds it: our challenge goes into it.
      writeFileSync(migrationFile, vendor('operator-placeholder').toString('base64'));
      try {
        await renew(new Date(t0 + 2 * day));
        const sent = await renewal(d);
        expect(sent).toMatchObject({ renew_state: 'command_sent', renew_kind: 'migration' });
        await d.connect();
        const profile = await receivedProfile(d, sent.renew_command_uuid!);
        expect(profile.PayloadIdentifier).toBe('com.vendor.mdm');
        expect((scepPayload(profile).PayloadContent as Dict).Challenge).not.toBe('operator-placeholder');
        expect(d.replacedIdentities).toHaveLength(1);
        expect(await activities('mdm_enrolled', host.id)).toHaveLength(1);
        // Still on the vendor profile: its next renewal uses the migration profile again.
        const current = await renewal(d);
        expect(Number(current.from_migration)).toBe(1);
        await expireSoon(d);
        await renew(new Date(t0 + 3 * day));
        expect(await renewal(d)).toMatchObject({ renew_state: 'command_sent', renew_kind: 'migration' });
      } finally {
        rmSync(migrationFile, { force: true });
      }
    });

    it('refuses a RenewalReq signed by a certificate we never issued or that was already replaced, changing nothing', async () => {
      const srv = server();
      const d = await device();
      await expireSoon(d);
      await renew();
      await d.connect();
      const old = d.replacedIdentities[0];
      expect(old).toBeDefined();
      const counts = async () => {
        const n = async (t: 'scep_certificates' | 'scep_serials' | 'nano_cert_auth_associations') =>
          Number(
            (
              await db()
                .selectFrom(t)
                .select((eb) => eb.fn.countAll<number>().as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          );
        return {
          certs: await n('scep_certificates'),
          serials: await n('scep_serials'),
          associations: await n('nano_cert_auth_associations'),
        };
      };
      const before = await counts();
      const url = `${srv.url}/mdm/apple/scep`;
      // Replaced by the renewal.
      await expect(
        scepEnroll({ url, challenge: '', subjectCN: 'Fleet Identity', renew: old }),
      ).rejects.toMatchObject({ failInfo: 'badCertId', message: 'SCEP request refused: badCertId' });
      expect(srv.logLines).toContainEqual(
        expect.objectContaining({
          msg: 'scep request refused',
          failInfo: 'badCertId',
          reason: 'renewal signer certificate has already been replaced by a newer one',
        }),
      );
      // From another CA.
      const other = createCertificateAuthority('Not our CA');
      const foreign = issueCertificate({
        publicKeyPem: new X509Certificate(old.certPem).publicKey.export({
          type: 'spki',
          format: 'pem',
        }) as string,
        subject: { CN: 'Fleet Identity' },
        days: 30,
        ca: other,
        usage: 'client',
      });
      await expect(
        scepEnroll({
          url,
          challenge: '',
          subjectCN: 'x',
          renew: { certPem: foreign.certPem, keyPem: old.keyPem },
        }),
      ).rejects.toMatchObject({ failInfo: 'badCertId' });
      // Debian's scepclient renewing with the replaced certificate is refused the same way.
      const dir = mkdtempSync(join(tmpdir(), 'scepclient-renew-'));
      mkdirSync(join(dir, 'c'));
      writeFileSync(join(dir, 'c', 'key.pem'), old.keyPem);
      writeFileSync(join(dir, 'c', 'cert.pem'), old.certPem);
      const args = [
        '-server-url',
        url,
        '-private-key',
        join(dir, 'c', 'key.pem'),
        '-certificate',
        join(dir, 'c', 'cert.pem'),
      ];
      await expect(run('scepclient', args, { timeout: 20_000 })).rejects.toThrow();
      expect(await counts()).toEqual(before);
      // The current identity may renew.
      await scepEnroll({ url, challenge: '', subjectCN: 'Fleet Identity', renew: d.identity! });
      expect((await counts()).certs).toBe(before.certs + 1);
      expect(existsSync(join(dir, 'c', 'cert.pem'))).toBe(true);
    }, 60_000);

    it("another device cannot use a renewal command's shared challenge to take over a device", async () => {
      const srv = server();
      const victim = await device();
      const attacker = await device();
      await expireSoon(victim);
      await renew();
      const commandUuid = (await renewal(victim)).renew_command_uuid!;
      const cmd = (await victim.report({ Status: 'Idle' }))!;
      expect(cmd.commandUuid).toBe(commandUuid);
      const info = readEnrollmentProfile(cmd.command.Payload as Buffer);
      // The attacker's own certificate from the shared challenge...
      const got = await scepEnroll({
        url: info.scepUrl,
        challenge: info.challenge,
        subjectCN: 'Fleet Identity',
      });
      const before = await associations(victim.udid);
      // ...cannot act as a device the command was not sent to.
      const outsider = new SimulatedAppleDevice({
        serverUrl: srv.url,
        udid: attacker.udid,
        topic: testTopic,
        identity: { certPem: got.certPem, keyPem: got.keyPem },
      });
      const err = await outsider.authenticate().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeviceHttpError);
      expect((err as DeviceHttpError).status).toBe(400);
      expect(await associations(attacker.udid)).toHaveLength(1);
      expect(await associations(victim.udid)).toEqual(before);
      // The victim's own renewal still completes.
      await victim.report(await victim.respond(cmd));
      expect(victim.replacedIdentities).toHaveLength(1);
    });
  },
  { ...overrides, appleMigrationEnrollmentProfileFile: migrationFile, logLevel: 'info' },
);
