import { X509Certificate } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { describeEachDialect } from '../helpers/testServer.js';

const { fake, overrides } = await startFakeApns();
afterAll(async () => {
  await fake.close();
});

describeEachDialect(
  'simulated Apple device end to end',
  (server) => {
    it('enrolls over SCEP from the enrollment profile, wakes on push, answers commands; the admin API shows results', async () => {
      const srv = server();
      const token = await setupAdmin(srv);
      await srv.app.services.appConfig.patch({ server_settings: { server_url: srv.url } });
      const push = await installPushCertificate(srv.app.services);
      expect(
        (
          await api(srv, 'POST', '/api/latest/fleet/spec/enroll_secret', {
            token,
            body: { spec: { secrets: [{ secret: 'e2e-secret' }] } },
          })
        ).status,
      ).toBe(200);

      const device = new SimulatedAppleDevice({ serverUrl: srv.url, platform: 'macos' });
      await device.enroll(`${srv.url}/api/mdm/apple/enroll?token=e2e-secret`);
      expect(device.topic).toBe(push.topic);
      // The identity came from our SCEP CA and carries the fresh-enrollment subject.
      const ca = await srv.app.services.appleScep.caCertificate();
      const identity = new X509Certificate(device.identity!.certPem);
      expect(identity.checkIssued(ca.x509)).toBe(true);
      expect(identity.subject).toContain('OU=Fleet Device Enrollment');

      // MDM is on for a host with the device's UDID.
      const host = await srv.app.services.hostStore.findByUuid(device.udid);
      expect(host).toMatchObject({ platform: 'darwin', hardware_serial: device.serial });
      expect((await srv.app.services.hostStore.getHostMdm(host!.id))!.enrolled).toBe(true);

      // A command queued in the service, then a push: the device wakes and answers.
      device.listenForPushes(fake);
      const profile = Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>PayloadIdentifier</key><string>com.example.wifi</string><key>PayloadUUID</key><string>0B1C5D8E-0000-4000-8000-000000000001</string><key>PayloadDisplayName</key><string>Wi-Fi</string><key>PayloadType</key><string>Configuration</string><key>PayloadVersion</key><integer>1</integer><key>PayloadContent</key><array/></dict></plist>`,
      );
      const install = buildCommandPlist('InstallProfile', { Payload: profile });
      await srv.app.services.appleQueue.enqueue([device.udid], {
        commandUuid: install.commandUuid,
        requestType: 'InstallProfile',
        plist: install.plist,
      });
      const pushed = await srv.app.services.applePush.pushEnrollments([device.udid]);
      expect(pushed).toEqual([expect.objectContaining({ enrollmentId: device.udid, ok: true })]);
      await waitFor(() => device.received.some((c) => c.commandUuid === install.commandUuid));
      await device.settled();
      expect(device.lastWakeError).toBeUndefined();
      expect([...device.profiles.keys()]).toEqual(['com.example.wifi']);
      const results = await srv.app.services.appleQueue.commandResults(install.commandUuid);
      expect(results).toMatchObject([
        { hostUuid: device.udid, status: 'Acknowledged', requestType: 'InstallProfile' },
      ]);

      // Through the admin API: run ProfileList on the host, the push wakes the device, results show up.
      const list = buildCommandPlist('ProfileList', { ManagedOnly: false });
      const run = await api(srv, 'POST', '/api/latest/fleet/commands/run', {
        token,
        body: { command: list.plist.toString('base64'), host_uuids: [device.udid] },
      });
      expect(run.status).toBe(200);
      const commandUuid = run.body.command_uuid as string;
      await waitFor(async () => (await srv.app.services.appleQueue.commandResults(commandUuid)).length > 0);
      await device.settled();
      const shown = await api(srv, 'GET', `/api/latest/fleet/commands/results?command_uuid=${commandUuid}`, {
        token,
      });
      expect(shown.status).toBe(200);
      expect(shown.body.results).toHaveLength(1);
      expect(shown.body.results[0]).toMatchObject({
        host_uuid: device.udid,
        status: 'Acknowledged',
        request_type: 'ProfileList',
      });
      const reported = Buffer.from(shown.body.results[0].result, 'base64').toString('utf8');
      expect(reported).toContain('com.example.wifi');

      // Removing the profile empties the device's list.
      const remove = buildCommandPlist('RemoveProfile', { Identifier: 'com.example.wifi' });
      await srv.app.services.appleQueue.enqueue([device.udid], {
        commandUuid: remove.commandUuid,
        requestType: 'RemoveProfile',
        plist: remove.plist,
      });
      await device.connect();
      expect(device.profiles.size).toBe(0);
    });
  },
  overrides,
);

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
