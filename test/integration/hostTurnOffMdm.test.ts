import { afterAll, beforeAll, expect, it } from 'vitest';
import { parsePlistDict } from '../../src/apple/plist/parse.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { tokenForRole } from '../helpers/appleSeed.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const apns = await startFakeApns();
afterAll(() => apns.fake.close());

/** Everything a turn-off writes: queued commands, activities, MDM state of every host. */
async function snapshot(srv: TestServer) {
  const { db } = srv.app.services.database;
  return {
    commands: await db.selectFrom('nano_commands').select(['command_uuid']).orderBy('command_uuid').execute(),
    queue: await db
      .selectFrom('nano_enrollment_queue')
      .select(['id', 'command_uuid'])
      .orderBy('id')
      .orderBy('command_uuid')
      .execute(),
    activities: await db.selectFrom('activities').select(['id', 'activity_type']).orderBy('id').execute(),
    hostMdm: await db.selectFrom('host_mdm').select(['host_id', 'enrolled']).orderBy('host_id').execute(),
    enrollments: await db.selectFrom('nano_enrollments').select(['id', 'enabled']).orderBy('id').execute(),
  };
}

async function insertHost(srv: TestServer, uuid: string, platform: string): Promise<number> {
  const now = dbNow();
  const h = await srv.app.services.database.db
    .insertInto('hosts')
    .values({ uuid, platform, hostname: `${platform}-host`, created_at: now, updated_at: now })
    .executeTakeFirstOrThrow();
  return Number(h.insertId);
}

async function enrolled(srv: TestServer, hostId: number): Promise<boolean> {
  const r = await srv.app.services.database.db
    .selectFrom('host_mdm')
    .select('enrolled')
    .where('host_id', '=', hostId)
    .executeTakeFirst();
  return Boolean(Number(r?.enrolled ?? 0));
}

describeEachDialect(
  'turning MDM off for a host (DELETE /hosts/:id/mdm)',
  (server) => {
    let admin = '';

    beforeAll(async () => {
      admin = await setupAdmin(server());
      await installPushCertificate(server().app.services, { topic: testTopic });
    });

    it('queues RemoveProfile of the enrollment profile, pushes; the Mac checks out and MDM is off', async () => {
      const srv = server();
      const mac = await enrolledDevice(srv, { serial: 'C02TURNOFF01', deviceName: 'Turn-off Mac' });
      const host = (await srv.app.services.hostStore.findByUuid(mac.udid))!;
      expect(await enrolled(srv, host.id)).toBe(true);
      const pushesBefore = apns.fake.pushesTo(mac.pushTokenHex).length;

      const res = await api(srv, 'DELETE', `/api/v1/fleet/hosts/${host.id}/mdm`, { token: admin });
      expect(res.status).toBe(204);
      expect(res.text).toBe('');

      const { db } = srv.app.services.database;
      const queued = await db
        .selectFrom('nano_enrollment_queue as q')
        .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
        .select(['c.request_type', 'c.command'])
        .where('q.id', '=', mac.udid)
        .execute();
      expect(queued.map((q) => q.request_type)).toEqual(['RemoveProfile']);
      const command = parsePlistDict(Buffer.from(queued[0].command)).Command as Record<string, unknown>;
      expect(command).toEqual({ RequestType: 'RemoveProfile', Identifier: 'com.fleetdm.fleet.mdm.apple' });
      expect(apns.fake.pushesTo(mac.pushTokenHex).length).toBe(pushesBefore + 1);

      const acts = await db
        .selectFrom('activities')
        .select(['user_id', 'details'])
        .where('activity_type', '=', 'mdm_unenrolled')
        .orderBy('id')
        .execute();
      expect(acts.length).toBe(1);
      expect(acts[0].user_id).not.toBeNull();
      expect(JSON.parse(acts[0].details)).toEqual({
        host_serial: 'C02TURNOFF01',
        host_display_name: 'Turn-off Mac',
        installed_from_dep: false,
      });
      // Still enrolled until the Mac itself leaves.
      expect(await enrolled(srv, host.id)).toBe(true);

      // The Mac acknowledges, removes the enrollment profile and checks out.
      expect((await mac.connect()).map((c) => c.requestType)).toEqual(['RemoveProfile']);
      expect(await enrolled(srv, host.id)).toBe(false);
      const enrollment = await db
        .selectFrom('nano_enrollments')
        .select('enabled')
        .where('id', '=', mac.udid)
        .executeTakeFirstOrThrow();
      expect(Number(enrollment.enabled)).toBe(0);
      const result = await db
        .selectFrom('nano_command_results')
        .select('status')
        .where('id', '=', mac.udid)
        .executeTakeFirstOrThrow();
      expect(result.status).toBe('Acknowledged');
      // The check-out's own record, by the server.
      const after = await db
        .selectFrom('activities')
        .select(['user_id'])
        .where('activity_type', '=', 'mdm_unenrolled')
        .orderBy('id')
        .execute();
      expect(after.map((a) => a.user_id === null)).toEqual([false, true]);

      // Now off: Fleet's 409.
      const again = await api(srv, 'DELETE', `/api/v1/fleet/hosts/${host.id}/mdm`, { token: admin });
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({
        message: `mdm is not enabled for host ${host.id}`,
        errors: [{ name: 'base', reason: `mdm is not enabled for host ${host.id}` }],
      });
    });

    it('is served at the deprecated PATCH /mdm/hosts/:id/unenroll too', async () => {
      const srv = server();
      const mac = await enrolledDevice(srv, { deviceName: 'Alias Mac' });
      const host = (await srv.app.services.hostStore.findByUuid(mac.udid))!;
      const res = await api(srv, 'PATCH', `/api/v1/fleet/mdm/hosts/${host.id}/unenroll`, { token: admin });
      expect(res.status).toBe(204);
      expect((await mac.connect()).map((c) => c.requestType)).toEqual(['RemoveProfile']);
      expect(await enrolled(srv, host.id)).toBe(false);
    });

    it('refuses iOS/iPadOS (wipe instead), Windows, hosts not enrolled, observers; nothing changes', async () => {
      const srv = server();
      const mac = await enrolledDevice(srv, { deviceName: 'Observed Mac' });
      const macHost = (await srv.app.services.hostStore.findByUuid(mac.udid))!;
      const phoneId = await insertHost(srv, 'IOS-TURNOFF-0001', 'ios');
      const padId = await insertHost(srv, 'IPADOS-TURNOFF-0001', 'ipados');
      const windowsId = await insertHost(srv, 'WINDOWS-TURNOFF-0001', 'windows');
      const bareMacId = await insertHost(srv, 'DARWIN-NO-MDM-0001', 'darwin');
      const observer = await tokenForRole(srv.app.services, 'observer');
      const before = await snapshot(srv);

      const cases: { id: number; token: string; status: number; message: string; reason: string }[] = [
        {
          id: phoneId,
          token: admin,
          status: 400,
          message: 'Bad request',
          reason: "Can't turn off MDM for iOS or iPadOS hosts. Use wipe instead.",
        },
        {
          id: padId,
          token: admin,
          status: 400,
          message: 'Bad request',
          reason: "Can't turn off MDM for iOS or iPadOS hosts. Use wipe instead.",
        },
        {
          id: windowsId,
          token: admin,
          status: 400,
          message: 'Bad request',
          reason: "Can't turn off MDM for Windows hosts.",
        },
        {
          id: bareMacId,
          token: admin,
          status: 409,
          message: `mdm is not enabled for host ${bareMacId}`,
          reason: `mdm is not enabled for host ${bareMacId}`,
        },
        { id: macHost.id, token: observer, status: 403, message: 'forbidden', reason: 'forbidden' },
        {
          id: 999_999,
          token: admin,
          status: 404,
          message: 'Resource Not Found',
          reason: 'Host was not found in the datastore',
        },
      ];
      for (const c of cases) {
        for (const [method, path] of [
          ['DELETE', `/api/v1/fleet/hosts/${c.id}/mdm`],
          ['PATCH', `/api/v1/fleet/mdm/hosts/${c.id}/unenroll`],
        ] as const) {
          const res = await api(srv, method, path, { token: c.token });
          expect({ path, status: res.status }).toEqual({ path, status: c.status });
          expect(res.body).toEqual({
            message: c.message,
            errors: [{ name: 'base', reason: c.reason }],
            uuid: expect.any(String),
          });
        }
      }
      expect(await snapshot(srv)).toEqual(before);
      expect(await enrolled(srv, macHost.id)).toBe(true);
    });
  },
  apns.overrides,
);
