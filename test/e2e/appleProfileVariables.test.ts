import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { ReceivedCommand, SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { parsePlistDict } from '../../src/apple/plist/parse.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { cmsSign } from '../../src/crypto/cms.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { appleHostRows, teamOfDevices, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-apple-vars-'));
const file = (name: string, data: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};

/** A Wi-Fi-like profile with `value` in one string field (a variable reference, usually). */
function profileWith(identifier: string, name: string, value: string): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>PayloadType</key><string>com.apple.wifi.managed</string>
<key>PayloadIdentifier</key><string>${identifier}.wifi</string>
<key>PayloadUUID</key><string>${identifier}-inner</string>
<key>PayloadVersion</key><integer>1</integer>
<key>SSID_STR</key><string>Office</string>
<key>Password</key><string>${value}</string>
</dict></array>
<key>PayloadDisplayName</key><string>${name}</string>
<key>PayloadIdentifier</key><string>${identifier}</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>${identifier}-uuid</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>`);
}

/** The profile an InstallProfile carries, checked by openssl against the server's SCEP CA. */
async function verifiedPayload(srv: TestServer, cmd: ReceivedCommand): Promise<Record<string, unknown>> {
  const ca = await srv.app.services.appleScep.caCertificate();
  const content = execFileSync(
    'openssl',
    [
      'cms',
      '-verify',
      '-inform',
      'DER',
      '-in',
      file(`${cmd.commandUuid}.der`, cmd.command.Payload as Buffer),
      '-CAfile',
      file('scep-ca.pem', ca.certPem),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return parsePlistDict(content);
}

const installsOf = (d: SimulatedAppleDevice, from = 0) =>
  d.received.slice(from).filter((c) => c.requestType === 'InstallProfile');

/** Every stored byte of the tables a profile command or its result passes through, as text. */
async function storedText(srv: TestServer): Promise<string> {
  const { db } = srv.app.services.database;
  const tables = [
    'nano_commands',
    'nano_command_results',
    'host_mdm_apple_profiles',
    'mdm_apple_configuration_profiles',
    'secret_variables',
  ] as const;
  const parts: string[] = [];
  for (const t of tables) {
    const rows = await db.selectFrom(t).selectAll().execute();
    for (const r of rows)
      for (const v of Object.values(r)) parts.push(Buffer.isBuffer(v) ? v.toString('latin1') : String(v));
  }
  return parts.join('\n');
}

describeEachDialect(
  'Apple profiles with Fleet variables and secrets',
  (server) => {
    it('fills $FLEET_VAR_HOST_HARDWARE_SERIAL per Mac, signed; a Mac without a serial fails and gets nothing', async () => {
      const srv = server();
      const token = await loginToken(srv);
      const a = await enrolledDevice(srv, { serial: 'C02SERIALAAA' });
      const b = await enrolledDevice(srv, { serial: 'C02SERIALBBB' });
      const c = await enrolledDevice(srv, { serial: 'C02SERIALCCC' });
      const { db } = srv.app.services.database;
      // The third Mac reports no serial (as a host can).
      await db.updateTable('hosts').set({ hardware_serial: '' }).where('uuid', '=', c.udid).execute();
      const teamId = await teamOfDevices(srv, 'Serials', [a, b, c]);

      const up = await uploadProfile(
        srv,
        token,
        {
          name: 'serial.mobileconfig',
          bytes: profileWith('com.example.serial', 'Serial', 'sn-$FLEET_VAR_HOST_HARDWARE_SERIAL'),
        },
        { team_id: String(teamId) },
      );
      expect(up.status).toBe(200);
      const profileUuid = up.body.profile_uuid as string;

      await srv.app.services.profileManager.tick();
      const [ra] = await appleHostRows(srv, a.udid);
      const [rb] = await appleHostRows(srv, b.udid);
      const [rc] = await appleHostRows(srv, c.udid);
      expect(ra).toMatchObject({ profile_uuid: profileUuid, status: 'pending' });
      expect(rb).toMatchObject({ profile_uuid: profileUuid, status: 'pending' });
      // One command per host, each its own.
      expect(ra.command_uuid).not.toBe(rb.command_uuid);
      expect(ra.variables_updated_at).not.toBeNull();
      expect(rc).toMatchObject({
        profile_uuid: profileUuid,
        status: 'failed',
        command_uuid: '',
        detail:
          "There is no serial number for this host. Fleet couldn't populate $FLEET_VAR_HOST_HARDWARE_SERIAL.",
      });
      // Nothing was queued for the third Mac.
      const queuedForC = await db
        .selectFrom('nano_enrollment_queue')
        .select('command_uuid')
        .where('id', '=', c.udid)
        .execute();
      expect(queuedForC).toEqual([]);

      for (const d of [a, b, c]) await d.connect();
      const [gotA] = installsOf(a);
      const [gotB] = installsOf(b);
      expect(gotA.commandUuid).toBe(ra.command_uuid);
      const contentA = await verifiedPayload(srv, gotA);
      const contentB = await verifiedPayload(srv, gotB);
      expect(contentA.PayloadContent).toEqual([expect.objectContaining({ Password: 'sn-C02SERIALAAA' })]);
      expect(contentB.PayloadContent).toEqual([expect.objectContaining({ Password: 'sn-C02SERIALBBB' })]);
      expect(installsOf(c)).toEqual([]);
      expect(c.profiles.has('com.example.serial')).toBe(false);
      expect((await appleHostRows(srv, a.udid))[0].status).toBe('verifying');

      // The host details show the failure as Fleet does.
      const host = await db
        .selectFrom('hosts')
        .select('id')
        .where('uuid', '=', c.udid)
        .executeTakeFirstOrThrow();
      const detail = await api(srv, 'GET', `/api/latest/fleet/hosts/${host.id}`, { token });
      expect(detail.status).toBe(200);
      expect(detail.body.host.mdm.profiles).toEqual([
        expect.objectContaining({ profile_uuid: profileUuid, status: 'failed', detail: rc.detail }),
      ]);
    });

    it('refuses a signed upload that uses a Fleet variable or a secret, storing nothing', async () => {
      const srv = server();
      const token = await loginToken(srv);
      const { db } = srv.app.services.database;
      const vendor = createCertificateAuthority('Vendor Signing');
      const count = async () =>
        Number(
          (
            await db
              .selectFrom('mdm_apple_configuration_profiles')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      // The secret exists: what is refused is its use in a signed profile.
      const secret = await api(srv, 'PUT', '/api/latest/fleet/spec/secret_variables', {
        token,
        body: { secrets: [{ name: 'ANY', value: 'any-value' }] },
      });
      expect(secret.status).toBe(200);
      const before = await count();
      for (const [ref, reason] of [
        ['$FLEET_VAR_HOST_UUID', 'a signed profile cannot contain Fleet variables ($FLEET_VAR_*)'],
        ['$FLEET_SECRET_ANY', 'a signed profile cannot contain secret variables ($FLEET_SECRET_*)'],
      ]) {
        const signed = cmsSign(profileWith('com.example.signedvars', 'Signed vars', ref), vendor);
        const res = await uploadProfile(srv, token, { name: 'signed.mobileconfig', bytes: signed });
        expect(res.status).toBe(422);
        expect(res.body).toEqual({
          message: 'Validation Failed',
          errors: [{ name: 'profile', reason }],
          uuid: expect.any(String),
        });
      }
      expect(await count()).toBe(before);
    });

    it('keeps secrets out of storage, logs and command results; a changed secret re-sends the new value', async () => {
      const srv = server();
      const token = await loginToken(srv);
      const first = 'first-Secret-Value-7731';
      const second = 'second-Secret-Value-9042';
      const put = (value: string) =>
        api(srv, 'PUT', '/api/latest/fleet/spec/secret_variables', {
          token,
          body: { secrets: [{ name: 'FLEET_SECRET_OFFICE_PSK', value }] },
        });
      expect((await put(first)).status).toBe(200);
      const mac = await enrolledDevice(srv);
      const teamId = await teamOfDevices(srv, 'Secrets', [mac]);
      const up = await uploadProfile(
        srv,
        token,
        {
          name: 'psk.mobileconfig',
          bytes: profileWith('com.example.psk', 'Office PSK', '$FLEET_SECRET_OFFICE_PSK'),
        },
        { team_id: String(teamId) },
      );
      expect(up.status).toBe(200);

      await srv.app.services.profileManager.tick();
      const [row1] = await appleHostRows(srv, mac.udid);
      expect(row1.status).toBe('pending');
      const { db } = srv.app.services.database;
      const stored = await db
        .selectFrom('nano_commands')
        .select(['subtype', 'command'])
        .where('command_uuid', '=', row1.command_uuid)
        .executeTakeFirstOrThrow();
      expect(stored.subtype).toBe('ProfileWithSecrets');
      expect(Buffer.from(stored.command).toString('utf8')).toContain('$FLEET_SECRET_OFFICE_PSK');

      await mac.connect();
      const [got1] = installsOf(mac);
      expect(got1.commandUuid).toBe(row1.command_uuid);
      expect((await verifiedPayload(srv, got1)).PayloadContent).toEqual([
        expect.objectContaining({ Password: first }),
      ]);
      expect((await appleHostRows(srv, mac.udid))[0].status).toBe('verifying');

      // The admin sees the command as stored: placeholders, never the value.
      const results = await api(
        srv,
        'GET',
        `/api/latest/fleet/commands/results?command_uuid=${row1.command_uuid}`,
        { token },
      );
      expect(results.status).toBe(200);
      expect(results.body.results).toHaveLength(1);
      const shown = Buffer.from(results.body.results[0].payload, 'base64').toString('utf8');
      expect(shown).toContain('$FLEET_SECRET_OFFICE_PSK');
      expect(shown).not.toContain(first);
      const answer = Buffer.from(results.body.results[0].result, 'base64').toString('utf8');
      expect(answer).toContain('Acknowledged');
      expect(answer).not.toContain(first);

      // A new value: the profile goes pending at once and the device gets the new value.
      const seen = mac.received.length;
      expect((await put(second)).status).toBe(200);
      expect((await appleHostRows(srv, mac.udid))[0].status).toBeNull();
      await srv.app.services.profileManager.tick();
      const [row2] = await appleHostRows(srv, mac.udid);
      expect(row2.status).toBe('pending');
      expect(row2.command_uuid).not.toBe(row1.command_uuid);
      await mac.connect();
      const [got2] = installsOf(mac, seen);
      expect(got2.commandUuid).toBe(row2.command_uuid);
      expect((await verifiedPayload(srv, got2)).PayloadContent).toEqual([
        expect.objectContaining({ Password: second }),
      ]);

      const text = await storedText(srv);
      // Debug logging is on for this suite: every line the server wrote is checked.
      expect(srv.logLines!.length).toBeGreaterThan(0);
      const logs = JSON.stringify(srv.logLines);
      for (const value of [first, second]) {
        expect(text).not.toContain(value);
        expect(logs).not.toContain(value);
      }
    });

    it('a secret gone at delivery fails the row with the text, settles the command, and the queue goes on', async () => {
      const srv = server();
      const token = await loginToken(srv);
      const put = (value: string) =>
        api(srv, 'PUT', '/api/latest/fleet/spec/secret_variables', {
          token,
          body: { secrets: [{ name: 'VANISHING', value }] },
        });
      expect((await put('vanishing-value-1')).status).toBe(200);
      const mac = await enrolledDevice(srv);
      const teamId = await teamOfDevices(srv, 'Vanishing', [mac]);
      const up = await uploadProfile(
        srv,
        token,
        {
          name: 'v.mobileconfig',
          bytes: profileWith('com.example.vanishing', 'Vanishing', '$FLEET_SECRET_VANISHING'),
        },
        { team_id: String(teamId) },
      );
      expect(up.status).toBe(200);
      await srv.app.services.profileManager.tick();
      const [row] = await appleHostRows(srv, mac.udid);
      expect(row.status).toBe('pending');
      // A plain command queued behind it must still reach the device.
      const behind = 'BEHIND-' + row.command_uuid;
      await srv.app.services.appleQueue.enqueue([mac.udid], {
        commandUuid: behind,
        requestType: 'DeviceInformation',
        plist: Buffer.from(
          `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>CommandUUID</key><string>${behind}</string><key>Command</key><dict><key>RequestType</key><string>DeviceInformation</string><key>Queries</key><array><string>DeviceName</string></array></dict></dict></plist>`,
        ),
      });
      // The secret disappears between queueing and delivery.
      const { db } = srv.app.services.database;
      await db.deleteFrom('secret_variables').where('name', '=', 'VANISHING').execute();

      const handled = await mac.connect();
      expect(handled.map((c) => c.commandUuid)).toEqual([behind]);
      expect(mac.profiles.has('com.example.vanishing')).toBe(false);
      const [failed] = await appleHostRows(srv, mac.udid);
      expect(failed).toMatchObject({
        status: 'failed',
        command_uuid: row.command_uuid,
        detail: 'Couldn\'t add. Secret variable "$FLEET_SECRET_VANISHING" missing from database',
      });
      const result = await db
        .selectFrom('nano_command_results')
        .select('status')
        .where('id', '=', mac.udid)
        .where('command_uuid', '=', row.command_uuid)
        .executeTakeFirstOrThrow();
      expect(result.status).toBe('Error');
      // Nothing further is handed out for it.
      expect(await mac.connect()).toEqual([]);
    });
  },
  { logLevel: 'debug' },
);

/** The admin's token (first-time setup, or a login when another test already ran it). */
async function loginToken(srv: TestServer): Promise<string> {
  const login = await api(srv, 'POST', '/api/latest/fleet/login', {
    body: { email: 'admin@example.com', password: 'admin-password-1!' },
  });
  if (login.status === 200) return login.body.token as string;
  return setupAdmin(srv);
}
