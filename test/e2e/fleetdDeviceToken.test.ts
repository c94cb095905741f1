import { beforeAll, expect, it } from 'vitest';
import { SimulatedFleetd } from '../../src/agents/sim/fleetd.js';
import { dbNow } from '../../src/db/dialect.js';
import { setupAdmin } from '../helpers/api.js';
import { hostIdOf, teamWithSecret } from '../helpers/fleetd.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

describeEachDialect('simulated fleetd: Fleet Desktop device token rotation', (server) => {
  let srv: TestServer;
  let admin = '';

  beforeAll(async () => {
    srv = server();
    admin = await setupAdmin(srv);
  });

  /** Ends the replaced token's grace, as the passing of time would (no sleeping in tests). */
  async function endGrace(hostId: number): Promise<void> {
    await srv.app.services.database.db
      .updateTable('host_device_auth')
      .set({ previous_valid_until: dbNow(-1000) })
      .where('host_id', '=', hostId)
      .execute();
  }

  it('orbit registers a token Fleet Desktop can use; after a rotation the old one works only for the grace, the new one keeps working', async () => {
    const { secret } = await teamWithSecret(srv, admin, 'Desktop');
    const fleetd = new SimulatedFleetd({ serverUrl: srv.url, enrollSecret: secret, platform: 'darwin' });
    await fleetd.orbit.enroll(); // the token is orbit's business; osquery is not needed
    expect(fleetd.orbit.serverCapabilities.has('token_rotation')).toBe(true);
    const hostId = await hostIdOf(srv, fleetd.machine.uuid);

    const first = await fleetd.registerDeviceToken();
    const desktop = await fleetd.desktop.desktop(first);
    expect(desktop.status, JSON.stringify(desktop.body)).toBe(200);
    expect(desktop.body).toMatchObject({ notifications: expect.any(Object) });
    const device = await fleetd.desktop.device(first);
    expect(device.status).toBe(200);
    expect(device.body.host.id).toBe(hostId);
    expect((await fleetd.desktop.desktop('not-a-token')).status).toBe(401);

    const second = await fleetd.rotateDeviceToken();
    expect(second).not.toBe(first);
    expect(fleetd.previousDeviceTokens).toEqual([first]);
    expect((await fleetd.desktop.desktop(second)).status).toBe(200);
    // In flight at the rotation, Desktop may still hold the old one: accepted during the grace.
    expect((await fleetd.desktop.desktop(first)).status).toBe(200);

    await endGrace(hostId);
    expect((await fleetd.desktop.desktop(first)).status).toBe(401);
    expect((await fleetd.desktop.desktop(second)).status).toBe(200);
    expect((await fleetd.desktop.device(second)).body.host.id).toBe(hostId);

    // The next rotation retires the second token the same way; the first stays dead.
    const third = await fleetd.rotateDeviceToken();
    await endGrace(hostId);
    expect((await fleetd.desktop.desktop(second)).status).toBe(401);
    expect((await fleetd.desktop.desktop(first)).status).toBe(401);
    expect((await fleetd.desktop.desktop(third)).status).toBe(200);
  });

  it('a token another host holds is refused with 409; a host re-registering its own token is fine', async () => {
    const { secret } = await teamWithSecret(srv, admin, 'Desktop conflict');
    const a = new SimulatedFleetd({ serverUrl: srv.url, enrollSecret: secret, platform: 'darwin' });
    const b = new SimulatedFleetd({ serverUrl: srv.url, enrollSecret: secret, platform: 'windows' });
    await a.orbit.enroll();
    await b.orbit.enroll();
    const token = await a.registerDeviceToken();
    await a.registerDeviceToken(token);
    await expect(b.registerDeviceToken(token)).rejects.toMatchObject({ status: 409 });
    expect((await a.desktop.device(token)).body.host.id).toBe(await hostIdOf(srv, a.machine.uuid));
  });
});
