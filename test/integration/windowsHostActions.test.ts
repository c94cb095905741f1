import { beforeAll, expect, it } from 'vitest';
import type { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';

const secret = 'windows-host-actions-secret';
const remoteWipe = './Device/Vendor/MSFT/RemoteWipe';

describeEachDialect('Windows host actions: wipe through RemoteWipe, lock and unlock refused', (server) => {
  let srv: TestServer;
  let admin = '';
  const hostIdOf = async (pc: SimulatedWindowsDevice) =>
    (await srv.app.services.hostStore.findByUuid(pc.hardwareUuid))!.id;
  const statusOf = async (hostId: number) => {
    const res = await api(srv, 'GET', `/api/v1/fleet/hosts/${hostId}`, { token: admin });
    expect(res.status).toBe(200);
    return {
      device_status: res.body.host.mdm.device_status,
      pending_action: res.body.host.mdm.pending_action,
    };
  };
  const wipe = (hostId: number, body?: unknown) =>
    api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/wipe`, { token: admin, ...(body ? { body } : {}) });

  beforeAll(async () => {
    srv = server();
    admin = await setupAdmin(srv);
    await enableWindowsMdm(srv, secret);
  });

  it('wipes with the wipe_type asked for: wiping until the PC runs the Exec, then wiped', async () => {
    const pc = await enrolledWindowsPc(srv, secret);
    const hostId = await hostIdOf(pc);
    expect(await statusOf(hostId)).toEqual({ device_status: 'unlocked', pending_action: '' });

    expect((await wipe(hostId, { windows: { wipe_type: 'doWipe' } })).status).toBe(204);
    expect(await statusOf(hostId)).toEqual({ device_status: 'wiping', pending_action: 'wipe' });
    const again = await wipe(hostId);
    expect(again.status).toBe(422);
    expect(again.body.errors[0].reason).toBe('Host has a pending wipe request.');

    const listed = await api(srv, 'GET', `/api/v1/fleet/commands?host_identifier=${pc.hardwareUuid}`, {
      token: admin,
    });
    expect(listed.body.results).toEqual([
      expect.objectContaining({
        request_type: `${remoteWipe}/doWipe`,
        status: 'Pending',
        platform: 'windows',
      }),
    ]);

    expect((await pc.runSession()).commandsExecuted).toBe(1);
    expect(pc.execs).toEqual([{ locUri: `${remoteWipe}/doWipe`, data: '' }]);
    expect(await statusOf(hostId)).toEqual({ device_status: 'wiped', pending_action: '' });
    const done = await wipe(hostId);
    expect(done.status).toBe(422);
    expect(done.body.errors[0].reason).toBe('Host is already wiped.');

    const activities = await api(srv, 'GET', `/api/v1/fleet/hosts/${hostId}/activities`, { token: admin });
    expect(activities.body.activities.map((a: { type: string }) => a.type)).toContain('wiped_host');
  });

  it('uses doWipeProtected when the body names no wipe type, as Fleet does', async () => {
    const pc = await enrolledWindowsPc(srv, secret);
    const hostId = await hostIdOf(pc);
    expect((await wipe(hostId)).status).toBe(204);
    await pc.runSession();
    expect(pc.execs.map((e) => e.locUri)).toEqual([`${remoteWipe}/doWipeProtected`]);
    expect(await statusOf(hostId)).toEqual({ device_status: 'wiped', pending_action: '' });
  });

  it('refuses a wipe type Windows does not offer here (422) and unknown body fields (400)', async () => {
    const pc = await enrolledWindowsPc(srv, secret);
    const hostId = await hostIdOf(pc);
    expect((await wipe(hostId, { windows: { wipe_type: 'doWipePersistUserData' } })).status).toBe(422);
    expect((await wipe(hostId, { windows: { wipe_type: 'doWipe' }, apple: {} })).status).toBe(400);
    expect(await statusOf(hostId)).toEqual({ device_status: 'unlocked', pending_action: '' });
  });

  it('refuses lock and unlock with Fleet’s error for hosts without fleetd scripts, changing nothing', async () => {
    const pc = await enrolledWindowsPc(srv, secret);
    const hostId = await hostIdOf(pc);
    const lock = await api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/lock`, { token: admin });
    expect(lock.status).toBe(422);
    expect(lock.body.errors[0]).toEqual({
      name: 'host_id',
      reason:
        "Couldn't lock host. To lock, deploy the fleetd agent with --enable-scripts and refetch host vitals.",
    });
    const unlock = await api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/unlock`, { token: admin });
    expect(unlock.status).toBe(422);
    expect(unlock.body.errors[0].reason).toMatch(/^Couldn't unlock host\./);
    expect(await statusOf(hostId)).toEqual({ device_status: 'unlocked', pending_action: '' });
    expect((await pc.runSession()).commandsExecuted).toBe(0);
  });

  it('refuses a wipe while Windows MDM is off', async () => {
    const pc = await enrolledWindowsPc(srv, secret);
    const hostId = await hostIdOf(pc);
    const s = srv.app.services;
    await s.appConfig.patch({ mdm: { windows_enabled_and_configured: false } });
    s.windows.invalidateEnabled();
    try {
      const res = await wipe(hostId);
      expect(res.status).toBe(400);
      expect(res.body.errors[0].reason).toBe("Windows MDM isn't turned on.");
    } finally {
      await s.appConfig.patch({ mdm: { windows_enabled_and_configured: true } });
      s.windows.invalidateEnabled();
    }
  });
});
