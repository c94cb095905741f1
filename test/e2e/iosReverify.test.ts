import { expect, it } from 'vitest';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { appleHostRows, mobileconfig, teamOfDevices, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

/** Moves the last verification and the install back in time, as if the interval had passed. */
async function intervalPassed(srv: TestServer, devices: SimulatedAppleDevice[]): Promise<void> {
  const { db } = srv.app.services.database;
  const past = dbNow(-2 * 3600 * 1000);
  const uuids = devices.map((d) => d.udid);
  await db
    .updateTable('host_mdm_apple_profile_checks')
    .set({ requested_at: past, answered_at: past })
    .where('host_uuid', 'in', uuids)
    .execute();
  await db
    .updateTable('host_mdm_apple_profiles')
    .set({ updated_at: past })
    .where('host_uuid', 'in', uuids)
    .execute();
}

const requestTypes = (cmds: { requestType: string }[]) => cmds.map((c) => c.requestType);

describeEachDialect('iOS and iPadOS profiles are verified again at the verification interval', (server) => {
  it('an iPhone that drops a profile gets it back; one that keeps it stays verified', async () => {
    const srv = server();
    const token = await setupAdmin(srv);
    const dropper = await enrolledDevice(srv, { platform: 'ios' });
    const keeper = await enrolledDevice(srv, { platform: 'ipados' });
    const teamId = await teamOfDevices(srv, 'Phones', [dropper, keeper]);
    const up = await uploadProfile(
      srv,
      token,
      { name: 'restrict.mobileconfig', bytes: mobileconfig('com.example.restrict', 'Restrictions') },
      { team_id: String(teamId) },
    );
    expect(up.status).toBe(200);
    const manager = srv.app.services.profileManager;

    await manager.tick();
    for (const d of [dropper, keeper]) expect(requestTypes(await d.connect())).toEqual(['InstallProfile']);
    // Verified on acknowledgement, as Fleet shows iOS and iPadOS.
    for (const d of [dropper, keeper]) {
      expect((await appleHostRows(srv, d.udid))[0]).toMatchObject({ status: 'verified', retries: 0 });
    }
    // Not asked again before the interval.
    await manager.tick();
    for (const d of [dropper, keeper]) expect(await d.connect()).toEqual([]);

    // The end user removes it; once the interval has passed each device is asked for its list.
    expect(dropper.removeProfileLocally('com.example.restrict')).toBe(true);
    await intervalPassed(srv, [dropper, keeper]);
    await manager.tick();
    for (const d of [dropper, keeper]) expect(requestTypes(await d.connect())).toEqual(['ProfileList']);
    expect((await appleHostRows(srv, keeper.udid))[0].status).toBe('verified');
    expect((await appleHostRows(srv, dropper.udid))[0]).toMatchObject({
      status: null,
      retries: 1,
      detail: 'The profile was acknowledged but is no longer installed on the host.',
    });
    // Shown pending meanwhile.
    const status = await api(
      srv,
      'GET',
      `/api/latest/fleet/configuration_profiles/${up.body.profile_uuid}/status`,
      {
        token,
      },
    );
    expect(status.body).toMatchObject({ pending: 1, verified: 1 });

    // Sent again, and verified again on acknowledgement.
    await manager.tick();
    expect(requestTypes(await dropper.connect())).toEqual(['InstallProfile']);
    expect(dropper.profiles.has('com.example.restrict')).toBe(true);
    expect((await appleHostRows(srv, dropper.udid))[0]).toMatchObject({ status: 'verified', detail: null });
    expect(await keeper.connect()).toEqual([]);
  });
});
