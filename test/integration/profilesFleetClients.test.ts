import { beforeAll, expect, it } from 'vitest';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { mobileconfig } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const windowsProfile = (uri: string) =>
  `<Replace><Item><Target><LocURI>${uri}</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>1</Data></Item></Replace>`;

/** Every profile definition row, to show a refused or dry-run batch changed nothing. */
async function definitions(srv: TestServer): Promise<string> {
  const { db } = srv.app.services.database;
  return JSON.stringify([
    await db
      .selectFrom('mdm_apple_configuration_profiles')
      .select(['profile_uuid', 'name', 'team_id'])
      .execute(),
    await db
      .selectFrom('mdm_windows_configuration_profiles')
      .select(['profile_uuid', 'name', 'team_id'])
      .execute(),
    await db.selectFrom('mdm_configuration_profile_labels').selectAll().execute(),
  ]);
}

describeEachDialect("configuration profiles as Fleet's clients send them", (server) => {
  let token: string;
  let teamId: number;
  const teamName = 'GitOps Team';

  beforeAll(async () => {
    const srv = server();
    token = await setupAdmin(srv);
    const team = await api(srv, 'POST', '/api/latest/fleet/teams', { token, body: { name: teamName } });
    expect(team.status).toBe(200);
    teamId = team.body.team.id;
    const label = await api(srv, 'POST', '/api/latest/fleet/labels', {
      token,
      body: { name: 'Engineering', label_membership_type: 'manual', hosts: [] },
    });
    expect(label.status).toBe(200);
  });

  const batch = (query: string, body: unknown) =>
    api(server(), 'POST', `/api/latest/fleet/configuration_profiles/batch?${query}`, { token, body });

  it('applies a GitOps batch from the docs: contents in base64, team_name, labels, unknown fields ignored', async () => {
    const srv = server();
    // GitOps sends assume_enabled when the same config turns Windows MDM on.
    const res = await batch(`team_name=${encodeURIComponent(teamName)}&dry_run=false&assume_enabled=true`, {
      profiles: [
        {
          name: 'Dock',
          contents: b64(mobileconfig('com.example.dock', 'Dock')),
          labels_include_any: ['Engineering'],
          secrets_updated_at: null,
        },
        { name: 'Remote Desktop', contents: b64(windowsProfile('./Device/Vendor/MSFT/Policy/Config/A/B')) },
      ],
    });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    const list = await api(srv, 'GET', `/api/latest/fleet/configuration_profiles?team_id=${teamId}`, {
      token,
    });
    expect(list.status).toBe(200);
    expect(list.body.profiles.map((p: { name: string; platform: string }) => [p.name, p.platform])).toEqual([
      ['Dock', 'darwin'],
      ['Remote Desktop', 'windows'],
    ]);
    expect(list.body.profiles[0].labels_include_any).toEqual([
      { name: 'Engineering', id: expect.any(Number) },
    ]);
    // The older /mdm/profiles paths answer the same.
    const old = await api(srv, 'GET', `/api/latest/fleet/mdm/profiles?team_id=${teamId}`, { token });
    expect(old.body).toEqual(list.body);
  });

  it('takes the legacy {"<name>": "<base64>"} map and the older `profile` field', async () => {
    const srv = server();
    const legacy = await batch(`team_id=${teamId}`, {
      profiles: { Legacy: b64(mobileconfig('com.example.legacy', 'Legacy')) },
    });
    expect(legacy.status).toBe(204);
    const older = await batch(`team_id=${teamId}`, {
      profiles: [{ name: 'Older', profile: b64(mobileconfig('com.example.older', 'Older')) }],
    });
    expect(older.status).toBe(204);
    const names = (await srv.app.services.profiles.list(teamId, {})).profiles.map((p) => p.name);
    expect(names).toEqual(['Older']);
  });

  it('dry_run validates without storing; assume_enabled lets Windows profiles through while Windows MDM is off', async () => {
    const srv = server();
    const before = await definitions(srv);
    const win = {
      profiles: [{ name: 'Win', contents: b64(windowsProfile('./Device/Vendor/MSFT/Policy/Config/C/D')) }],
    };
    const off = await batch(`team_id=${teamId}`, win);
    expect(off.status).toBe(400);
    expect(off.body.errors[0].reason).toContain("Windows MDM isn't turned on");
    const dry = await batch(`team_id=${teamId}&dry_run=true&assume_enabled=true`, win);
    expect(dry.status).toBe(204);
    expect(await definitions(srv)).toBe(before);
    const assumed = await batch(`team_id=${teamId}&assume_enabled=true`, win);
    expect(assumed.status).toBe(204);
    const names = (await srv.app.services.profiles.list(teamId, {})).profiles.map((p) => p.name);
    expect(names).toEqual(['Win']);
  });

  it('refuses bad batches with 400 or 422 and changes nothing', async () => {
    const srv = server();
    const before = await definitions(srv);
    const cases: [string, unknown, number][] = [
      [`team_id=${teamId}`, { profiles: [{ name: 'X', contents: 'not base64!' }] }, 400],
      [`team_id=${teamId}`, { profiles: [{ name: 'X' }] }, 422],
      [`team_id=${teamId}`, { profiles: 'nope' }, 400],
      [`team_id=${teamId}&dry_run=maybe`, { profiles: [] }, 400],
      [`team_id=${teamId}`, { profiles: [{ name: 'Bad', contents: b64('<plist>broken') }] }, 422],
    ];
    for (const [query, body, status] of cases) {
      const res = await batch(query, body);
      expect([query, JSON.stringify(body), res.status]).toEqual([query, JSON.stringify(body), status]);
      expect(res.body).toMatchObject({ message: expect.any(String), errors: [expect.anything()] });
    }
    const unknownTeam = await batch('team_name=Nope', { profiles: [] });
    expect(unknownTeam.status).toBe(404);
    expect(await definitions(srv)).toBe(before);
  });

  it("lists a Mac's profiles at Fleet's host paths, refuses other platforms, and resends by the older path", async () => {
    const srv = server();
    const { db } = srv.app.services.database;
    await batch(`team_id=${teamId}`, {
      profiles: [{ name: 'Dock', contents: b64(mobileconfig('com.example.dock', 'Dock')) }],
    });
    const now = dbNow();
    const insertHost = async (uuid: string, platform: string) =>
      Number(
        (
          await db
            .insertInto('hosts')
            .values({
              uuid,
              platform,
              hardware_serial: uuid,
              hostname: uuid,
              computer_name: uuid,
              hardware_model: '',
              os_version: '',
              team_id: teamId,
              label_updated_at: now,
              detail_updated_at: now,
              created_at: now,
              updated_at: now,
            })
            .executeTakeFirstOrThrow()
        ).insertId,
      );
    const mac = await insertHost('MAC-FLEET-CLIENT-1', 'darwin');
    const pc = await insertHost('PC-FLEET-CLIENT-1', 'windows');
    const profile = (await srv.app.services.profiles.list(teamId, {})).profiles[0];
    for (const path of [`/hosts/${mac}/configuration_profiles`, `/mdm/hosts/${mac}/profiles`]) {
      const res = await api(srv, 'GET', `/api/latest/fleet${path}`, { token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        host_id: mac,
        profiles: [
          expect.objectContaining({
            profile_uuid: profile.profile_uuid,
            team_id: teamId,
            name: 'Dock',
            identifier: 'com.example.dock',
            checksum: profile.checksum,
          }),
        ],
      });
    }
    const refused = await api(srv, 'GET', `/api/latest/fleet/hosts/${pc}/configuration_profiles`, { token });
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].reason).toBe('Endpoint is only available for macOS, iOS and iPadOS hosts.');
    const missing = await api(srv, 'GET', '/api/latest/fleet/hosts/999999/configuration_profiles', { token });
    expect(missing.status).toBe(404);

    // Resend by the older path: the host's row goes back to pending (NULL status) like the newer path.
    await db
      .insertInto('host_mdm_apple_profiles')
      .values({
        profile_uuid: profile.profile_uuid,
        profile_identifier: 'com.example.dock',
        profile_name: 'Dock',
        host_uuid: 'MAC-FLEET-CLIENT-1',
        status: 'failed',
        operation_type: 'install',
        checksum: Buffer.from(profile.checksum, 'base64').toString('hex'),
        command_uuid: 'c-1',
        detail: '',
        retries: 0,
        created_at: now,
        updated_at: now,
      } as never)
      .execute();
    const resend = await api(
      srv,
      'POST',
      `/api/latest/fleet/hosts/${mac}/configuration_profiles/resend/${profile.profile_uuid}`,
      { token },
    );
    expect(resend.status).toBe(202);
    const row = await db
      .selectFrom('host_mdm_apple_profiles')
      .select('status')
      .where('host_uuid', '=', 'MAC-FLEET-CLIENT-1')
      .executeTakeFirstOrThrow();
    expect(row.status).toBeNull();
  });
});
