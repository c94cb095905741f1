import { beforeAll, expect, it } from 'vitest';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { adminPassword, api, setupAdmin } from '../helpers/api.js';
import { uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm } from '../helpers/windowsDevice.js';
import {
  convergeWindows,
  enrollPc,
  queuedFor,
  syncmlItem,
  windowsHostRows,
} from '../helpers/windowsProfiles.js';

const secret = 'windows-user-scope-secret';
const USER_POLICY = './User/Vendor/MSFT/Policy/Config';
const DEVICE_POLICY = './Device/Vendor/MSFT/Policy/Config';

async function signedInAt(srv: TestServer, hostUuid: string) {
  const row = await srv.app.services.database.db
    .selectFrom('mdm_windows_enrollments')
    .select('user_signed_in_at')
    .where('host_uuid', '=', hostUuid)
    .executeTakeFirstOrThrow();
  return row.user_signed_in_at;
}

describeEachDialect(
  'Windows ./User/ profiles wait for a signed-in user',
  (server) => {
    let srv: TestServer;
    let admin = '';
    let d: SimulatedWindowsDevice;
    let hostId = 0;
    let userProfile = '';

    beforeAll(async () => {
      srv = server();
      admin = await setupAdmin(srv);
      await enableWindowsMdm(srv, secret);
      ({ d, hostId } = await enrollPc(srv, secret, { userSignedIn: false }));
      await d.runSession();
    });

    it('refuses a profile mixing device and user LocURIs, and stores nothing', async () => {
      const db = srv.app.services.database.db;
      const before = await db.selectFrom('mdm_windows_configuration_profiles').selectAll().execute();
      const mixed = [
        `<Replace>${syncmlItem(`${DEVICE_POLICY}/Camera/AllowCamera`, '0')}</Replace><Replace>${syncmlItem(`${USER_POLICY}/Start/HideSleep`, '1')}</Replace>`,
        // A LocURI without ./Device is the device's too.
        `<Atomic><Replace>${syncmlItem(`${USER_POLICY}/Start/HideSleep`, '1')}</Replace><Add>${syncmlItem('./Vendor/MSFT/Policy/Config/Camera/AllowCamera', '0')}</Add></Atomic>`,
      ];
      for (const bytes of mixed) {
        const res = await uploadProfile(srv, admin, { name: 'Mixed.xml', bytes });
        expect(res.status).toBe(422);
        expect(res.body).toEqual({
          uuid: expect.any(String),
          message: 'Validation Failed',
          errors: [
            {
              name: 'profile',
              reason: 'All <LocURI> elements in the profile must start either with "./Device" or "./User".',
            },
          ],
        });
      }
      expect(await db.selectFrom('mdm_windows_configuration_profiles').selectAll().execute()).toEqual(before);
      expect(await db.selectFrom('host_mdm_windows_profiles').selectAll().execute()).toEqual([]);
    });

    it('holds a user profile while nobody is signed in, delivers the device one', async () => {
      const user = await uploadProfile(srv, admin, {
        name: 'Hide sleep.xml',
        bytes: `<Replace>${syncmlItem(`${USER_POLICY}/Start/HideSleep`, '1')}</Replace>`,
      });
      expect(user.status).toBe(200);
      userProfile = user.body.profile_uuid;
      const device = await uploadProfile(srv, admin, {
        name: 'Camera.xml',
        bytes: `<Replace>${syncmlItem(`${DEVICE_POLICY}/Camera/AllowCamera`, '0')}</Replace>`,
      });
      expect(device.status).toBe(200);
      expect(await signedInAt(srv, d.hardwareUuid)).toBeNull();

      await convergeWindows(srv, [d], 3);
      const rows = await windowsHostRows(srv, d.hardwareUuid);
      expect(rows.map((r) => [r.profile_name, r.operation_type, r.status, r.command_uuid])).toEqual([
        ['Camera', 'install', 'verified', expect.stringMatching(/^profile-/)],
        ['Hide sleep', 'install', null, ''],
      ]);
      expect(d.tree.get(`${DEVICE_POLICY}/Camera/AllowCamera`)?.data).toBe('0');
      expect(d.userTree.size).toBe(0);
      expect(await queuedFor(srv, d.hardwareUuid)).toEqual([]);
      // Shown as pending on the host, like Fleet's held profiles.
      const host = await api(srv, 'GET', `/api/latest/fleet/hosts/${hostId}`, { token: admin });
      expect(
        host.body.host.mdm.profiles.map((p: { name: string; status: string }) => [p.name, p.status]),
      ).toEqual([
        ['Camera', 'verified'],
        ['Hide sleep', 'pending'],
      ]);
    });

    it('delivers the held profile once a user signs in (Alert 1224 LoginStatus user), verified on acknowledgement', async () => {
      d.signIn();
      // The session that reports the sign-in records it and queues the held profile for the next one.
      await d.runSession();
      expect(await signedInAt(srv, d.hardwareUuid)).not.toBeNull();
      expect(
        (await windowsHostRows(srv, d.hardwareUuid)).find((r) => r.profile_uuid === userProfile),
      ).toMatchObject({
        status: 'pending',
        command_uuid: expect.stringMatching(/^profile-/),
      });
      await d.runSession();
      expect(d.userTree.get(`${USER_POLICY}/Start/HideSleep`)?.data).toBe('1');
      // ./User/ settings are not read back (a user may not be signed in then): acknowledged is verified.
      const rows = await windowsHostRows(srv, d.hardwareUuid);
      expect(rows.map((r) => [r.profile_name, r.status])).toEqual([
        ['Camera', 'verified'],
        ['Hide sleep', 'verified'],
      ]);
      await convergeWindows(srv, [d], 2);
      expect((await windowsHostRows(srv, d.hardwareUuid)).map((r) => r.status)).toEqual([
        'verified',
        'verified',
      ]);
    });

    it('holds the removal of ./User/ settings until a user is signed in again', async () => {
      d.signOut();
      await d.runSession();
      expect(await signedInAt(srv, d.hardwareUuid)).toBeNull();
      const del = await api(srv, 'DELETE', `/api/latest/fleet/configuration_profiles/${userProfile}`, {
        token: admin,
      });
      expect(del.status).toBe(200);
      await convergeWindows(srv, [d], 2);
      expect(
        (await windowsHostRows(srv, d.hardwareUuid)).find((r) => r.profile_uuid === userProfile),
      ).toMatchObject({
        operation_type: 'remove',
        status: null,
      });
      expect(await queuedFor(srv, d.hardwareUuid)).toEqual([]);
      expect(d.userTree.get(`${USER_POLICY}/Start/HideSleep`)?.data).toBe('1');

      d.signIn();
      await convergeWindows(srv, [d], 2);
      expect(d.userTree.has(`${USER_POLICY}/Start/HideSleep`)).toBe(false);
      expect((await windowsHostRows(srv, d.hardwareUuid)).map((r) => r.profile_name)).toEqual(['Camera']);
    });

    it('a ./User/ removal answered "not found" while nobody is signed in waits instead of counting as removed', async () => {
      const res = await uploadProfile(srv, admin, {
        name: 'Spotlight.xml',
        bytes: `<Replace>${syncmlItem(`${USER_POLICY}/Experience/AllowWindowsSpotlight`, '0')}</Replace>`,
      });
      expect(res.status).toBe(200);
      await convergeWindows(srv, [d], 2);
      expect(d.userTree.get(`${USER_POLICY}/Experience/AllowWindowsSpotlight`)?.data).toBe('0');
      // The Delete is queued while the user is signed in; the user signs out before the PC gets it.
      await api(srv, 'DELETE', `/api/latest/fleet/configuration_profiles/${res.body.profile_uuid}`, {
        token: admin,
      });
      await srv.app.services.windowsProfilesTick();
      expect((await queuedFor(srv, d.hardwareUuid)).some((c) => c.includes('<Delete>'))).toBe(true);
      d.signOut();
      await d.runSession();
      const row = (await windowsHostRows(srv, d.hardwareUuid)).find((r) => r.profile_name === 'Spotlight');
      expect(row).toMatchObject({ operation_type: 'remove', status: null });
      expect(d.userTree.get(`${USER_POLICY}/Experience/AllowWindowsSpotlight`)?.data).toBe('0');

      d.signIn();
      await convergeWindows(srv, [d], 2);
      expect(d.userTree.has(`${USER_POLICY}/Experience/AllowWindowsSpotlight`)).toBe(false);
      expect((await windowsHostRows(srv, d.hardwareUuid)).map((r) => r.profile_name)).toEqual(['Camera']);
    });

    it("a user's own enrollment (their credentials, outside the OOBE) counts as signed in from the start", async () => {
      const pc = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret: secret, keyBits: 1024 });
      await pc.enrollWithPassword('admin@example.com', adminPassword);
      const enrollment = await srv.app.services.database.db
        .selectFrom('mdm_windows_enrollments')
        .select(['enroll_user_id', 'user_signed_in_at'])
        .where('mdm_device_id', '=', pc.deviceId)
        .executeTakeFirstOrThrow();
      expect(enrollment.enroll_user_id).toBe('admin@example.com');
      expect(enrollment.user_signed_in_at).not.toBeNull();
    });
  },
  { windowsOnPremiseEnrollment: true },
);
