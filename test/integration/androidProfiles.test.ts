import { afterAll, beforeAll, expect, it } from 'vitest';
import { startAmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { androidTestConfig, bindEnterprise } from '../helpers/android.js';
import { api, setupAdmin } from '../helpers/api.js';
import { mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const standIn = await startAmapiStandIn();
afterAll(() => standIn.close());

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const profilesPath = '/api/latest/fleet/configuration_profiles';
const SAME_NAME =
  "Couldn't add. A configuration profile with this name already exists (PayloadDisplayName for .mobileconfig and file name for .json and .xml).";
const MIXED_KEYS =
  "Couldn't add. Keys in declaration (DDM) profile must contain only letters and start with a uppercase letter. Keys in Android profile must contain only letters and start with a lowercase letter.";
const NOT_OBJECT = "Couldn't add. Android configuration profile should be a JSON object.";
const MDM_OFF = "Couldn't add. Android MDM isn't turned on.";

/** Every stored profile of every platform, and the Android label rows: what a refused upload must not change. */
async function stored(srv: TestServer) {
  const { db } = srv.app.services.database;
  return {
    android: await db
      .selectFrom('mdm_android_configuration_profiles')
      .selectAll()
      .orderBy('profile_uuid')
      .execute(),
    declarations: await db.selectFrom('mdm_apple_declarations').select('declaration_uuid').execute(),
    apple: await db.selectFrom('mdm_apple_configuration_profiles').select('profile_uuid').execute(),
    windows: await db.selectFrom('mdm_windows_configuration_profiles').select('profile_uuid').execute(),
    labels: await db
      .selectFrom('mdm_configuration_profile_labels')
      .selectAll()
      .where('android_profile_uuid', 'is not', null)
      .execute(),
  };
}

async function lastActivity(srv: TestServer) {
  const row = await srv.app.services.database.db
    .selectFrom('activities')
    .select(['activity_type', 'details'])
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  return { type: row.activity_type, details: JSON.parse(String(row.details)) as Record<string, unknown> };
}

describeEachDialect(
  'Android configuration profiles: upload, list, download, delete, batch',
  (server) => {
    let admin = '';
    beforeAll(async () => {
      admin = await setupAdmin(server());
      await bindEnterprise(server(), standIn, admin);
    });

    it('refuses bad Android uploads with the exact 422 and stores nothing', async () => {
      const srv = server();
      const teamId = await createTeam(srv, admin, 'Bad uploads');
      const before = await stored(srv);
      const cases: [string, Buffer, string][] = [
        ['list.json', json([{ cameraDisabled: true }]), NOT_OBJECT],
        ['scalar.json', json('cameraDisabled'), NOT_OBJECT],
        ['null.json', Buffer.from('null'), NOT_OBJECT],
        ['empty.json', Buffer.from(' { } '), "Couldn't add. Android configuration profile can't be empty."],
        [
          'status.json',
          json({ cameraDisabled: true, statusReportingSettings: { memoryInfoEnabled: false } }),
          'Android configuration profile can\'t include "statusReportingSettings" setting. The server sets it on every host (status reports feed host vitals and profile verification).',
        ],
        [
          'apps.json',
          json({ applications: [{ packageName: 'com.android.chrome', installType: 'FORCE_INSTALLED' }] }),
          'Android configuration profile can\'t include "applications" setting. Software management is coming soon.',
        ],
        [
          'store.json',
          json({ playStoreMode: 'BLOCKLIST' }),
          'Android configuration profile can\'t include "playStoreMode" setting. Software management is coming soon.',
        ],
        [
          'named.json',
          json({ name: 'enterprises/LC1/policies/other', cameraDisabled: true }),
          "Android configuration profile can't include \"name\" setting. It's the policy resource's own field, set by Google.",
        ],
        [
          'version.json',
          json({ version: '7' }),
          "Android configuration profile can't include \"version\" setting. It's the policy resource's own field, set by Google.",
        ],
        ['mixed.json', json({ cameraDisabled: true, Payload: {} }), MIXED_KEYS],
        ['snake.json', json({ camera_disabled: true }), MIXED_KEYS],
        ['blank.json', json({ '': true }), MIXED_KEYS],
        [
          'broken.json',
          Buffer.from('{"cameraDisabled":'),
          "Couldn't add. The file should include valid JSON.",
        ],
      ];
      for (const [name, bytes, reason] of cases) {
        const res = await uploadProfile(srv, admin, { name, bytes }, { team_id: String(teamId) });
        expect({
          name,
          status: res.status,
          body: { message: res.body.message, errors: res.body.errors },
        }).toEqual({
          name,
          status: 422,
          body: { message: 'Validation Failed', errors: [{ name: 'profile', reason }] },
        });
      }
      // Labels are checked after the file: an unknown label refuses a good profile too.
      const unknownLabel = await uploadProfile(
        srv,
        admin,
        { name: 'Fine.json', bytes: json({ cameraDisabled: true }) },
        { team_id: String(teamId), labels_include_any: 'No such label' },
      );
      expect(unknownLabel.status).toBe(400);
      expect(unknownLabel.body.errors).toEqual([
        { name: 'labels', reason: 'Couldn\'t update. Labels don\'t exist: "No such label".' },
      ]);
      expect(await stored(srv)).toEqual(before);
    });

    it('sends a .json DDM declaration to Apple and an AMAPI fragment to Android', async () => {
      const srv = server();
      const teamId = await createTeam(srv, admin, 'Json routing');
      const declaration = await uploadProfile(
        srv,
        admin,
        {
          name: 'Passcode.json',
          bytes: json({
            Type: 'com.apple.configuration.passcode.settings',
            Identifier: 'com.example.passcode',
            Payload: { MinimumLength: 6 },
          }),
        },
        { team_id: String(teamId) },
      );
      expect(declaration.status).toBe(200);
      expect(declaration.body.profile_uuid).toMatch(/^d/);
      const android = await uploadProfile(
        srv,
        admin,
        { name: 'Camera.json', bytes: json({ cameraDisabled: true }) },
        { team_id: String(teamId) },
      );
      expect(android.status).toBe(200);
      expect(android.body.profile_uuid).toMatch(/^g[0-9a-f-]{36}$/);
      // Capitalised keys without a declaration's shape are still Apple's to refuse, as before.
      const notDeclaration = await uploadProfile(
        srv,
        admin,
        { name: 'Odd.json', bytes: json({ Identifier: 'x' }) },
        { team_id: String(teamId) },
      );
      expect(notDeclaration.status).toBe(422);
      expect(notDeclaration.body.errors).toEqual([
        { name: 'profile', reason: 'Couldn\'t add. The declaration must include "Type".' },
      ]);
      const list = await api(srv, 'GET', `${profilesPath}?team_id=${teamId}`, { token: admin });
      expect(list.status).toBe(200);
      expect(list.body.profiles.map((p: { name: string; platform: string }) => [p.name, p.platform])).toEqual(
        [
          ['Camera', 'android'],
          ['Passcode', 'darwin'],
        ],
      );
      // JSON in an .xml file stays Windows' to judge (Windows MDM is off on this server).
      const xml = await uploadProfile(srv, admin, { name: 'w.xml', bytes: json({ cameraDisabled: true }) });
      expect(xml.status).toBe(400);
      expect(xml.body.errors).toEqual([
        { name: 'profile', reason: "Couldn't add. Windows MDM isn't turned on." },
      ]);
      // An unknown extension names each accepted one once, though two platforms take .json.
      const txt = await uploadProfile(srv, admin, { name: 'x.txt', bytes: json({ cameraDisabled: true }) });
      expect(txt.status).toBe(400);
      expect(txt.body.errors).toEqual([
        { name: 'profile', reason: "Couldn't add. The file should be a .mobileconfig, .json, or .xml file." },
      ]);
    });

    it('keeps names unique across platforms within a team, and lets another team reuse one', async () => {
      const srv = server();
      const teamId = await createTeam(srv, admin, 'Unique names');
      const otherTeam = await createTeam(srv, admin, 'Unique names 2');
      const first = await uploadProfile(
        srv,
        admin,
        { name: 'Restrictions.json', bytes: json({ cameraDisabled: true }) },
        { team_id: String(teamId) },
      );
      expect(first.status).toBe(200);
      const before = await stored(srv);
      const again = await uploadProfile(
        srv,
        admin,
        { name: 'Restrictions.json', bytes: json({ bluetoothDisabled: true }) },
        { team_id: String(teamId) },
      );
      const apple = await uploadProfile(
        srv,
        admin,
        { name: 'r.mobileconfig', bytes: mobileconfig('com.example.restrictions', 'Restrictions') },
        { team_id: String(teamId) },
      );
      for (const res of [again, apple]) {
        expect(res.status).toBe(409);
        expect(res.body.errors).toEqual([{ name: 'profile', reason: SAME_NAME }]);
      }
      expect(await stored(srv)).toEqual(before);
      const elsewhere = await uploadProfile(
        srv,
        admin,
        { name: 'Restrictions.json', bytes: json({ bluetoothDisabled: true }) },
        { team_id: String(otherTeam) },
      );
      expect(elsewhere.status).toBe(200);
    });

    it('lists, downloads and deletes an Android profile, with its labels and activities', async () => {
      const srv = server();
      const teamId = await createTeam(srv, admin, 'Lifecycle');
      const label = await api(srv, 'POST', '/api/latest/fleet/labels', {
        token: admin,
        body: { name: 'Lifecycle phones', hosts: [] },
      });
      expect(label.status).toBe(200);
      const raw = '{\n  "cameraDisabled": true,\n  "screenCaptureDisabled": true\n}\n';
      const up = await uploadProfile(
        srv,
        admin,
        { name: 'Lockdown.json', bytes: raw },
        { team_id: String(teamId), labels_exclude_any: 'Lifecycle phones' },
      );
      expect(up.status).toBe(200);
      const uuid = up.body.profile_uuid as string;
      expect(await lastActivity(srv)).toEqual({
        type: 'created_android_profile',
        details: { profile_name: 'Lockdown', team_id: teamId, team_name: 'Lifecycle' },
      });
      const row = await srv.app.services.database.db
        .selectFrom('mdm_android_configuration_profiles')
        .selectAll()
        .where('profile_uuid', '=', uuid)
        .executeTakeFirstOrThrow();
      const checksum = Buffer.from(row.checksum, 'hex').toString('base64');
      const expected = {
        profile_uuid: uuid,
        team_id: teamId,
        name: 'Lockdown',
        platform: 'android',
        identifier: '',
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        checksum,
        scope: '',
        labels_exclude_any: [{ name: 'Lifecycle phones', id: label.body.label.id }],
      };
      const list = await api(srv, 'GET', `${profilesPath}?team_id=${teamId}`, { token: admin });
      expect(list.status).toBe(200);
      expect(list.body.profiles).toEqual([expected]);
      const one = await api(srv, 'GET', `${profilesPath}/${uuid}`, { token: admin });
      expect(one.status).toBe(200);
      expect(one.body).toEqual(expected);
      const file = await fetch(`${srv.url}${profilesPath}/${uuid}?alt=media`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(file.status).toBe(200);
      expect(file.headers.get('content-type')).toMatch(/^application\/json/);
      expect(file.headers.get('content-disposition')).toContain('Lockdown.json');
      expect(await file.text()).toBe(raw);

      const del = await api(srv, 'DELETE', `${profilesPath}/${uuid}`, { token: admin });
      expect(del.status).toBe(200);
      expect(await lastActivity(srv)).toEqual({
        type: 'deleted_android_profile',
        details: { profile_name: 'Lockdown', team_id: teamId, team_name: 'Lifecycle' },
      });
      expect((await api(srv, 'GET', `${profilesPath}/${uuid}`, { token: admin })).status).toBe(404);
      expect((await api(srv, 'DELETE', `${profilesPath}/${uuid}`, { token: admin })).status).toBe(404);
      const labelRows = await srv.app.services.database.db
        .selectFrom('mdm_configuration_profile_labels')
        .selectAll()
        .where('android_profile_uuid', '=', uuid)
        .execute();
      expect(labelRows).toEqual([]);
    });

    it('batch: adds, edits in place and removes Android profiles; one bad item refuses the whole batch', async () => {
      const srv = server();
      const teamId = await createTeam(srv, admin, 'Batch');
      const path = `${profilesPath}/batch?team_id=${teamId}`;
      const item = (name: string, v: unknown) => ({ name, profile: json(v).toString('base64') });
      const first = await api(srv, 'POST', path, {
        token: admin,
        body: {
          profiles: [
            item('Camera.json', { cameraDisabled: true }),
            item('Wifi', { wifiConfigDisabled: true }),
          ],
        },
      });
      expect(first.status).toBe(204);
      const list = async () =>
        (await api(srv, 'GET', `${profilesPath}?team_id=${teamId}`, { token: admin })).body.profiles as {
          profile_uuid: string;
          name: string;
          checksum: string;
        }[];
      const v1 = await list();
      expect(v1.map((p) => p.name)).toEqual(['Camera', 'Wifi']);
      expect(await lastActivity(srv)).toEqual({
        type: 'edited_android_profile',
        details: { team_id: teamId, team_name: 'Batch' },
      });

      const before = await stored(srv);
      const refused = await api(srv, 'POST', path, {
        token: admin,
        body: {
          profiles: [item('Camera.json', { cameraDisabled: false }), item('Bad.json', { applications: [] })],
        },
      });
      expect(refused.status).toBe(422);
      expect(refused.body.errors).toEqual([
        {
          name: 'profiles[1]',
          reason:
            'Bad.json: Android configuration profile can\'t include "applications" setting. Software management is coming soon.',
        },
      ]);
      expect(await stored(srv)).toEqual(before);

      const second = await api(srv, 'POST', path, {
        token: admin,
        body: { profiles: [item('Camera.json', { cameraDisabled: false })] },
      });
      expect(second.status).toBe(204);
      const v2 = await list();
      expect(v2.map((p) => p.name)).toEqual(['Camera']);
      // Edited in place: same UUID, new content.
      expect(v2[0].profile_uuid).toBe(v1[0].profile_uuid);
      expect(v2[0].checksum).not.toBe(v1[0].checksum);
    });
  },
  androidTestConfig(standIn),
);

describeEachDialect(
  'Android configuration profiles while Android MDM is off',
  (server) => {
    let admin = '';
    beforeAll(async () => {
      admin = await setupAdmin(server());
    });

    it('refuses uploads with 400 and stores nothing; a GitOps batch that turns it on may assume it is on', async () => {
      const srv = server();
      const before = await stored(srv);
      const res = await uploadProfile(srv, admin, {
        name: 'Camera.json',
        bytes: json({ cameraDisabled: true }),
      });
      expect(res.status).toBe(400);
      expect({ message: res.body.message, errors: res.body.errors }).toEqual({
        message: 'Bad request',
        errors: [{ name: 'profile', reason: MDM_OFF }],
      });
      const item = { name: 'Camera.json', profile: json({ cameraDisabled: true }).toString('base64') };
      const batch = await api(srv, 'POST', `${profilesPath}/batch`, {
        token: admin,
        body: { profiles: [item] },
      });
      expect(batch.status).toBe(400);
      expect(batch.body.errors).toEqual([{ name: 'profiles[0]', reason: `Camera.json: ${MDM_OFF}` }]);
      expect(await stored(srv)).toEqual(before);

      const assumed = await api(srv, 'POST', `${profilesPath}/batch?assume_enabled=true`, {
        token: admin,
        body: { profiles: [item] },
      });
      expect(assumed.status).toBe(204);
      const rows = await srv.app.services.database.db
        .selectFrom('mdm_android_configuration_profiles')
        .select(['name', 'team_id', 'raw_json'])
        .execute();
      expect(rows).toEqual([{ name: 'Camera', team_id: 0, raw_json: '{"cameraDisabled":true}' }]);
      // The manager has nothing to do without an enterprise: no Google call.
      const calls = standIn.requests.length;
      expect(await srv.app.services.android.profiles.manager.tick()).toMatchObject({ hosts: 0, done: true });
      expect(standIn.requests.length).toBe(calls);
    });
  },
  androidTestConfig(standIn),
);
