import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { describeEachDialect } from '../helpers/testServer.js';

const apns = await startFakeApns();
afterAll(() => apns.fake.close());

describeEachDialect('host detail: mdm.device_status and pending_action follow lock and wipe', (server) => {
  let admin = '';
  const statusOf = async (hostId: number) => {
    const res = await api(server(), 'GET', `/api/v1/fleet/hosts/${hostId}`, { token: admin });
    expect(res.status).toBe(200);
    return {
      device_status: res.body.host.mdm.device_status,
      pending_action: res.body.host.mdm.pending_action,
    };
  };

  // An admin and a push certificate.
  beforeAll(async () => {
    admin = await setupAdmin(server());
    await installPushCertificate(server().app.services, { topic: testTopic });
  });

  it('Mac: unlocked, locking while DeviceLock waits, locked once acknowledged, unlocking after the PIN is taken', async () => {
    const srv = server();
    const d = await enrolledDevice(srv, { deviceName: 'Status Mac' });
    const host = (await srv.app.services.hostStore.findByUuid(d.udid))!;
    expect(await statusOf(host.id)).toEqual({ device_status: 'unlocked', pending_action: '' });

    expect((await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/lock`, { token: admin })).status).toBe(
      204,
    );
    expect(await statusOf(host.id)).toEqual({ device_status: 'locking', pending_action: 'lock' });

    expect((await d.connect()).map((c) => c.requestType)).toEqual(['DeviceLock']);
    expect(await statusOf(host.id)).toEqual({ device_status: 'locked', pending_action: '' });

    expect((await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/unlock`, { token: admin })).status).toBe(
      200,
    );
    expect(await statusOf(host.id)).toEqual({ device_status: 'unlocking', pending_action: 'unlock' });
  });

  it('Mac: wiping while EraseDevice waits, wiped once acknowledged', async () => {
    const srv = server();
    const d = await enrolledDevice(srv, { deviceName: 'Wipe Mac' });
    const host = (await srv.app.services.hostStore.findByUuid(d.udid))!;
    expect((await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/wipe`, { token: admin })).status).toBe(
      204,
    );
    expect(await statusOf(host.id)).toEqual({ device_status: 'wiping', pending_action: 'wipe' });
    expect((await d.connect()).map((c) => c.requestType)).toEqual(['EraseDevice']);
    expect(await statusOf(host.id)).toEqual({ device_status: 'wiped', pending_action: '' });
  });
});
