import { expect, it } from 'vitest';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { appleHostRows, teamOfDevices, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const noUserChannel =
  "This setting couldn't be enforced because the user channel doesn't exist for this host. Currently, Fleet creates the user channel for hosts that automatically enroll.";
const mobileNoUserChannel =
  "This setting couldn't be enforced because the user channel isn't available on iOS and iPadOS hosts.";

/** A profile for the user's scope (`PayloadScope` User). */
function userProfile(identifier: string, name: string): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>PayloadType</key><string>com.apple.dock</string>
<key>PayloadIdentifier</key><string>${identifier}.dock</string>
<key>PayloadUUID</key><string>${identifier}-inner</string>
<key>PayloadVersion</key><integer>1</integer>
<key>orientation</key><string>left</string>
</dict></array>
<key>PayloadDisplayName</key><string>${name}</string>
<key>PayloadIdentifier</key><string>${identifier}</string>
<key>PayloadScope</key><string>User</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>${identifier}-uuid</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>`);
}

async function loginToken(srv: TestServer): Promise<string> {
  const login = await api(srv, 'POST', '/api/latest/fleet/login', {
    body: { email: 'admin@example.com', password: 'admin-password-1!' },
  });
  if (login.status === 200) return login.body.token as string;
  return setupAdmin(srv);
}

/** The device enrolled this long ago (nano_devices.authenticate_at, as Fleet reads it). */
async function enrolledAgo(srv: TestServer, d: SimulatedAppleDevice, hours: number): Promise<void> {
  await srv.app.services.database.db
    .updateTable('nano_devices')
    .set({ authenticate_at: dbNow(-hours * 3600 * 1000) })
    .where('id', '=', d.udid)
    .execute();
}

async function queuedFor(srv: TestServer, enrollmentId: string): Promise<string[]> {
  const rows = await srv.app.services.database.db
    .selectFrom('nano_enrollment_queue')
    .select('command_uuid')
    .where('id', '=', enrollmentId)
    .where('active', '=', 1)
    .execute();
  return rows.map((r) => r.command_uuid);
}

const tick = (srv: TestServer) => srv.app.services.profileManager.tick();

describeEachDialect('Apple user-scope profiles', (server) => {
  it('waits for the user channel of a recently enrolled Mac, then arrives and is verified on it', async () => {
    const srv = server();
    const token = await loginToken(srv);
    const mac = await enrolledDevice(srv);
    const teamId = await teamOfDevices(srv, 'Users', [mac]);
    const up = await uploadProfile(
      srv,
      token,
      { name: 'user.mobileconfig', bytes: userProfile('com.example.user.dock', 'User Dock') },
      { team_id: String(teamId) },
    );
    expect(up.status).toBe(200);

    // No user channel yet, enrolled just now: the row waits (NULL, shown pending), nothing is sent.
    await tick(srv);
    await tick(srv);
    let [row] = await appleHostRows(srv, mac.udid);
    expect(row).toMatchObject({ status: null, scope: 'User', command_uuid: '' });
    expect(await queuedFor(srv, mac.udid)).toEqual([]);
    await mac.connect();
    expect(mac.received.filter((c) => c.requestType === 'InstallProfile')).toEqual([]);

    // The user logs in: the user channel's TokenUpdate, then the profile goes down that channel.
    await mac.connectUser({ userId: 'A1B2C3D4-0000-4000-8000-00000000USER', shortName: 'ada' });
    const userEnrollment = `${mac.udid}:A1B2C3D4-0000-4000-8000-00000000USER`;
    await tick(srv);
    [row] = await appleHostRows(srv, mac.udid);
    expect(row.status).toBe('pending');
    expect(await queuedFor(srv, userEnrollment)).toEqual([row.command_uuid]);
    expect(await queuedFor(srv, mac.udid)).toEqual([]);
    const onUser = await mac.connectUserChannel();
    expect(onUser.map((c) => c.requestType)).toEqual(['InstallProfile']);
    expect(mac.userProfiles.has('com.example.user.dock')).toBe(true);
    expect(mac.profiles.has('com.example.user.dock')).toBe(false);
    [row] = await appleHostRows(srv, mac.udid);
    expect(row.status).toBe('verifying');

    // Verification asks the user channel too; the device channel's list (without it) changes nothing.
    await tick(srv);
    expect((await mac.connect()).map((c) => c.requestType)).toEqual(['ProfileList']);
    [row] = await appleHostRows(srv, mac.udid);
    expect(row.status).toBe('verifying');
    expect((await mac.connectUserChannel()).map((c) => c.requestType)).toEqual(['ProfileList']);
    [row] = await appleHostRows(srv, mac.udid);
    expect(row.status).toBe('verified');

    // Shown per host like device profiles.
    const host = await srv.app.services.database.db
      .selectFrom('hosts')
      .select('id')
      .where('uuid', '=', mac.udid)
      .executeTakeFirstOrThrow();
    const detail = await api(srv, 'GET', `/api/latest/fleet/hosts/${host.id}`, { token });
    expect(detail.body.host.mdm.profiles).toEqual([
      expect.objectContaining({ profile_uuid: up.body.profile_uuid, status: 'verified', scope: 'User' }),
    ]);

    // Deleted: RemoveProfile goes down the user channel.
    const del = await api(srv, 'DELETE', `/api/latest/fleet/configuration_profiles/${up.body.profile_uuid}`, {
      token,
    });
    expect(del.status).toBe(200);
    await tick(srv);
    expect((await mac.connectUserChannel()).map((c) => c.requestType)).toEqual(['RemoveProfile']);
    expect(mac.userProfiles.size).toBe(0);
    expect(await appleHostRows(srv, mac.udid)).toEqual([]);
  });

  it("fails without a user channel after Fleet's 2 hours (and on iPhones); a user channel later delivers it", async () => {
    const srv = server();
    const token = await loginToken(srv);
    const oldMac = await enrolledDevice(srv);
    const phone = await enrolledDevice(srv, { platform: 'ios' });
    await enrolledAgo(srv, oldMac, 3);
    const teamId = await teamOfDevices(srv, 'Late users', [oldMac, phone]);
    const up = await uploadProfile(
      srv,
      token,
      { name: 'late.mobileconfig', bytes: userProfile('com.example.user.late', 'Late Dock') },
      { team_id: String(teamId) },
    );
    expect(up.status).toBe(200);
    await tick(srv);
    expect((await appleHostRows(srv, oldMac.udid))[0]).toMatchObject({
      status: 'failed',
      detail: noUserChannel,
      command_uuid: '',
    });
    expect((await appleHostRows(srv, phone.udid))[0]).toMatchObject({
      status: 'failed',
      detail: mobileNoUserChannel,
    });
    expect(await queuedFor(srv, oldMac.udid)).toEqual([]);
    expect(await queuedFor(srv, phone.udid)).toEqual([]);

    // The user channel shows up: the failed row is delivered after all.
    await oldMac.connectUser();
    expect((await appleHostRows(srv, oldMac.udid))[0].status).toBeNull();
    await tick(srv);
    expect((await appleHostRows(srv, oldMac.udid))[0].status).toBe('pending');
    expect((await oldMac.connectUserChannel()).map((c) => c.requestType)).toEqual(['InstallProfile']);
    expect((await appleHostRows(srv, oldMac.udid))[0].status).toBe('verifying');

    // The user channel goes away; removing the profile then just drops the row, nothing is sent.
    const { db } = srv.app.services.database;
    await db
      .updateTable('nano_enrollments')
      .set({ enabled: 0 })
      .where('device_id', '=', oldMac.udid)
      .where('type', '=', 'User')
      .execute();
    const del = await api(srv, 'DELETE', `/api/latest/fleet/configuration_profiles/${up.body.profile_uuid}`, {
      token,
    });
    expect(del.status).toBe(200);
    await tick(srv);
    expect(await appleHostRows(srv, oldMac.udid)).toEqual([]);
    expect(await appleHostRows(srv, phone.udid)).toEqual([]);
    const queued = await db
      .selectFrom('nano_enrollment_queue as q')
      .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
      .select('c.request_type')
      .where('q.id', 'like', `${oldMac.udid}%`)
      .where('q.active', '=', 1)
      .where('c.request_type', '=', 'RemoveProfile')
      .execute();
    expect(queued).toEqual([]);
  });
});
