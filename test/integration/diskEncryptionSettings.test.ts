import { beforeAll, expect, it } from 'vitest';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { api, setupAdmin, type ApiResponse } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { tokenForRole } from '../helpers/appleSeed.js';
import { activitiesOf, appleMdmOn, diskEncryptionTables, snapshot } from '../helpers/diskEncryption.js';
import { appleHostRows, converge, mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect } from '../helpers/testServer.js';

const fvIdentifier = 'com.fleetdm.fleet.mdm.filevault';

/**
 * The disk-encryption setting through every way Fleet offers to change it (POST /disk_encryption,
 * the older PATCH /mdm/apple/settings, PATCH /config, PATCH /teams/:id), and every refusal: exact
 * status and body, and nothing stored.
 */
describeEachDialect('disk encryption: settings and refusals', (server) => {
  let admin = '';
  let teamId = 0;
  let mac: SimulatedAppleDevice;
  let phone: SimulatedAppleDevice;

  const definitions = async () =>
    (
      await server()
        .app.services.database.db.selectFrom('mdm_apple_configuration_profiles')
        .select(['team_id', 'identifier'])
        .where('identifier', '=', fvIdentifier)
        .orderBy('team_id')
        .execute()
    ).map((r) => Number(r.team_id));
  const post = (body: unknown, token = admin, path = '/api/latest/fleet/disk_encryption', method = 'POST') =>
    api(server(), method, path, { token, body });

  // An admin, a team with a Mac and an iPhone in it, a Mac in no team, Apple MDM on.
  beforeAll(async () => {
    const srv = server();
    admin = await setupAdmin(srv);
    await appleMdmOn(srv);
    teamId = (await api(srv, 'POST', '/api/latest/fleet/teams', { token: admin, body: { name: 'Eng' } })).body
      .team.id;
    mac = await enrolledDevice(srv);
    phone = await enrolledDevice(srv, { platform: 'ios' });
    const ids = [];
    for (const d of [mac, phone]) ids.push((await srv.app.services.hostStore.findByUuid(d.udid))!.id);
    await api(srv, 'POST', '/api/latest/fleet/hosts/transfer', {
      token: admin,
      body: { team_id: teamId, hosts: ids },
    });
    await enrolledDevice(srv); // a Mac in no team
  });

  it('POST /disk_encryption, PATCH /config and PATCH /teams/:id turn it on and off alike', async () => {
    const srv = server();
    const before = (await activitiesOf(srv, 'enabled_macos_disk_encryption')).length;
    // No team: POST without team_id.
    expect((await post({ enable_disk_encryption: true })).status).toBe(204);
    expect(await definitions()).toEqual([0]);
    const cfg = await api(srv, 'GET', '/api/latest/fleet/config', { token: admin });
    expect(cfg.body.mdm.enable_disk_encryption).toBe(true);
    expect((await activitiesOf(srv, 'enabled_macos_disk_encryption'))[0].details).toEqual({
      team_id: null,
      team_name: null,
    });
    // The same value again changes nothing and records nothing.
    expect((await post({ team_id: null, enable_disk_encryption: true })).status).toBe(204);
    expect((await activitiesOf(srv, 'enabled_macos_disk_encryption')).length).toBe(before + 1);

    // PATCH /config off, then on through the legacy key.
    let res = await api(srv, 'PATCH', '/api/latest/fleet/config', {
      token: admin,
      body: { mdm: { enable_disk_encryption: false } },
    });
    expect(res.status).toBe(200);
    expect(await definitions()).toEqual([]);
    expect((await activitiesOf(srv, 'disabled_macos_disk_encryption'))[0].details).toEqual({
      team_id: null,
      team_name: null,
    });
    res = await api(srv, 'PATCH', '/api/latest/fleet/config', {
      token: admin,
      body: { mdm: { macos_settings: { enable_disk_encryption: true } } },
    });
    expect(res.status).toBe(200);
    expect(await definitions()).toEqual([0]);

    // PATCH /teams/:id on and off.
    res = await api(srv, 'PATCH', `/api/latest/fleet/teams/${teamId}`, {
      token: admin,
      body: { mdm: { enable_disk_encryption: true } },
    });
    expect(res.status).toBe(200);
    expect(res.body.team.mdm.enable_disk_encryption).toBe(true);
    expect(await definitions()).toEqual([0, teamId]);
    expect((await activitiesOf(srv, 'enabled_macos_disk_encryption'))[0].details).toEqual({
      team_id: teamId,
      team_name: 'Eng',
    });
    res = await api(srv, 'PATCH', `/api/latest/fleet/teams/${teamId}`, {
      token: admin,
      body: { mdm: { enable_disk_encryption: false } },
    });
    expect(res.status).toBe(200);
    expect(await definitions()).toEqual([0]);

    // Fleet's older endpoint: only what it is given changes.
    expect(
      (
        await post(
          { team_id: teamId, enable_disk_encryption: true },
          admin,
          '/api/latest/fleet/mdm/apple/settings',
          'PATCH',
        )
      ).status,
    ).toBe(204);
    expect(await definitions()).toEqual([0, teamId]);
    expect(
      (await post({ team_id: teamId }, admin, '/api/latest/fleet/mdm/apple/settings', 'PATCH')).status,
    ).toBe(204);
    expect(await definitions()).toEqual([0, teamId]);
    // Team maintainers may change their team's setting.
    const maintainer = await tokenForRole(srv.app.services, null, [{ teamId, role: 'maintainer' }]);
    expect((await post({ team_id: teamId, enable_disk_encryption: false }, maintainer)).status).toBe(204);
    expect(await definitions()).toEqual([0]);
  });

  it('the FileVault profile reaches the team’s Macs but never its iPhones', async () => {
    const srv = server();
    expect((await post({ team_id: teamId, enable_disk_encryption: true })).status).toBe(204);
    await converge(srv, [mac, phone]);
    expect(mac.profiles.has(fvIdentifier)).toBe(true);
    expect(phone.profiles.has(fvIdentifier)).toBe(false);
    expect((await appleHostRows(srv, phone.udid)).map((r) => r.profile_identifier)).not.toContain(
      fvIdentifier,
    );
    // The hourly job keeps the profiles in line and changes nothing more.
    await srv.app.services.diskEncryption.verifyKeys();
    expect(await definitions()).toContain(teamId);
  });

  it('refuses bad requests with Fleet’s status and body, and stores nothing', async () => {
    const srv = server();
    const s = srv.app.services;
    const observer = await tokenForRole(s, 'observer');
    const teamAdmin = await tokenForRole(s, null, [{ teamId, role: 'admin' }]);
    const otherTeam = (
      await api(srv, 'POST', '/api/latest/fleet/teams', { token: admin, body: { name: 'Ops' } })
    ).body.team.id;
    // Disk encryption on for hosts in no team (the PIN rule below refuses to turn it off).
    expect((await post({ enable_disk_encryption: true })).status).toBe(204);
    const before = await snapshot(srv, diskEncryptionTables);

    const cases: { req: () => Promise<ApiResponse>; status: number; body: unknown }[] = [
      {
        req: () => post({ enable_disk_encryption: 'yes' }),
        status: 400,
        body: {
          message: 'Bad request',
          errors: [{ name: 'enable_disk_encryption', reason: expect.any(String) }],
        },
      },
      {
        req: () => post({ team_id: -1, enable_disk_encryption: true }),
        status: 400,
        body: { message: 'Bad request', errors: [{ name: 'team_id', reason: expect.any(String) }] },
      },
      {
        req: () => post({ team_id: '1', enable_disk_encryption: true }),
        status: 400,
        body: { message: 'Bad request', errors: [{ name: 'team_id', reason: expect.any(String) }] },
      },
      {
        req: () =>
          api(srv, 'POST', '/api/latest/fleet/disk_encryption', {
            token: admin,
            rawBody: '{"enable_disk_encryption": tr',
            headers: { 'content-type': 'application/json' },
          }),
        status: 400,
        body: { message: 'Bad request', errors: [{ name: 'base', reason: expect.any(String) }] },
      },
      {
        req: () => post({ team_id: 99999, enable_disk_encryption: true }),
        status: 404,
        body: {
          message: 'Resource Not Found',
          errors: [{ name: 'base', reason: 'Team was not found in the datastore' }],
        },
      },
      {
        req: () => post({ enable_disk_encryption: false, windows_require_bitlocker_pin: true }),
        status: 422,
        body: {
          message: 'Validation Failed',
          errors: [
            {
              name: 'enable_disk_encryption',
              reason:
                "Couldn't disable disk encryption, you need to disable the BitLocker PIN requirement first.",
            },
          ],
        },
      },
      {
        req: () =>
          post({ team_id: otherTeam, enable_disk_encryption: false, windows_require_bitlocker_pin: true }),
        status: 422,
        body: {
          message: 'Validation Failed',
          errors: [
            {
              name: 'windows_require_bitlocker_pin',
              reason: "Couldn't enable BitLocker PIN requirement, you must enable disk encryption first.",
            },
          ],
        },
      },
      {
        req: () =>
          api(srv, 'PATCH', `/api/latest/fleet/teams/${otherTeam}`, {
            token: admin,
            body: { mdm: { windows_require_bitlocker_pin: true } },
          }),
        status: 422,
        body: {
          message: 'Validation Failed',
          errors: [{ name: 'windows_require_bitlocker_pin', reason: expect.any(String) }],
        },
      },
      {
        req: () => post({ enable_disk_encryption: false }, observer),
        status: 403,
        body: { message: 'forbidden' },
      },
      {
        req: () => post({ team_id: otherTeam, enable_disk_encryption: true }, teamAdmin),
        status: 403,
        body: { message: 'forbidden' },
      },
      {
        req: () => post({ enable_disk_encryption: false }, teamAdmin),
        status: 403,
        body: { message: 'forbidden' },
      },
      {
        req: () => post({ enable_disk_encryption: true }, ''),
        status: 401,
        body: { message: 'Authentication Failed' },
      },
      {
        req: () => api(srv, 'GET', '/api/latest/fleet/disk_encryption?team_id=abc', { token: admin }),
        status: 400,
        body: { message: 'Bad request', errors: [{ name: 'team_id', reason: expect.any(String) }] },
      },
      {
        req: () => api(srv, 'GET', '/api/latest/fleet/disk_encryption?team_id=99999', { token: admin }),
        status: 404,
        body: { message: 'Resource Not Found' },
      },
      {
        req: () =>
          api(srv, 'GET', `/api/latest/fleet/disk_encryption?team_id=${otherTeam}`, { token: teamAdmin }),
        status: 403,
        body: { message: 'forbidden' },
      },
      {
        req: () => api(srv, 'GET', '/api/latest/fleet/hosts/abc/encryption_key', { token: admin }),
        status: 400,
        body: { message: 'Bad request', errors: [{ name: 'id', reason: expect.any(String) }] },
      },
      {
        req: () => api(srv, 'GET', '/api/latest/fleet/hosts/999999/encryption_key', { token: admin }),
        status: 404,
        body: { message: 'Resource Not Found' },
      },
    ];
    for (const [i, c] of cases.entries()) {
      const res = await c.req();
      expect(res.status, `case ${i}`).toBe(c.status);
      expect(res.body, `case ${i}`).toMatchObject(c.body as object);
      expect(typeof res.body.uuid, `case ${i}`).toBe('string');
    }

    // Custom profiles may not carry FileVault settings (Fleet's messages), whatever the payload.
    const fileVault =
      "Couldn't add. The configuration profile can't include FileVault settings. To control these settings use disk encryption endpoint.";
    for (const [type, reason] of [
      ['com.apple.MCX.FileVault2', fileVault],
      ['com.apple.security.FDERecoveryKeyEscrow', fileVault],
      [
        'com.apple.security.FDERecoveryRedirect',
        'unsupported PayloadType(s): com.apple.security.FDERecoveryRedirect',
      ],
    ]) {
      const up = await uploadProfile(srv, admin, {
        name: 'fv.mobileconfig',
        bytes: mobileconfig('com.x.fv', 'FV', type),
      });
      expect(up.status).toBe(422);
      expect(up.body.errors[0].reason).toBe(reason);
    }
    const options = Buffer.from(
      mobileconfig('com.x.mcx', 'MCX', 'com.apple.MCX')
        .toString()
        .replace('<key>orientation</key>', '<key>dontAllowFDEDisable</key><true/><key>orientation</key>'),
    );
    const up = await uploadProfile(srv, admin, { name: 'mcx.mobileconfig', bytes: options });
    expect(up.status).toBe(422);
    expect(up.body.errors[0].reason).toBe(fileVault);

    expect(await snapshot(srv, diskEncryptionTables)).toBe(before);
  });
});
