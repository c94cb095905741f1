import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const vector = (name: string) => readFileSync(new URL(`../vectors/windows/${name}`, import.meta.url));
const secret = 'windows-profiles-secret';

const POLICY = './Device/Vendor/MSFT/Policy/Config';
const item = (uri: string, data: string, format = 'int') =>
  `<Item><Meta><Format xmlns="syncml:metinf">${format}</Format></Meta><Target><LocURI>${uri}</LocURI></Target><Data>${data}</Data></Item>`;

async function stored(srv: TestServer) {
  const db = srv.app.services.database.db;
  return {
    profiles: await db
      .selectFrom('mdm_windows_configuration_profiles')
      .selectAll()
      .orderBy('profile_uuid')
      .execute(),
    labels: await db.selectFrom('mdm_configuration_profile_labels').selectAll().orderBy('id').execute(),
    hostRows: await db.selectFrom('host_mdm_windows_profiles').selectAll().orderBy('profile_uuid').execute(),
  };
}

async function appleHostRows(srv: TestServer, uuid: string) {
  return srv.app.services.database.db
    .selectFrom('host_mdm_windows_profiles')
    .selectAll()
    .where('host_uuid', '=', uuid)
    .orderBy('profile_name')
    .execute();
}

/** Manager tick, then one management session; repeated. */
async function converge(srv: TestServer, d: SimulatedWindowsDevice, rounds = 4) {
  for (let i = 0; i < rounds; i++) {
    await srv.app.services.windowsProfilesTick();
    await d.runSession();
  }
}

describeEachDialect(
  'Windows profiles: upload, manager, simulated PC convergence',
  (server) => {
    let srv: TestServer;
    let admin = '';
    let teamId = 0;
    let d: SimulatedWindowsDevice;
    let hostId = 0;
    const uuids: Record<string, string> = {};

    beforeAll(async () => {
      srv = server();
      admin = await setupAdmin(srv);
      const s = srv.app.services;
      await s.appConfig.patch({ server_settings: { server_url: srv.url } });
      teamId = await createTeam(srv, admin, 'Windows fleet');
      await s.enrollSecrets.replace(null, teamId, [secret]);
    });

    it('refuses Windows profiles while Windows MDM is off, and bad uploads once on; nothing is stored', async () => {
      const before = await stored(srv);
      const off = await uploadProfile(
        srv,
        admin,
        { name: 'Block.xml', bytes: vector('fleet_profile_replace_int_BlockMDMUnenrollment.xml') },
        { team_id: String(teamId) },
      );
      expect(off.status).toBe(400);
      expect(off.body.errors[0].reason).toMatch(/Windows MDM isn't turned on/);
      await srv.app.services.appConfig.patch({ mdm: { windows_enabled_and_configured: true } });
      srv.app.services.windows.invalidateEnabled();

      const bad: [string, string, RegExp][] = [
        ['NotXml.xml', 'this is not <xml', /valid XML/],
        [
          'BitLocker.xml',
          `<Replace>${item('./Device/Vendor/MSFT/BitLocker/RequireDeviceEncryption', '1')}</Replace>`,
          /BitLocker/,
        ],
        [
          'Enrollment.xml',
          `<Replace>${item('./Vendor/MSFT/DMClient/Provider/Fleet/Poll/NumberOfFirstRetries', '3')}</Replace>`,
          /enrollment/,
        ],
        [
          'Forbidden.xml',
          `<Delete>${item(`${POLICY}/Camera/AllowCamera`, '0')}</Delete>`,
          /only have <Replace> or <Add>/,
        ],
        ['Exec.xml', `<Exec>${item('./Device/Vendor/MSFT/Reboot/RebootNow', '')}</Exec>`, /Only SCEP/],
        [
          'NoLocURI.xml',
          `<Replace><Item><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>0</Data></Item></Replace>`,
          /LocURI/,
        ],
        [
          'Declared.xml',
          `<?xml version="1.0"?><Replace>${item(`${POLICY}/Camera/AllowCamera`, '0')}</Replace>`,
          /processing instructions/,
        ],
      ];
      for (const [name, body, why] of bad) {
        const res = await uploadProfile(srv, admin, { name, bytes: body }, { team_id: String(teamId) });
        expect(res.status, name).toBeGreaterThanOrEqual(400);
        expect(res.status, name).toBeLessThan(500);
        expect(res.body.errors[0].reason, name).toMatch(why);
      }
      expect(await stored(srv)).toEqual(before);
    });

    /** Windows MDM on, as the first test leaves it. */
    async function windowsOn(): Promise<void> {
      const s = srv.app.services;
      if ((await s.appConfig.get()).mdm.windows_enabled_and_configured) return;
      await s.appConfig.patch({ mdm: { windows_enabled_and_configured: true } });
      s.windows.invalidateEnabled();
    }

    // The tests below build on what the one before leaves: the profiles stored, the PC converged on
    // them, a profile gone out of scope. Each stage runs once, from its own test or, when that test
    // is skipped, from the first later test that needs it.
    const once = (stage: () => Promise<void>) => {
      let done: Promise<void> | undefined;
      return () => (done ??= stage());
    };
    const profilesStored = once(storeProfiles);
    const pcConverged = once(convergePc);
    const scopeLeft = once(leaveScope);

    it('stores good profiles with labels, keeps names unique across Apple and Windows, lists and downloads them', () =>
      profilesStored());

    async function storeProfiles(): Promise<void> {
      await windowsOn();
      const s = srv.app.services;
      d = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret: secret, keyBits: 1024 });
      await d.orbitEnroll();
      const host = await s.hostStore.findByUuid(d.hardwareUuid);
      hostId = host!.id;
      expect(host!.team_id).toBe(teamId);
      const label = await api(srv, 'POST', '/api/latest/fleet/labels', {
        token: admin,
        body: { name: 'Remote desktop off', hosts: [d.hardwareUuid] },
      });
      expect(label.status).toBe(200);

      const files: [string, Buffer | string, Record<string, string | string[]>][] = [
        ['Block unenroll.xml', vector('fleet_profile_replace_int_BlockMDMUnenrollment.xml'), {}],
        ['Device password.xml', vector('fleet_profile_multi_replace_device_password.xml'), {}],
        [
          'Remote desktop.xml',
          // The ADMX sample plus a setting another profile also sets (it must survive the removal).
          vector('fleet_profile_replace_admx_AllowUsersToConnectRemotely.xml').toString() +
            `<Replace>${item(`${POLICY}/DeviceLock/DevicePasswordEnabled`, '0')}</Replace>`,
          { labels_include_any: 'Remote desktop off' },
        ],
      ];
      for (const [name, bytes, labels] of files) {
        const res = await uploadProfile(srv, admin, { name, bytes }, { team_id: String(teamId), ...labels });
        expect(res.status, name).toBe(200);
        expect(res.body.profile_uuid).toMatch(/^w[0-9a-f-]{36}$/);
        uuids[name.replace('.xml', '')] = res.body.profile_uuid;
      }
      const before = await stored(srv);
      const dup = await uploadProfile(
        srv,
        admin,
        { name: 'Block unenroll.xml', bytes: vector('fleet_profile_replace_int_BlockMDMUnenrollment.xml') },
        { team_id: String(teamId) },
      );
      expect(dup.status).toBe(409);
      const mobileconfig = `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>PayloadContent</key><array/><key>PayloadDisplayName</key><string>Device password</string><key>PayloadIdentifier</key><string>com.example.pw</string><key>PayloadType</key><string>Configuration</string><key>PayloadUUID</key><string>X</string><key>PayloadVersion</key><integer>1</integer></dict></plist>`;
      const apple = await uploadProfile(
        srv,
        admin,
        { name: 'pw.mobileconfig', bytes: mobileconfig },
        { team_id: String(teamId) },
      );
      expect(apple.status).toBe(409);
      expect(await stored(srv)).toEqual(before);

      const list = await api(srv, 'GET', `/api/latest/fleet/configuration_profiles?team_id=${teamId}`, {
        token: admin,
      });
      expect(list.body.profiles.map((p: { name: string; platform: string }) => [p.name, p.platform])).toEqual(
        [
          ['Block unenroll', 'windows'],
          ['Device password', 'windows'],
          ['Remote desktop', 'windows'],
        ],
      );
      const one = await api(
        srv,
        'GET',
        `/api/latest/fleet/configuration_profiles/${uuids['Remote desktop']}`,
        { token: admin },
      );
      expect(one.body).toMatchObject({
        name: 'Remote desktop',
        platform: 'windows',
        team_id: teamId,
        labels_include_any: [{ name: 'Remote desktop off' }],
      });
      const dl = await fetch(
        `${srv.url}/api/latest/fleet/configuration_profiles/${uuids['Block unenroll']}?alt=media`,
        { headers: { authorization: `Bearer ${admin}` } },
      );
      expect(
        Buffer.from(await dl.arrayBuffer()).equals(
          vector('fleet_profile_replace_int_BlockMDMUnenrollment.xml'),
        ),
      ).toBe(true);
    }

    it('the simulated PC enrolls, receives its team profiles, reports them, and they end verified', () =>
      pcConverged());

    async function convergePc(): Promise<void> {
      await profilesStored();
      const s = srv.app.services;
      const cfg = await d.orbitConfig();
      await d.enrollProgrammatically(cfg.notifications.windows_mdm_discovery_endpoint as string);
      const tick = await s.windowsProfileManager.tick();
      expect(tick.commands).toBe(3);
      expect((await appleHostRows(srv, d.hardwareUuid)).map((r) => r.status)).toEqual([
        'pending',
        'pending',
        'pending',
      ]);
      await d.runSession();
      expect((await appleHostRows(srv, d.hardwareUuid)).map((r) => r.status)).toEqual([
        'verifying',
        'verifying',
        'verifying',
      ]);
      expect(d.tree.get(`${POLICY}/Experience/AllowManualMDMUnenrollment`)?.data).toBe('0');
      expect(d.tree.get(`${POLICY}/DeviceLock/MinDevicePasswordLength`)?.data).toBe('10');
      expect(d.tree.get(`${POLICY}/RemoteDesktopServices/AllowUsersToConnectRemotely`)?.data).toContain(
        '&lt;enabled/&gt;',
      );
      // Windows re-capitalises and re-escapes ADMX values; the read-back still matches.
      d.tree.set(`${POLICY}/RemoteDesktopServices/AllowUsersToConnectRemotely`, {
        data: '&lt;Enabled/&gt;&lt;Data id="SOFTWARE\\Policies\\Microsoft\\Windows NT\\Terminal Services" value="1"/&gt;',
      });
      await converge(srv, d, 2);
      const rows = await appleHostRows(srv, d.hardwareUuid);
      expect(rows.map((r) => [r.profile_name, r.status, r.operation_type])).toEqual([
        ['Block unenroll', 'verified', 'install'],
        ['Device password', 'verified', 'install'],
        ['Remote desktop', 'verified', 'install'],
      ]);
      const hostRes = await api(srv, 'GET', `/api/latest/fleet/hosts/${hostId}`, { token: admin });
      expect(hostRes.body.host.mdm.profiles).toHaveLength(3);
      expect(
        hostRes.body.host.mdm.profiles.every(
          (p: { status: string; platform: string }) => p.status === 'verified' && p.platform === 'windows',
        ),
      ).toBe(true);
      const summary = await api(
        srv,
        'GET',
        `/api/latest/fleet/configuration_profiles/summary?team_id=${teamId}`,
        { token: admin },
      );
      expect(summary.body).toMatchObject({ verified: 1, verifying: 0, pending: 0, failed: 0 });
      const perProfile = await api(
        srv,
        'GET',
        `/api/latest/fleet/configuration_profiles/${uuids['Device password']}/status`,
        { token: admin },
      );
      expect(perProfile.body).toMatchObject({ verified: 1 });
    }

    it('a profile leaving the host scope is deleted from the PC, except LocURIs another profile still sets', () =>
      scopeLeft());

    async function leaveScope(): Promise<void> {
      await pcConverged();
      const label = await api(srv, 'GET', '/api/latest/fleet/labels', { token: admin });
      const id = label.body.labels.find((l: { name: string }) => l.name === 'Remote desktop off').id;
      const res = await api(srv, 'PATCH', `/api/latest/fleet/labels/${id}`, {
        token: admin,
        body: { hosts: [] },
      });
      expect(res.status).toBe(200);
      // Marked for removal at once: hidden from the host's list while it is in flight.
      expect(
        (await appleHostRows(srv, d.hardwareUuid)).find((r) => r.profile_name === 'Remote desktop'),
      ).toMatchObject({ operation_type: 'remove', status: null });
      await converge(srv, d, 2);
      expect(d.tree.has(`${POLICY}/RemoteDesktopServices/AllowUsersToConnectRemotely`)).toBe(false);
      expect(d.tree.get(`${POLICY}/DeviceLock/DevicePasswordEnabled`)?.data).toBe('0');
      expect((await appleHostRows(srv, d.hardwareUuid)).map((r) => r.profile_name)).toEqual([
        'Block unenroll',
        'Device password',
      ]);

      // Deleting a definition removes its settings; a node already gone (404) counts as removed.
      d.tree.delete(`${POLICY}/DeviceLock/MinDevicePasswordComplexCharacters`);
      const del = await api(
        srv,
        'DELETE',
        `/api/latest/fleet/configuration_profiles/${uuids['Device password']}`,
        { token: admin },
      );
      expect(del.status).toBe(200);
      await converge(srv, d, 2);
      expect([...d.tree.keys()].filter((k) => k.includes('/DeviceLock/'))).toEqual([]);
      expect((await appleHostRows(srv, d.hardwareUuid)).map((r) => r.profile_name)).toEqual([
        'Block unenroll',
      ]);
    }

    it('a profile whose read-back differs is re-sent once, then failed with the difference', async () => {
      await scopeLeft();
      const camera = `${POLICY}/Camera/AllowCamera`;
      d.enforced.set(camera, { data: '1', format: 'int' });
      const res = await uploadProfile(
        srv,
        admin,
        { name: 'Camera.xml', bytes: `<Replace>${item(camera, '0')}</Replace>` },
        { team_id: String(teamId) },
      );
      expect(res.status).toBe(200);
      const camRow = async () =>
        (await appleHostRows(srv, d.hardwareUuid)).find((r) => r.profile_name === 'Camera')!;
      await srv.app.services.windowsProfilesTick();
      await d.runSession();
      expect(await camRow()).toMatchObject({ status: 'verifying', retries: 0 });
      await converge(srv, d, 1);
      expect(await camRow()).toMatchObject({ status: null, retries: 1 });
      await converge(srv, d, 3);
      const row = await camRow();
      expect(row).toMatchObject({ status: 'failed', retries: 1 });
      expect(row.detail).toContain(`${camera}: expected "0", found "1"`);
      const summary = await api(
        srv,
        'GET',
        `/api/latest/fleet/configuration_profiles/summary?team_id=${teamId}`,
        { token: admin },
      );
      expect(summary.body).toMatchObject({ failed: 1, verified: 0 });

      // Resend puts it back in the queue; once the PC stops overriding it, it verifies.
      d.enforced.delete(camera);
      const resend = await api(
        srv,
        'POST',
        `/api/latest/fleet/hosts/${hostId}/configuration_profiles/${res.body.profile_uuid}/resend`,
        { token: admin },
      );
      expect(resend.status).toBe(202);
      await converge(srv, d, 3);
      expect(await camRow()).toMatchObject({ status: 'verified', detail: null });
    });

    it('an install error is retried, then failed with the LocURI and status code', async () => {
      await scopeLeft();
      // This PC refuses the node as read-only (405), as Windows does for settings it will not take.
      const bad = `${POLICY}/Bogus/Setting`;
      const res = await uploadProfile(
        srv,
        admin,
        { name: 'Bogus.xml', bytes: `<Replace>${item(bad, '1')}</Replace>` },
        { team_id: String(teamId) },
      );
      expect(res.status).toBe(200);
      d.enforced.clear();
      const original = (
        d as unknown as { apply: (c: { verb: string; items: { target?: string }[] }) => { code: string } }
      ).apply.bind(d);
      (d as unknown as { apply: unknown }).apply = (c: { verb: string; items: { target?: string }[] }) =>
        c.items.some((i) => i.target === bad) ? { code: '405' } : original(c);
      await converge(srv, d, 3);
      const row = (await appleHostRows(srv, d.hardwareUuid)).find((r) => r.profile_name === 'Bogus')!;
      expect(row).toMatchObject({ status: 'failed', retries: 1, detail: `${bad}: status 405` });
    });
  },
  { windowsProfileVerifyGraceSeconds: 0 },
);
