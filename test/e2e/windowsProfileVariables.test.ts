import { beforeAll, expect, it } from 'vitest';
import { dbNow } from '../../src/db/dialect.js';
import type { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm } from '../helpers/windowsDevice.js';
import {
  convergeWindows,
  enrollPc,
  queuedFor,
  syncmlItem,
  windowsHostRows,
} from '../helpers/windowsProfiles.js';

const secret = 'windows-variables-secret';
const POLICY = './Device/Vendor/MSFT/Policy/Config';

/** Every place a stored command or a device's answer lives. */
async function storedSyncml(srv: TestServer): Promise<string> {
  const db = srv.app.services.database.db;
  const commands = await db.selectFrom('windows_mdm_commands').select('raw_command').execute();
  const results = await db.selectFrom('windows_mdm_command_results').select('raw_result').execute();
  const responses = await db.selectFrom('windows_mdm_responses').select('raw_response').execute();
  return [
    ...commands.map((r) => r.raw_command),
    ...results.map((r) => r.raw_result),
    ...responses.map((r) => r.raw_response),
  ].join('\n');
}

async function putSecrets(srv: TestServer, admin: string, secrets: { name: string; value: string }[]) {
  const res = await api(srv, 'PUT', '/api/latest/fleet/spec/secret_variables', {
    token: admin,
    body: { secrets },
  });
  expect(res.status).toBe(200);
}

describeEachDialect(
  'Windows profiles with Fleet variables and secrets',
  (server) => {
    let srv: TestServer;
    let admin = '';
    let pcs: SimulatedWindowsDevice[] = [];
    const row = async (d: SimulatedWindowsDevice, name: string) =>
      (await windowsHostRows(srv, d.hardwareUuid)).find((r) => r.profile_name === name);

    beforeAll(async () => {
      srv = server();
      admin = await setupAdmin(srv);
      await enableWindowsMdm(srv, secret);
      pcs = [(await enrollPc(srv, secret)).d, (await enrollPc(srv, secret)).d];
      for (const d of pcs) await d.runSession();
    });

    it('a profile with $FLEET_VAR_HOST_UUID reaches each PC with its own UUID, one command per host', async () => {
      const uri = `${POLICY}/Settings/PageVisibilityList`;
      const res = await uploadProfile(srv, admin, {
        name: 'Host id.xml',
        bytes: `<Replace>${syncmlItem(uri, 'hide:${FLEET_VAR_HOST_UUID}', 'chr')}</Replace>`,
      });
      expect(res.status).toBe(200);
      const tick = await srv.app.services.windowsProfileManager.tick();
      expect(tick.commands).toBe(2);
      const [a, b] = await Promise.all(pcs.map((d) => row(d, 'Host id')));
      expect(a!.command_uuid).not.toBe(b!.command_uuid);
      for (const d of pcs) {
        const queued = await queuedFor(srv, d.hardwareUuid);
        expect(queued).toHaveLength(1);
        expect(queued[0]).toContain(`hide:${d.hardwareUuid}`);
      }
      await convergeWindows(srv, pcs, 2);
      for (const d of pcs) {
        expect(d.tree.get(uri)?.data).toBe(`hide:${d.hardwareUuid}`);
        // Read back against what this host received: verified.
        expect(await row(d, 'Host id')).toMatchObject({ status: 'verified', detail: null });
      }
    });

    it('a host without the value gets a failed row with Fleet text and nothing is sent to it', async () => {
      const db = srv.app.services.database.db;
      const now = dbNow();
      await db
        .insertInto('mdm_idp_accounts')
        .values({
          uuid: 'idp-1',
          username: 'ada',
          fullname: 'Ada L',
          email: 'ada@example.com',
          created_at: now,
          updated_at: now,
        })
        .execute();
      await db
        .insertInto('host_mdm_idp_accounts')
        .values({ host_uuid: pcs[0].hardwareUuid, account_uuid: 'idp-1', created_at: now, updated_at: now })
        .execute();
      const uri = `${POLICY}/Accounts/DisplayName`;
      const res = await uploadProfile(srv, admin, {
        name: 'User name.xml',
        bytes: `<Replace>${syncmlItem(uri, '$FLEET_VAR_HOST_END_USER_IDP_USERNAME', 'chr')}</Replace>`,
      });
      expect(res.status).toBe(200);
      await convergeWindows(srv, pcs, 2);
      expect(pcs[0].tree.get(uri)?.data).toBe('ada');
      expect(await row(pcs[0], 'User name')).toMatchObject({ status: 'verified' });
      expect(pcs[1].tree.has(uri)).toBe(false);
      expect(await row(pcs[1], 'User name')).toMatchObject({
        status: 'failed',
        operation_type: 'install',
        command_uuid: '',
        detail:
          "There is no IdP username for this host. Fleet couldn't populate $FLEET_VAR_HOST_END_USER_IDP_USERNAME.",
      });
      expect(await queuedFor(srv, pcs[1].hardwareUuid)).toEqual([]);
    });

    it('secrets reach the PCs filled in, never the database; a changed secret is sent again with its new value', async () => {
      const uri = './Device/Vendor/MSFT/WiFi/Profile/Office/WlanXml';
      await putSecrets(srv, admin, [{ name: 'WIFI_PSK', value: 'first-psk-5150' }]);
      const res = await uploadProfile(srv, admin, {
        name: 'WiFi.xml',
        bytes: `<Replace>${syncmlItem(uri, 'psk=$FLEET_SECRET_WIFI_PSK', 'chr')}</Replace>`,
      });
      expect(res.status).toBe(200);
      await convergeWindows(srv, pcs, 2);
      for (const d of pcs) {
        expect(d.tree.get(uri)?.data).toBe('psk=first-psk-5150');
        // Nothing to read back without storing the secret: acknowledged is verified.
        expect(await row(d, 'WiFi')).toMatchObject({ status: 'verified' });
      }
      let stored = await storedSyncml(srv);
      expect(stored).toContain('psk=$FLEET_SECRET_WIFI_PSK');
      expect(stored).not.toContain('first-psk-5150');
      const cmd = (await row(pcs[0], 'WiFi'))!.command_uuid;
      const results = await api(srv, 'GET', `/api/latest/fleet/commands/results?command_uuid=${cmd}`, {
        token: admin,
      });
      expect(results.status).toBe(200);
      expect(results.text).not.toContain(Buffer.from('first-psk-5150').toString('base64').slice(0, 12));
      const payloads = results.body.results.map((r: { payload: string }) =>
        Buffer.from(r.payload, 'base64').toString(),
      );
      expect(payloads.every((p: string) => p.includes('psk=$FLEET_SECRET_WIFI_PSK'))).toBe(true);

      // A value XML has to escape arrives escaped, and only the profile using it goes again.
      await putSecrets(srv, admin, [{ name: 'WIFI_PSK', value: 'second<&>psk' }]);
      expect((await row(pcs[0], 'WiFi'))?.status).toBeNull();
      expect((await row(pcs[0], 'Host id'))?.status).toBe('verified');
      await convergeWindows(srv, pcs, 2);
      for (const d of pcs) {
        expect(d.tree.get(uri)?.data).toBe('psk=second&lt;&amp;&gt;psk');
        expect(await row(d, 'WiFi')).toMatchObject({ status: 'verified' });
      }
      stored = await storedSyncml(srv);
      expect(stored).not.toContain('second&lt;&amp;&gt;psk');
      expect(stored).not.toContain('second<&>psk');
    });

    it('a secret gone when the command is handed over fails the row and drops the command; nothing broken is sent', async () => {
      const uri = './Device/Vendor/MSFT/VPNv2/Corp/Secret';
      await putSecrets(srv, admin, [{ name: 'VPN_KEY', value: 'vpn-key-7' }]);
      const res = await uploadProfile(srv, admin, {
        name: 'VPN.xml',
        bytes: `<Replace>${syncmlItem(uri, '$FLEET_SECRET_VPN_KEY', 'chr')}</Replace>`,
      });
      expect(res.status).toBe(200);
      await srv.app.services.windowsProfilesTick();
      const d = pcs[0];
      expect((await queuedFor(srv, d.hardwareUuid)).some((c) => c.includes('$FLEET_SECRET_VPN_KEY'))).toBe(
        true,
      );
      // Gone from the database (the API refuses to delete a secret in use).
      await srv.app.services.database.db
        .deleteFrom('secret_variables')
        .where('name', '=', 'VPN_KEY')
        .execute();
      const sentBefore = d.received.length;
      await d.runSession();
      expect(d.tree.has(uri)).toBe(false);
      expect(d.received.slice(sentBefore).join('')).not.toContain('VPN_KEY');
      expect(await row(d, 'VPN')).toMatchObject({
        status: 'failed',
        detail: `Couldn't add. Secret variable "$FLEET_SECRET_VPN_KEY" missing from database`,
      });
      expect(await queuedFor(srv, d.hardwareUuid)).toEqual([]);
    });

    it('a SCEP profile is sent in one Atomic with its certificate ID set to the profile UUID', async () => {
      const root =
        './Device/Vendor/MSFT/ClientCertificateInstall/SCEP/$FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID';
      const add = (path: string, data: string, format = 'chr') =>
        `<Add>${syncmlItem(`${root}${path}`, data, format)}</Add>`;
      const profile =
        `<Add><Item><Target><LocURI>${root}</LocURI></Target><Meta><Format xmlns="syncml:metinf">node</Format></Meta></Item></Add>` +
        add('/Install/CAThumbprint', '2133EC6A3CFB8418837BB395188D1A62CA2B96A6') +
        add('/Install/Challenge', 'challenge-1') +
        add('/Install/EKUMapping', '1.3.6.1.5.5.7.3.2') +
        add('/Install/HashAlgorithm', 'SHA-1') +
        add('/Install/KeyLength', '2048', 'int') +
        add('/Install/KeyUsage', '160', 'int') +
        add('/Install/ServerURL', 'https://scep.example.com/scep') +
        add('/Install/SubjectName', 'CN=$FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID') +
        `<Exec><Item><Target><LocURI>${root}/Install/Enroll</LocURI></Target></Item></Exec>`;
      const res = await uploadProfile(srv, admin, { name: 'SCEP.xml', bytes: profile });
      expect(res.status).toBe(200);
      const uuid = res.body.profile_uuid as string;
      await srv.app.services.windowsProfilesTick();
      const [queued] = (await queuedFor(srv, pcs[1].hardwareUuid)).filter((c) => c.includes('SCEP'));
      expect(queued.startsWith('<Atomic>')).toBe(true);
      expect(queued).not.toContain('FLEET_VAR_');
      await pcs[1].runSession();
      const node = `./Device/Vendor/MSFT/ClientCertificateInstall/SCEP/${uuid}`;
      expect(pcs[1].tree.get(`${node}/Install/SubjectName`)?.data).toBe(`CN=${uuid}`);
      expect(pcs[1].execs.at(-1)).toMatchObject({ locUri: `${node}/Install/Enroll` });
      expect(await row(pcs[1], 'SCEP')).toMatchObject({ status: 'verified' });
    });

    it('no secret value was ever logged', () => {
      const logged = JSON.stringify(srv.logLines);
      expect(srv.logLines!.length).toBeGreaterThan(0);
      for (const value of ['first-psk-5150', 'second<&>psk', 'second&lt;&amp;&gt;psk', 'vpn-key-7'])
        expect(logged).not.toContain(value);
    });
  },
  { logLevel: 'debug' },
);
