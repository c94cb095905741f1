import { afterAll, expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { parsePlistDict } from '../../src/apple/plist/parse.js';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { toDbTime } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { describeEachDialect } from '../helpers/testServer.js';

const apns = await startFakeApns();
afterAll(() => apns.fake.close());

async function waitFor<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeEachDialect(
  'a simulated Mac is woken by APNs, runs an admin command, and the API shows the result',
  (server) => {
    let admin = '';
    let device: SimulatedAppleDevice;

    // The later tests need the enrolled device: this first test enrolls it, or the first test that
    // runs when it is skipped.
    let enrollment: Promise<void> | undefined;
    const enrolled = () => (enrollment ??= enroll());

    it('enrolls with the signed profile after APNs is set up', () => enrolled());

    async function enroll(): Promise<void> {
      admin = await setupAdmin(server());
      // The profile points the device at the server URL from the settings: this test server's.
      await server().app.services.appConfig.patch({ server_settings: { server_url: server().url } });
      await installPushCertificate(server().app.services);
      const profile = await fetch(`${server().url}/api/v1/fleet/enrollment_profiles/manual`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(profile.status).toBe(200);
      device = new SimulatedAppleDevice({ serverUrl: server().url, platform: 'macos' });
      await device.enroll(Buffer.from(await profile.arrayBuffer()));
      device.listenForPushes(apns.fake);
    }

    it('runs DeviceInformation: push, device connects and answers, results show the raw plist', async () => {
      await enrolled();
      const { commandUuid, plist } = buildCommandPlist('DeviceInformation', {
        Queries: ['DeviceName', 'OSVersion', 'SerialNumber'],
      });
      const run = await api(server(), 'POST', '/api/v1/fleet/commands/run', {
        token: admin,
        body: { command: plist.toString('base64'), host_uuids: [device.udid] },
      });
      expect(run.status).toBe(200);
      const result = await waitFor(async () => {
        await device.settled();
        const res = await api(server(), 'GET', `/api/v1/fleet/commands/results?command_uuid=${commandUuid}`, {
          token: admin,
        });
        return res.body.results?.[0]?.status === 'Acknowledged' ? res.body.results[0] : undefined;
      }, 'the Acknowledged result');
      expect(result).toMatchObject({
        host_uuid: device.udid,
        request_type: 'DeviceInformation',
        command_uuid: commandUuid,
      });
      const report = parsePlistDict(Buffer.from(result.result, 'base64'));
      expect(report.Status).toBe('Acknowledged');
      expect((report.QueryResponses as Record<string, unknown>).SerialNumber).toBe(device.serial);
      expect(apns.fake.pushesTo(device.pushTokenHex).at(-1)).toMatchObject({
        status: 200,
        pushMagic: device.pushMagic,
      });
    });

    it('a NotNow command is pushed again by the re-push cron and then answered', async () => {
      await enrolled();
      device.forcedAnswers.set('ProfileList', 'NotNow');
      const { commandUuid, plist } = buildCommandPlist('ProfileList', { ManagedOnly: false });
      const pushesBefore = apns.fake.pushesTo(device.pushTokenHex).length;
      expect(
        (
          await api(server(), 'POST', '/api/v1/fleet/commands/run', {
            token: admin,
            body: { command: plist.toString('base64'), host_uuids: [device.udid] },
          })
        ).status,
      ).toBe(200);
      await waitFor(async () => {
        await device.settled();
        const res = await api(server(), 'GET', `/api/v1/fleet/commands/results?command_uuid=${commandUuid}`, {
          token: admin,
        });
        return res.body.results?.[0]?.status === 'NotNow' ? true : undefined;
      }, 'the NotNow answer');

      // The device is ready now; once its back-off has run out, the cron job wakes it again.
      device.forcedAnswers.delete('ProfileList');
      const { db } = server().app.services.database;
      await db
        .updateTable('nano_enrollments')
        .set({ next_push_at: toDbTime(new Date(Date.now() - 1000)) })
        .where('id', '=', device.udid)
        .execute();
      await server().app.services.cron.trigger('apple_mdm_apns_pusher');
      await waitFor(async () => {
        await device.settled();
        const res = await api(server(), 'GET', `/api/v1/fleet/commands/results?command_uuid=${commandUuid}`, {
          token: admin,
        });
        return res.body.results?.[0]?.status === 'Acknowledged' ? true : undefined;
      }, 'the Acknowledged answer after the re-push');
      expect(apns.fake.pushesTo(device.pushTokenHex).length).toBe(pushesBefore + 2);
      // Nothing pending any more: the cron does not push again.
      await db
        .updateTable('nano_enrollments')
        .set({ next_push_at: null })
        .where('id', '=', device.udid)
        .execute();
      await server().app.services.applePush.repushPending();
      expect(apns.fake.pushesTo(device.pushTokenHex).length).toBe(pushesBefore + 2);
    });
  },
  apns.overrides,
);
