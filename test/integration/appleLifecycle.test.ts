import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { openDatabase } from '../../src/db/database.js';
import { createLogger } from '../../src/logger.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { describeEachDialect, testServerKey, type TestServer } from '../helpers/testServer.js';

const apns = await startFakeApns();
afterAll(() => apns.fake.close());

async function activitiesOf(srv: TestServer, type: string) {
  const rows = await srv.app.services.database.db
    .selectFrom('activities')
    .select(['user_id', 'details'])
    .where('activity_type', '=', type)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ user_id: r.user_id, details: JSON.parse(r.details) }));
}

async function hostAction(srv: TestServer, hostId: number) {
  return srv.app.services.database.db
    .selectFrom('host_mdm_actions')
    .selectAll()
    .where('host_id', '=', hostId)
    .executeTakeFirst();
}

describeEachDialect(
  'Apple lifecycle: activities, lock state after unlock, host deletion across processes',
  (server) => {
    let admin = '';

    // An admin and a push certificate.
    beforeAll(async () => {
      admin = await setupAdmin(server());
      await installPushCertificate(server().app.services, { topic: testTopic });
    });

    it('writes mdm_enrolled at turn-on (once) and mdm_unenrolled at CheckOut, as the server', async () => {
      const srv = server();
      const d = await enrolledDevice(srv, { serial: 'C02LIFECYCLE1', deviceName: 'Lifecycle Mac' });
      const details = {
        host_serial: 'C02LIFECYCLE1',
        host_display_name: 'Lifecycle Mac',
        installed_from_dep: false,
        mdm_platform: 'apple',
      };
      expect(await activitiesOf(srv, 'mdm_enrolled')).toEqual([{ user_id: null, details }]);
      // A later TokenUpdate (new push token) is not a new enrollment.
      await d.tokenUpdate();
      expect((await activitiesOf(srv, 'mdm_enrolled')).length).toBe(1);
      await d.checkOut();
      expect(await activitiesOf(srv, 'mdm_unenrolled')).toEqual([{ user_id: null, details }]);
      const host = await srv.app.services.hostStore.findByUuid(d.udid);
      const linked = await srv.app.services.database.db
        .selectFrom('host_activities')
        .select('host_id')
        .where('host_id', '=', host!.id)
        .execute();
      expect(linked.length).toBe(2);
    });

    it('lets a Mac be locked again once it checks in after the admin took its unlock PIN', async () => {
      const srv = server();
      const d = await enrolledDevice(srv, { deviceName: 'Lockable Mac' });
      const host = (await srv.app.services.hostStore.findByUuid(d.udid))!;
      const lock = await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/lock?view_pin=true`, {
        token: admin,
      });
      expect(lock.status).toBe(200);
      expect((await d.connect()).map((c) => c.requestType)).toEqual(['DeviceLock']);
      expect(
        (await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/lock`, { token: admin })).body.errors[0]
          .reason,
      ).toMatch(/already locked/);

      const unlock = await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/unlock`, { token: admin });
      expect(unlock.body).toEqual({ host_id: host.id, unlock_pin: lock.body.unlock_pin });
      // Until the Mac is seen again the unlock is pending.
      const pending = await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/lock`, { token: admin });
      expect(pending.status).toBe(422);
      expect(pending.body.errors[0].reason).toMatch(/pending unlock/);
      expect((await hostAction(srv, host.id))?.lock_ref).toBeTruthy();

      // Its next session starts with Idle: it was unlocked, lock state is cleared.
      expect(await d.connect()).toEqual([]);
      expect(await hostAction(srv, host.id)).toMatchObject({
        lock_ref: null,
        unlock_ref: null,
        unlock_pin: null,
      });
      const again = await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/lock?view_pin=true`, {
        token: admin,
      });
      expect(again.status).toBe(200);
      expect(again.body.unlock_pin).toMatch(/^\d{6}$/);
      expect((await d.connect()).map((c) => c.requestType)).toEqual(['DeviceLock']);
    });

    it('a locked Mac checking in without an unlock stays locked', async () => {
      const srv = server();
      const d = await enrolledDevice(srv);
      const host = (await srv.app.services.hostStore.findByUuid(d.udid))!;
      expect((await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/lock`, { token: admin })).status).toBe(
        204,
      );
      await d.connect();
      await d.connect();
      expect((await hostAction(srv, host.id))?.lock_ref).toBeTruthy();
      expect(
        (await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/lock`, { token: admin })).body.errors[0]
          .reason,
      ).toMatch(/already locked/);
    });

    it('lets an iPhone be locked again after it acknowledges DisableLostMode', async () => {
      const srv = server();
      const d = await enrolledDevice(srv, { platform: 'ios', deviceName: 'Lost iPhone' });
      const host = (await srv.app.services.hostStore.findByUuid(d.udid))!;
      expect((await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/lock`, { token: admin })).status).toBe(
        204,
      );
      expect((await d.connect()).map((c) => c.requestType)).toEqual(['EnableLostMode']);
      expect((await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/unlock`, { token: admin })).status).toBe(
        204,
      );
      expect(
        (await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/lock`, { token: admin })).body.errors[0]
          .reason,
      ).toMatch(/pending unlock/);
      expect((await d.connect()).map((c) => c.requestType)).toEqual(['DisableLostMode']);
      expect(await hostAction(srv, host.id)).toMatchObject({ lock_ref: null, unlock_ref: null });
      expect((await api(srv, 'POST', `/api/v1/fleet/hosts/${host.id}/lock`, { token: admin })).status).toBe(
        204,
      );
    });

    it('deleting a host in one process refuses its device at once in another', async () => {
      const srv = server();
      const { db } = srv.app.services.database;
      // A second server process on the same database.
      const database = openDatabase({ url: srv.testDb.url, dataDir: srv.testDb.dataDir, poolSize: 4 });
      const other = await buildApp({
        config: srv.config,
        database,
        serverKey: testServerKey,
        logger: createLogger('silent'),
      });
      await other.server.listen({ host: '127.0.0.1', port: 0 });
      try {
        const addr = other.server.server.address();
        const otherUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
        const d = await enrolledDevice(srv);
        const viaOther = new SimulatedAppleDevice({
          serverUrl: otherUrl,
          udid: d.udid,
          identity: d.identity,
          topic: testTopic,
        });
        const queue = srv.app.services.appleQueue;
        const first = buildCommandPlist('ProfileList', {});
        await queue.enqueue([d.udid], {
          commandUuid: first.commandUuid,
          requestType: 'ProfileList',
          plist: first.plist,
        });
        // The other process has seen this device and its certificate.
        expect((await viaOther.connect()).map((c) => c.commandUuid)).toEqual([first.commandUuid]);
        const second = buildCommandPlist('ProfileList', {});
        await queue.enqueue([d.udid], {
          commandUuid: second.commandUuid,
          requestType: 'ProfileList',
          plist: second.plist,
        });

        const host = (await srv.app.services.hostStore.findByUuid(d.udid))!;
        expect((await api(srv, 'DELETE', `/api/v1/fleet/hosts/${host.id}`, { token: admin })).status).toBe(
          200,
        );

        await expect(viaOther.report({ Status: 'Idle' })).rejects.toThrow(/HTTP 400/);
        await expect(
          viaOther.report({ Status: 'Acknowledged', CommandUUID: second.commandUuid }),
        ).rejects.toThrow(/HTTP 400/);
        await expect(viaOther.tokenUpdate()).rejects.toThrow(/HTTP 400/);
        expect(
          await db.selectFrom('nano_command_results').select('id').where('id', '=', d.udid).execute(),
        ).toEqual([]);
        expect(
          await db.selectFrom('nano_enrollments').select('id').where('id', '=', d.udid).execute(),
        ).toEqual([]);
        expect(await srv.app.services.hostStore.findByUuid(d.udid)).toBeUndefined();
      } finally {
        await other.services.stopBackground?.();
        await other.server.close();
      }
    });
  },
  apns.overrides,
);
