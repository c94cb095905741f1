import { beforeAll, expect, it } from 'vitest';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import type { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';

const enrollSecret = 'resend-enroll-secret';

const appleProfile = (identifier: string, name: string, value: string) =>
  mobileconfig(identifier, name)
    .toString()
    .replace('<key>orientation</key><string>v1</string>', `<key>orientation</key><string>${value}</string>`);

const windowsProfile = (uri: string, value: string) =>
  '<Replace><Item><Meta><Format xmlns="syncml:metinf">chr</Format></Meta>' +
  `<Target><LocURI>./Device/Vendor/MSFT/Policy/Config/${uri}</LocURI></Target>` +
  `<Data>${value}</Data></Item></Replace>`;

describeEachDialect('a changed secret re-sends the profiles that use it', (server) => {
  let srv: TestServer;
  let admin = '';
  let mac: SimulatedAppleDevice;
  let pc: SimulatedWindowsDevice;
  const uuids: Record<string, string> = {};

  const db = () => srv.app.services.database.db;
  const spec = (value: string) =>
    api(srv, 'PUT', '/api/latest/fleet/spec/secret_variables', {
      token: admin,
      body: { secrets: [{ name: 'WIFI_PASSWORD', value }] },
    });

  /** Every definition's secrets time (and a declaration's token), by profile. */
  async function definitions() {
    const out: Record<string, { secrets_updated_at: string | null; token?: string }> = {};
    for (const p of await db()
      .selectFrom('mdm_apple_configuration_profiles')
      .select(['profile_uuid', 'secrets_updated_at'])
      .execute())
      out[p.profile_uuid] = { secrets_updated_at: p.secrets_updated_at };
    for (const d of await db()
      .selectFrom('mdm_apple_declarations')
      .select(['declaration_uuid', 'secrets_updated_at', 'token'])
      .execute())
      out[d.declaration_uuid] = { secrets_updated_at: d.secrets_updated_at, token: d.token };
    for (const w of await db()
      .selectFrom('mdm_windows_configuration_profiles')
      .select(['profile_uuid', 'secrets_updated_at'])
      .execute())
      out[w.profile_uuid] = { secrets_updated_at: w.secrets_updated_at };
    return out;
  }

  /** Host status by profile: the Mac's profiles and declarations, the PC's profiles. */
  async function hostStatus() {
    const out: Record<string, string | null> = {};
    const apple = await db()
      .selectFrom('host_mdm_apple_profiles')
      .select(['profile_uuid', 'status'])
      .where('host_uuid', '=', mac.udid)
      .execute();
    const decl = await db()
      .selectFrom('host_mdm_apple_declarations')
      .select(['declaration_uuid', 'status'])
      .where('host_uuid', '=', mac.udid)
      .execute();
    const windows = await db()
      .selectFrom('host_mdm_windows_profiles')
      .select(['profile_uuid', 'status'])
      .where('host_uuid', '=', pc.hardwareUuid)
      .execute();
    for (const r of apple) out[r.profile_uuid] = r.status;
    for (const r of decl) out[r.declaration_uuid] = r.status;
    for (const r of windows) out[r.profile_uuid] = r.status;
    return out;
  }

  /** As if every profile had reached its host: every row verified. */
  async function allVerified() {
    await db().updateTable('host_mdm_apple_profiles').set({ status: 'verified' }).execute();
    await db().updateTable('host_mdm_apple_declarations').set({ status: 'verified' }).execute();
    await db().updateTable('host_mdm_windows_profiles').set({ status: 'verified' }).execute();
  }

  beforeAll(async () => {
    srv = server();
    admin = await setupAdmin(srv);
    await enableWindowsMdm(srv, enrollSecret);
    expect((await spec('first-value')).status).toBe(200);
    mac = await enrolledDevice(srv);
    pc = await enrolledWindowsPc(srv, enrollSecret);
    const uploads: [string, string, string][] = [
      ['appleUses', 'wifi.mobileconfig', appleProfile('com.x.wifi', 'Wi-Fi', '$FLEET_SECRET_WIFI_PASSWORD')],
      ['appleOther', 'dock.mobileconfig', appleProfile('com.x.dock', 'Dock', 'no secret')],
      [
        'declUses',
        'Decl.json',
        JSON.stringify({
          Type: 'com.apple.configuration.management.test',
          Identifier: 'com.x.decl',
          Payload: { Echo: '${FLEET_SECRET_WIFI_PASSWORD}' },
        }),
      ],
      ['windowsUses', 'WinUses.xml', windowsProfile('Browser/HomePages', '$FLEET_SECRET_WIFI_PASSWORD')],
      ['windowsOther', 'WinOther.xml', windowsProfile('Browser/ConfigureHomeButton', 'fixed')],
    ];
    for (const [key, name, bytes] of uploads) {
      const res = await uploadProfile(srv, admin, { name, bytes });
      expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(200);
      uuids[key] = res.body.profile_uuid;
    }
  });

  it('every profile is on its host before the change', async () => {
    await allVerified();
    const status = await hostStatus();
    for (const key of Object.keys(uuids)) expect(status[uuids[key]], key).toBe('verified');
  });

  it('moves secrets_updated_at (and the declaration token) of the users only, and marks their host rows pending', async () => {
    await allVerified();
    const before = await definitions();
    expect((await spec('second-value')).status).toBe(200);
    const after = await definitions();
    for (const key of ['appleUses', 'declUses', 'windowsUses']) {
      const was = before[uuids[key]].secrets_updated_at;
      const now = after[uuids[key]].secrets_updated_at;
      expect(now, key).not.toBeNull();
      if (was) expect(now! > was, key).toBe(true);
    }
    expect(after[uuids.declUses].token).not.toBe(before[uuids.declUses].token);
    expect(after[uuids.appleOther]).toEqual(before[uuids.appleOther]);
    expect(after[uuids.windowsOther]).toEqual(before[uuids.windowsOther]);

    const status = await hostStatus();
    expect(status[uuids.appleUses]).toBeNull();
    expect(status[uuids.declUses]).toBeNull();
    expect(status[uuids.windowsUses]).toBeNull();
    expect(status[uuids.appleOther]).toBe('verified');
    expect(status[uuids.windowsOther]).toBe('verified');
  });

  it('counts two changes in a row as two, and the same value as none', async () => {
    await allVerified();
    const first = await definitions();
    expect((await spec('third-value')).status).toBe(200);
    const second = await definitions();
    expect(second[uuids.appleUses].secrets_updated_at! > first[uuids.appleUses].secrets_updated_at!).toBe(
      true,
    );
    expect((await hostStatus())[uuids.windowsUses]).toBeNull();

    await allVerified();
    expect((await spec('third-value')).status).toBe(200);
    expect(await definitions()).toEqual(second);
    const status = await hostStatus();
    for (const key of Object.keys(uuids)) expect(status[uuids[key]], key).toBe('verified');
  });
});
