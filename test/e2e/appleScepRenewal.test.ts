import { X509Certificate } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { runCronJob } from '../helpers/fleetd.js';
import { appleHostRows, converge, mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect } from '../helpers/testServer.js';

const { fake, overrides } = await startFakeApns();
afterAll(async () => {
  await fake.close();
});

describeEachDialect(
  'Apple identity renewal end to end',
  (server) => {
    it('a Mac enrolled from the profile is woken by the renewal job, renews over SCEP, and keeps its host and profiles', async () => {
      const srv = server();
      const { services } = srv.app;
      const token = await setupAdmin(srv);
      await services.appConfig.patch({ server_settings: { server_url: srv.url } });
      await installPushCertificate(services);
      const secret = await api(srv, 'POST', '/api/latest/fleet/spec/enroll_secret', {
        token,
        body: { spec: { secrets: [{ secret: 'renewal-e2e' }] } },
      });
      expect(secret.status).toBe(200);

      // Enrolled as a Mac does it: the profile, SCEP with its one-time challenge, check-ins.
      const mac = new SimulatedAppleDevice({ serverUrl: srv.url, platform: 'macos' });
      await mac.enroll(`${srv.url}/api/mdm/apple/enroll?token=renewal-e2e`);
      mac.listenForPushes(fake);
      const firstIdentity = mac.identity!.certPem;
      const host = (await services.hostStore.findByUuid(mac.udid))!;

      // A configuration profile reaches the Mac and is verified.
      const up = await uploadProfile(srv, token, {
        name: 'dock.mobileconfig',
        bytes: mobileconfig('com.example.renewal.dock', 'Dock'),
      });
      expect(up.status).toBe(200);
      await converge(srv, [mac]);
      expect([...mac.profiles.keys()]).toEqual(['com.example.renewal.dock']);
      const rowsBefore = await appleHostRows(srv, mac.udid);
      expect(rowsBefore.map((r) => [r.profile_identifier, r.status])).toEqual([
        ['com.example.renewal.dock', 'verified'],
      ]);
      const received = mac.received.length;

      // Months later the identity is about to expire.
      await services.database.db
        .updateTable('nano_cert_auth_associations')
        .set({ cert_not_valid_after: dbNow(30 * 86_400_000) })
        .where('id', '=', mac.udid)
        .execute();
      await runCronJob(srv, 'renew_scep_certificates');
      // The job pushed; the Mac woke, fetched the enrollment profile and renewed.
      await waitFor(() => mac.replacedIdentities.length === 1);
      await mac.settled();
      expect(mac.lastWakeError).toBeUndefined();
      expect(mac.replacedIdentities[0].certPem).toBe(firstIdentity);
      const renewed = new X509Certificate(mac.identity!.certPem);
      expect(renewed.checkIssued((await services.appleScep.caCertificate()).x509)).toBe(true);
      expect(mac.received.slice(received).map((c) => c.requestType)).toEqual(['InstallProfile']);

      // Same host, same profiles: nothing is sent again, nothing reset.
      expect((await services.hostStore.findByUuid(mac.udid))!.id).toBe(host.id);
      await converge(srv, [mac]);
      const profileCommands = mac.received
        .slice(received)
        .filter((c) => c.requestType === 'InstallProfile' || c.requestType === 'RemoveProfile');
      expect(profileCommands).toHaveLength(1);
      const rowsAfter = await appleHostRows(srv, mac.udid);
      expect(rowsAfter.map((r) => [r.profile_identifier, r.status, r.command_uuid])).toEqual(
        rowsBefore.map((r) => [r.profile_identifier, r.status, r.command_uuid]),
      );
      expect([...mac.profiles.keys()]).toEqual(['com.example.renewal.dock']);

      // The audit log tells the story through the admin API.
      const acts = await api(srv, 'GET', `/api/latest/fleet/hosts/${host.id}/activities?per_page=50`, {
        token,
      });
      expect(acts.status).toBe(200);
      const types = (acts.body.activities as { type: string }[]).map((a) => a.type);
      expect(types.filter((t) => t === 'mdm_enrolled')).toHaveLength(1);
      expect(types).toContain('sent_identity_certificate_renewal');
      expect(types).toContain('renewed_identity_certificate');

      // The Mac keeps working with its new identity.
      const before = mac.received.length;
      const info = await api(srv, 'POST', `/api/latest/fleet/hosts/${host.id}/refetch`, { token });
      expect(info.status).toBe(200);
      // The refetch pushes; the Mac wakes and answers with its new identity.
      await waitFor(() => mac.received.slice(before).some((c) => c.requestType === 'DeviceInformation'));
      await mac.settled();
      expect(mac.lastWakeError).toBeUndefined();
    });
  },
  overrides,
);

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
