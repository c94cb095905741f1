import { beforeAll, expect, it } from 'vitest';
import { api, setupAdmin } from '../helpers/api.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm } from '../helpers/windowsDevice.js';

/** A .mobileconfig whose one payload carries `value` (where variables go). */
const appleProfile = (identifier: string, name: string, value: string) =>
  mobileconfig(identifier, name)
    .toString()
    .replace('<key>orientation</key><string>v1</string>', `<key>orientation</key><string>${value}</string>`);

/** A Windows profile setting one string policy to `value`. */
const windowsProfile = (value: string) =>
  '<Replace><Item><Meta><Format xmlns="syncml:metinf">chr</Format></Meta>' +
  '<Target><LocURI>./Device/Vendor/MSFT/Policy/Config/Browser/HomePages</LocURI></Target>' +
  `<Data>${value}</Data></Item></Replace>`;

const declaration = (identifier: string, value: string) =>
  JSON.stringify({
    Type: 'com.apple.configuration.management.test',
    Identifier: identifier,
    Payload: { Echo: value },
  });

/** Every table an upload writes, to show a refused upload changed nothing. */
async function state(srv: TestServer) {
  const { db } = srv.app.services.database;
  return {
    apple: await db
      .selectFrom('mdm_apple_configuration_profiles')
      .selectAll()
      .orderBy('profile_uuid')
      .execute(),
    declarations: await db
      .selectFrom('mdm_apple_declarations')
      .selectAll()
      .orderBy('declaration_uuid')
      .execute(),
    windows: await db
      .selectFrom('mdm_windows_configuration_profiles')
      .selectAll()
      .orderBy('profile_uuid')
      .execute(),
    android: await db
      .selectFrom('mdm_android_configuration_profiles')
      .selectAll()
      .orderBy('profile_uuid')
      .execute(),
    variables: await db.selectFrom('mdm_configuration_profile_variables').selectAll().orderBy('id').execute(),
    activities: await db.selectFrom('activities').selectAll().orderBy('id').execute(),
  };
}

/** The variables recorded for a profile, by Fleet's stored names. */
async function recorded(srv: TestServer, uuid: string): Promise<string[]> {
  const rows = await srv.app.services.database.db
    .selectFrom('mdm_configuration_profile_variables as pv')
    .innerJoin('fleet_variables as v', 'v.id', 'pv.fleet_variable_id')
    .select(['v.name', 'pv.apple_profile_uuid', 'pv.windows_profile_uuid'])
    .where((eb) => eb.or([eb('pv.apple_profile_uuid', '=', uuid), eb('pv.windows_profile_uuid', '=', uuid)]))
    .execute();
  return rows.map((r) => r.name).sort();
}

const error = (status: number, message: string, name: string, reason: string) => ({
  status,
  body: { message, errors: [{ name, reason }], uuid: expect.any(String) },
});
const missingSecret = (name: string) =>
  error(
    422,
    'Validation Failed',
    'profile',
    `Couldn't add. Secret variable "$FLEET_SECRET_${name}" missing from database`,
  );

describeEachDialect('profile uploads with Fleet variables and secrets', (server) => {
  let srv: TestServer;
  let admin = '';
  let teamId = 0;

  beforeAll(async () => {
    srv = server();
    admin = await setupAdmin(srv);
    teamId = await createTeam(srv, admin, 'Variables team');
    await enableWindowsMdm(srv, 'variables-enroll-secret');
    const res = await api(srv, 'POST', '/api/latest/fleet/custom_variables', {
      token: admin,
      body: { name: 'KNOWN', value: 'known-value' },
    });
    expect(res.status).toBe(200);
  });

  it("refuses unknown Fleet variables and missing secrets with Fleet's messages, storing nothing", async () => {
    const before = await state(srv);
    const cases: [string, string, { status: number; body: unknown }][] = [
      [
        'bozo.mobileconfig',
        appleProfile('com.x.bozo', 'Bozo', '$FLEET_VAR_BOZO'),
        error(
          400,
          'Bad request',
          'base',
          'Fleet variable $FLEET_VAR_BOZO is not supported in configuration profiles.',
        ),
      ],
      [
        'braced.mobileconfig',
        appleProfile('com.x.braced', 'Braced', '${FLEET_VAR_HOST_UUID_EXTRA}'),
        error(
          400,
          'Bad request',
          'base',
          'Fleet variable $FLEET_VAR_HOST_UUID_EXTRA is not supported in configuration profiles.',
        ),
      ],
      [
        'wincert.mobileconfig',
        appleProfile('com.x.wincert', 'WinCert', '$FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID'),
        error(
          400,
          'Bad request',
          'base',
          'Fleet variable $FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID is not supported in configuration profiles.',
        ),
      ],
      [
        'noca.mobileconfig',
        appleProfile('com.x.noca', 'NoCa', '$FLEET_VAR_CUSTOM_SCEP_PROXY_URL_NO_SUCH_CA'),
        error(
          400,
          'Bad request',
          'base',
          'Fleet variable $FLEET_VAR_CUSTOM_SCEP_PROXY_URL_NO_SUCH_CA does not exist.',
        ),
      ],
      [
        'secret.mobileconfig',
        appleProfile('com.x.secret', 'Secret', '$FLEET_SECRET_MISSING'),
        missingSecret('MISSING'),
      ],
      [
        'two.mobileconfig',
        appleProfile('com.x.two', 'Two', '${FLEET_SECRET_GONE_A}$FLEET_SECRET_KNOWN$FLEET_SECRET_GONE_B'),
        error(
          422,
          'Validation Failed',
          'profile',
          'Couldn\'t add. Secret variables "$FLEET_SECRET_GONE_A", "$FLEET_SECRET_GONE_B" missing from database',
        ),
      ],
      [
        'WinBozo.xml',
        windowsProfile('$FLEET_VAR_BOZO'),
        error(
          422,
          'Validation Failed',
          'profile',
          'Fleet variable $FLEET_VAR_BOZO is not supported in Windows profiles.',
        ),
      ],
      [
        'WinEmail.xml',
        windowsProfile('$FLEET_VAR_HOST_END_USER_EMAIL_IDP'),
        error(
          422,
          'Validation Failed',
          'profile',
          'Fleet variable $FLEET_VAR_HOST_END_USER_EMAIL_IDP is not supported in Windows profiles.',
        ),
      ],
      ['WinSecret.xml', windowsProfile('${FLEET_SECRET_NOPE}'), missingSecret('NOPE')],
      [
        'Decl.json',
        declaration('com.x.decl', '$FLEET_VAR_HOST_UUID'),
        error(
          400,
          'Bad request',
          'base',
          'Fleet variables ($FLEET_VAR_*) are not currently supported in DDM profiles',
        ),
      ],
      ['DeclSecret.json', declaration('com.x.decl2', '$FLEET_SECRET_NOPE'), missingSecret('NOPE')],
      [
        'Android.json',
        JSON.stringify({
          cameraDisabled: true,
          shortSupportMessage: { defaultMessage: '$FLEET_VAR_HOST_UUID' },
        }),
        error(
          422,
          'Validation Failed',
          'profile',
          "Couldn't add. Fleet variables ($FLEET_VAR_*) and secret variables ($FLEET_SECRET_*) aren't supported in Android configuration profiles.",
        ),
      ],
      [
        'AndroidSecret.json',
        JSON.stringify({
          cameraDisabled: true,
          shortSupportMessage: { defaultMessage: '$FLEET_SECRET_KNOWN' },
        }),
        error(
          422,
          'Validation Failed',
          'profile',
          "Couldn't add. Fleet variables ($FLEET_VAR_*) and secret variables ($FLEET_SECRET_*) aren't supported in Android configuration profiles.",
        ),
      ],
    ];
    for (const [name, bytes, want] of cases) {
      const res = await uploadProfile(srv, admin, { name, bytes });
      expect({ name, ...res }).toEqual({ name, ...want });
    }
    expect(await state(srv)).toEqual(before);
  });

  it('stores profiles with known variables and existing secrets, recording the variables they use', async () => {
    const apple = await uploadProfile(
      srv,
      admin,
      {
        name: 'ok.mobileconfig',
        bytes: appleProfile(
          'com.x.ok',
          'Uses variables',
          '$FLEET_VAR_HOST_HARDWARE_SERIAL ${FLEET_VAR_HOST_UUID} $FLEET_VAR_HOST_END_USER_IDP_USERNAME_LOCAL_PART ' +
            '$FLEET_VAR_HOST_END_USER_EMAIL_IDP $FLEET_SECRET_KNOWN $FLEET_VAR_HOST_UUID',
        ),
      },
      { team_id: String(teamId) },
    );
    expect(apple.status).toBe(200);
    expect(await recorded(srv, apple.body.profile_uuid)).toEqual([
      'FLEET_VAR_HOST_END_USER_EMAIL_IDP',
      'FLEET_VAR_HOST_END_USER_IDP_USERNAME_LOCAL_PART',
      'FLEET_VAR_HOST_HARDWARE_SERIAL',
      'FLEET_VAR_HOST_UUID',
    ]);
    // The stored profile keeps its placeholders: nothing is expanded at upload.
    const stored = await srv.app.services.database.db
      .selectFrom('mdm_apple_configuration_profiles')
      .select('mobileconfig')
      .where('profile_uuid', '=', apple.body.profile_uuid)
      .executeTakeFirstOrThrow();
    expect(Buffer.from(stored.mobileconfig).toString()).toContain('$FLEET_SECRET_KNOWN');

    const windows = await uploadProfile(
      srv,
      admin,
      { name: 'WinOk.xml', bytes: windowsProfile('$FLEET_VAR_HOST_UUID-${FLEET_SECRET_KNOWN}') },
      { team_id: String(teamId) },
    );
    expect(windows.status).toBe(200);
    expect(await recorded(srv, windows.body.profile_uuid)).toEqual(['FLEET_VAR_HOST_UUID']);

    const decl = await uploadProfile(srv, admin, {
      name: 'DeclOk.json',
      bytes: declaration('com.x.declok', '$FLEET_SECRET_KNOWN'),
    });
    expect(decl.status).toBe(200);

    const plain = await uploadProfile(srv, admin, {
      name: 'plain.mobileconfig',
      bytes: appleProfile('com.x.plain', 'Plain', 'no variables here'),
    });
    expect(plain.status).toBe(200);
    expect(await recorded(srv, plain.body.profile_uuid)).toEqual([]);

    // Deleting a profile deletes its rows.
    const del = await api(
      srv,
      'DELETE',
      `/api/latest/fleet/configuration_profiles/${windows.body.profile_uuid}`,
      {
        token: admin,
      },
    );
    expect(del.status).toBe(200);
    expect(await recorded(srv, windows.body.profile_uuid)).toEqual([]);
  });

  it('checks every batch item the same way (one bad item refuses all) and records the set', async () => {
    const batch = (profiles: { name: string; contents: string }[], dryRun = false) =>
      api(srv, 'POST', `/api/latest/fleet/configuration_profiles/batch?team_id=${teamId}&dry_run=${dryRun}`, {
        token: admin,
        body: { profiles },
      });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const good = {
      name: 'Serial',
      contents: b64(appleProfile('com.x.batch', 'Serial', '$FLEET_VAR_HOST_HARDWARE_SERIAL')),
    };
    const win = {
      name: 'WinBatch',
      contents: b64(windowsProfile('${FLEET_VAR_HOST_END_USER_IDP_USERNAME}')),
    };
    const before = await state(srv);
    expect(
      await batch([
        good,
        { name: 'Bozo', contents: b64(appleProfile('com.x.b', 'Bozo', '$FLEET_VAR_BOZO')) },
      ]),
    ).toMatchObject(
      error(
        400,
        'Bad request',
        'profiles[1]',
        'Bozo: Fleet variable $FLEET_VAR_BOZO is not supported in configuration profiles.',
      ),
    );
    expect(
      await batch([good, { name: 'WinSecret', contents: b64(windowsProfile('$FLEET_SECRET_NOPE')) }]),
    ).toMatchObject(
      error(
        422,
        'Validation Failed',
        'profiles[1]',
        'WinSecret: Couldn\'t add. Secret variable "$FLEET_SECRET_NOPE" missing from database',
      ),
    );
    expect((await batch([good, win], true)).status).toBe(204);
    expect(await state(srv)).toEqual(before);

    expect((await batch([good, win])).status).toBe(204);
    const { db } = srv.app.services.database;
    const team = async () => ({
      apple: await db
        .selectFrom('mdm_apple_configuration_profiles')
        .select(['profile_uuid', 'name'])
        .where('team_id', '=', teamId)
        .execute(),
      windows: await db
        .selectFrom('mdm_windows_configuration_profiles')
        .select(['profile_uuid', 'name'])
        .where('team_id', '=', teamId)
        .execute(),
    });
    const set = await team();
    expect(set.apple.map((p) => p.name)).toEqual(['Serial']);
    expect(await recorded(srv, set.apple[0].profile_uuid)).toEqual(['FLEET_VAR_HOST_HARDWARE_SERIAL']);
    expect(await recorded(srv, set.windows[0].profile_uuid)).toEqual([
      'FLEET_VAR_HOST_END_USER_IDP_USERNAME',
    ]);

    // The same names without variables: the rows go; an empty set deletes the profiles and theirs.
    const plainGood = { name: 'Serial', contents: b64(appleProfile('com.x.batch', 'Serial', 'fixed')) };
    expect((await batch([plainGood, win])).status).toBe(204);
    expect(await recorded(srv, set.apple[0].profile_uuid)).toEqual([]);
    expect(await recorded(srv, set.windows[0].profile_uuid)).toEqual([
      'FLEET_VAR_HOST_END_USER_IDP_USERNAME',
    ]);
    expect((await batch([])).status).toBe(204);
    expect(await recorded(srv, set.windows[0].profile_uuid)).toEqual([]);
  });
});
