import { beforeAll, describe, expect, it } from 'vitest';
import { toDbTime } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { createTeam, snapshot } from '../helpers/adminFixtures.js';
import { tokenForRole } from '../helpers/appleSeed.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const v1 = '/api/v1/fleet';
const minute = 60 * 1000;
const day = 24 * 60 * minute;

type Row = [defUuid: string, status: string | null, operation?: 'install' | 'remove'];

interface HostSpec {
  platform: string;
  team?: 'T1' | 'T2';
  /** How long ago the host was created and last reported details (none: never reported). */
  createdAgo: number;
  seenAgo?: number;
  mdm?: {
    enrolled: boolean;
    dep?: boolean;
    personal?: boolean;
    server?: boolean;
    name?: string;
    url?: string;
  };
  /** Apple device channel: enabled, disabled, or a BYOD (User Enrollment) channel. */
  apple?: 'on' | 'off' | 'byod';
  /** A live Windows MDM enrollment. */
  windows?: boolean;
  profiles?: Row[];
  declarations?: Row[];
  windowsProfiles?: Row[];
  disk?: { gigs: number; percent: number; encrypted?: boolean };
}

const fleetMdm = { name: 'Fleet', url: 'https://fleet.example.com/mdm' };
const online = { createdAgo: 10 * day, seenAgo: 5 * minute };
const appleOn = { ...online, mdm: { enrolled: true }, apple: 'on' as const };
const windowsOn = { ...online, platform: 'windows', mdm: { enrolled: true }, windows: true };

/** The fleet the filters run over; expectations below name these hosts. */
const hosts: Record<string, HostSpec> = {
  // Hosts without MDM, for the status, disk space and label filters.
  H1: { platform: 'ubuntu', ...online, disk: { gigs: 5, percent: 4.5, encrypted: true } },
  H2: { platform: 'ubuntu', createdAgo: 10 * day, seenAgo: 2 * day, disk: { gigs: 50, percent: 40 } },
  H3: { platform: 'ubuntu', createdAgo: 60 * day, seenAgo: 40 * day },
  H4: { platform: 'ubuntu', createdAgo: 2 * 60 * minute },
  H5: { platform: 'ubuntu', createdAgo: 10 * minute },
  H6: { platform: 'ubuntu', createdAgo: 45 * day },
  // Apple hosts and their profile / declaration rows.
  A1: {
    platform: 'darwin',
    ...appleOn,
    profiles: [
      ['a-p1', 'verified'],
      ['a-p2', 'verifying'],
    ],
    disk: { gigs: 10.5, percent: 12 },
  },
  A2: {
    platform: 'darwin',
    ...appleOn,
    profiles: [
      ['a-p1', 'failed'],
      ['a-p2', null],
    ],
  },
  A3: { platform: 'darwin', ...appleOn, profiles: [['a-p1', null]], declarations: [['d-d1', 'verified']] },
  A4: {
    platform: 'darwin',
    ...appleOn,
    profiles: [['a-p1', 'verified']],
    declarations: [['d-d1', 'verified']],
  },
  // A declaration being removed does not count (Fleet aggregates install rows of declarations).
  A5: {
    platform: 'darwin',
    ...appleOn,
    profiles: [['a-p1', 'verified']],
    declarations: [['d-d1', 'pending', 'remove']],
  },
  // MDM turned off: its rows are left, but it has no OS-settings status.
  A6: {
    platform: 'darwin',
    ...online,
    mdm: { enrolled: false },
    apple: 'off',
    profiles: [['a-p1', 'verified']],
  },
  A7: { platform: 'darwin', ...appleOn, team: 'T1', profiles: [['a-p1', 'pending']] },
  I1: { platform: 'ios', ...appleOn, profiles: [['a-p1', 'verified']] },
  P1: { platform: 'darwin', ...online, mdm: { enrolled: false, dep: true } },
  D1: { platform: 'darwin', ...online, mdm: { enrolled: true, dep: true }, apple: 'on' },
  B1: { platform: 'darwin', ...online, mdm: { enrolled: true, personal: true }, apple: 'byod' },
  X1: {
    platform: 'darwin',
    ...online,
    mdm: { enrolled: true, name: 'Jamf', url: 'https://jamf.example.com' },
  },
  // Windows hosts.
  W1: { ...windowsOn, windowsProfiles: [['w-p1', 'verified']] },
  W2: {
    ...windowsOn,
    windowsProfiles: [
      ['w-p1', 'verified'],
      ['w-p2', null],
    ],
  },
  W3: {
    ...windowsOn,
    windowsProfiles: [
      ['w-p1', 'failed', 'remove'],
      ['w-p2', 'verified'],
    ],
  },
  W4: { ...windowsOn, mdm: { enrolled: true, server: true }, windowsProfiles: [['w-p1', 'verified']] },
  W5: { ...windowsOn, team: 'T2', windowsProfiles: [['w-p1', 'verifying']] },
  W6: { ...windowsOn, windows: false, windowsProfiles: [['w-p1', 'verified']] },
};

const names = Object.keys(hosts);
const noMdm = ['H1', 'H2', 'H3', 'H4', 'H5', 'H6'];
const manual = ['A1', 'A2', 'A3', 'A4', 'A5', 'A7', 'I1', 'X1', 'W1', 'W2', 'W3', 'W5', 'W6'];

async function seed(srv: TestServer, teams: Record<'T1' | 'T2', number>): Promise<Record<string, number>> {
  const { hostStore, database } = srv.app.services;
  const db = database.db;
  const ids: Record<string, number> = {};
  const now = Date.now();
  const at = (ago: number) => toDbTime(new Date(now - ago));
  for (const [name, h] of Object.entries(hosts)) {
    const uuid = `HLF-${name}`;
    const id = await hostStore.create({
      uuid,
      platform: h.platform,
      hostname: `${name.toLowerCase()}.example.com`,
      team_id: h.team ? teams[h.team] : null,
    });
    ids[name] = id;
    await db
      .updateTable('hosts')
      .set({
        created_at: at(h.createdAgo),
        ...(h.seenAgo !== undefined ? { detail_updated_at: at(h.seenAgo) } : {}),
      })
      .where('id', '=', id)
      .execute();
    if (h.mdm) {
      const mdm = h.mdm.url ? h.mdm : { ...h.mdm, ...fleetMdm };
      await hostStore.upsertHostMdm(id, {
        enrolled: h.mdm.enrolled,
        server_url: h.mdm.enrolled ? (mdm.url ?? '') : '',
        installed_from_dep: h.mdm.dep ?? false,
        is_personal_enrollment: h.mdm.personal ?? false,
        mdm_name: mdm.name ?? '',
      });
      if (h.mdm.server)
        await db.updateTable('host_mdm').set({ is_server: 1 }).where('host_id', '=', id).execute();
    }
    const ts = at(0);
    if (h.apple) {
      await db
        .insertInto('nano_devices')
        .values({ id: uuid, authenticate: '<plist/>', authenticate_at: ts, created_at: ts, updated_at: ts })
        .execute();
      await db
        .insertInto('nano_enrollments')
        .values({
          id: h.apple === 'byod' ? `byod-${uuid}` : uuid,
          device_id: uuid,
          type: h.apple === 'byod' ? 'User Enrollment (Device)' : 'Device',
          topic: 'com.apple.mgmt.test',
          push_magic: 'magic',
          token_hex: 'ab',
          enabled: h.apple === 'off' ? 0 : 1,
          last_seen_at: ts,
          created_at: ts,
          updated_at: ts,
        })
        .execute();
    }
    if (h.windows) {
      await db
        .insertInto('mdm_windows_enrollments')
        .values({
          mdm_device_id: `dev-${uuid}`,
          mdm_hardware_id: `hw-${uuid}`,
          device_state: 'MDMDeviceEnrolledEnrolled',
          device_type: 'CIMClient_Windows',
          device_name: name,
          enroll_type: 'ProgrammaticEnrollment',
          enroll_user_id: '',
          enroll_proto_version: '5.0',
          enroll_client_version: '10.0',
          host_uuid: uuid,
          created_at: ts,
          updated_at: ts,
        })
        .execute();
    }
    for (const [def, status, op] of h.profiles ?? []) {
      await db
        .insertInto('host_mdm_apple_profiles')
        .values({
          host_uuid: uuid,
          profile_uuid: def,
          profile_identifier: `com.example.${def}`,
          status,
          operation_type: op ?? 'install',
          detail: null,
          secrets_updated_at: null,
          variables_updated_at: null,
          created_at: ts,
          updated_at: ts,
        })
        .execute();
    }
    for (const [def, status, op] of h.declarations ?? []) {
      await db
        .insertInto('host_mdm_apple_declarations')
        .values({
          host_uuid: uuid,
          declaration_uuid: def,
          declaration_identifier: `com.example.${def}`,
          status,
          operation_type: op ?? 'install',
          detail: null,
          secrets_updated_at: null,
          created_at: ts,
          updated_at: ts,
        })
        .execute();
    }
    for (const [def, status, op] of h.windowsProfiles ?? []) {
      await db
        .insertInto('host_mdm_windows_profiles')
        .values({
          host_uuid: uuid,
          profile_uuid: def,
          status,
          operation_type: op ?? 'install',
          detail: null,
          secrets_updated_at: null,
          created_at: ts,
          updated_at: ts,
        })
        .execute();
    }
    if (h.disk) {
      await hostStore.setDiskInfo(id, {
        gigs_disk_space_available: h.disk.gigs,
        percent_disk_space_available: h.disk.percent,
        disk_encryption_enabled: h.disk.encrypted ?? null,
      });
    }
  }
  return ids;
}

/** Everything a host list request could change if it wrote anything. */
async function fullSnapshot(srv: TestServer) {
  const { db } = srv.app.services.database;
  const out: Record<string, unknown> = await snapshot(srv);
  for (const t of [
    'host_mdm',
    'mdm_solutions',
    'host_mdm_apple_profiles',
    'host_mdm_apple_declarations',
    'host_mdm_windows_profiles',
    'nano_enrollments',
    'mdm_windows_enrollments',
  ] as const) {
    out[t] = await db.selectFrom(t).selectAll().execute();
  }
  return out;
}

describeEachDialect('host list filters', (server) => {
  let token = '';
  let ids: Record<string, number> = {};
  const teams = { T1: 0, T2: 0 };
  let label = 0;
  let fleetMdmId = 0;
  let jamfMdmId = 0;

  beforeAll(async () => {
    token = await setupAdmin(server());
    teams.T1 = await createTeam(server(), token, 'Filters T1');
    teams.T2 = await createTeam(server(), token, 'Filters T2');
    ids = await seed(server(), teams);
    // Written through the store: the label events would make the profile managers reconcile the
    // seeded status rows (their profiles do not exist).
    const { labelStore } = server().app.services;
    label = await labelStore.create({
      name: 'Filter label',
      description: '',
      query: '',
      platform: '',
      membershipType: 1,
      authorId: null,
    });
    await labelStore.setMembership(
      label,
      ['A1', 'A2', 'A7', 'W1', 'H1', 'H2'].map((n) => ids[n]),
      true,
    );
    const { db } = server().app.services.database;
    const solutions = await db.selectFrom('mdm_solutions').selectAll().orderBy('id').execute();
    fleetMdmId = solutions.find((s) => s.name === 'Fleet')!.id;
    jamfMdmId = solutions.find((s) => s.name === 'Jamf')!.id;
  });

  const namesOf = (idList: number[]) =>
    idList.map((id) => names.find((n) => ids[n] === id) ?? `#${id}`).sort();

  /** Host names a list answers (after checking /hosts/count agrees), in name order. */
  async function listed(query: string, base = '/hosts'): Promise<string[]> {
    const res = await api(server(), 'GET', `${v1}${base}?${query}`, { token });
    expect(res.status, `${base}?${query}: ${res.text}`).toBe(200);
    const got: number[] = res.body.hosts.map((h: { id: number }) => h.id);
    if (base === '/hosts') {
      const count = await api(server(), 'GET', `${v1}/hosts/count?${query}`, { token });
      expect(count.status, count.text).toBe(200);
      expect(count.body, `count of ${query}`).toEqual({ count: got.length });
    }
    return namesOf(got);
  }

  const cases = (): [query: string, expected: string[]][] => [
    // status: Fleet's buckets (online within the window; new = created in 24 h; missing = 30 days).
    ['status=online', [...names.filter((n) => !noMdm.includes(n)), 'H1', 'H5']],
    ['status=offline', ['H2', 'H3', 'H4', 'H6']],
    ['status=new', ['H4', 'H5']],
    ['status=missing', ['H3', 'H6']],
    ['status=mia', ['H3', 'H6']],
    ['status=', names],
    ['status=online&team_id=' + 'T1', ['A7']],
    ['status=offline&team_id=0', ['H2', 'H3', 'H4', 'H6']],
    // os_settings: across Apple profiles + declarations and Windows profiles; MDM on; No team
    // when no team is given.
    ['os_settings=verified', ['A4', 'A5', 'I1', 'W1']],
    ['os_settings=verifying', ['A1']],
    ['os_settings=pending', ['A3', 'W2']],
    ['os_settings=failed', ['A2', 'W3']],
    ['os_settings=pending&team_id=0', ['A3', 'W2']],
    ['os_settings=pending&team_id=T1', ['A7']],
    ['os_settings=verifying&team_id=T2', ['W5']],
    ['os_settings=verified&team_id=T2', []],
    ['os_settings=verified&platform=windows', ['W1']],
    // macos_settings: the same for Apple hosts.
    ['macos_settings=verified', ['A4', 'A5', 'I1']],
    ['macos_settings=verifying', ['A1']],
    ['macos_settings=pending', ['A3']],
    ['macos_settings=failed', ['A2']],
    ['macos_settings=pending&team_id=T1', ['A7']],
    // Disk encryption and bootstrap packages: accepted, nothing records them yet.
    ...['verified', 'verifying', 'action_required', 'enforcing', 'failed', 'removing_enforcement'].flatMap(
      (v): [string, string[]][] => [
        [`os_settings_disk_encryption=${v}`, []],
        [`macos_settings_disk_encryption=${v}&team_id=0`, []],
      ],
    ),
    // Bootstrap package (Fleet's rule): ADE Macs of No team with no InstallEnterpriseApplication
    // answer, the enrolled one and the pending one alike, are pending.
    ['bootstrap_package=installed', []],
    ['bootstrap_package=pending', ['D1', 'P1']],
    ['bootstrap_package=failed', []],
    // MDM enrollment, solution and name (servers and non-MDM platforms never match).
    ['mdm_enrollment_status=manual', manual],
    ['mdm_enrollment_status=automatic', ['D1']],
    ['mdm_enrollment_status=personal', ['B1']],
    ['mdm_enrollment_status=enrolled', [...manual, 'D1', 'B1']],
    ['mdm_enrollment_status=pending', ['P1']],
    ['mdm_enrollment_status=unenrolled', ['A6']],
    ['mdm_enrollment_status=manual&team_id=T2', ['W5']],
    ['mdm_id=FLEET', ['A1', 'A2', 'A3', 'A4', 'A5', 'A7', 'I1', 'D1', 'B1', 'W1', 'W2', 'W3', 'W5', 'W6']],
    ['mdm_id=JAMF', ['X1']],
    ['mdm_id=999999', []],
    ['mdm_id=FLEET&platform=ios', ['I1']],
    ['mdm_name=Jamf', ['X1']],
    [
      'connected_to_fleet=true',
      ['A1', 'A2', 'A3', 'A4', 'A5', 'A7', 'I1', 'D1', 'B1', 'W1', 'W2', 'W3', 'W4', 'W5'],
    ],
    // One profile's status on each host (NULL is pending), Apple profiles, declarations, Windows.
    ['profile_uuid=a-p1&profile_status=verified', ['A1', 'A4', 'A5', 'A6', 'I1']],
    ['profile_uuid=a-p1&profile_status=pending', ['A3', 'A7']],
    ['profile_uuid=a-p1&profile_status=failed', ['A2']],
    ['profile_uuid=a-p2&profile_status=verifying', ['A1']],
    ['profile_uuid=d-d1&profile_status=verified', ['A3', 'A4']],
    ['profile_uuid=d-d1&profile_status=pending', ['A5']],
    ['profile_uuid=w-p1&profile_status=verified', ['W1', 'W2', 'W4', 'W6']],
    ['profile_uuid=w-p2&profile_status=pending', ['W2']],
    ['profile_uuid=w-p1&profile_status=failed', ['W3']],
    ['profile_uuid=nope&profile_status=verified', []],
    ['profile_uuid=a-p1&profile_status=pending&team_id=T1', ['A7']],
    ['profile_uuid=w-p1&profile_status=verified&team_id=0', ['W1', 'W2', 'W4', 'W6']],
    // Disk space below N GB (hosts that never reported are never low).
    ['low_disk_space=20', ['A1', 'H1']],
    ['low_disk_space=100', ['A1', 'H1', 'H2']],
    ['low_disk_space=5', []],
    ['low_disk_space=100&team_id=0', ['A1', 'H1', 'H2']],
    // With a label.
    ['label_id=LABEL&os_settings=failed', ['A2']],
    ['label_id=LABEL&status=offline', ['H2']],
    ['label_id=LABEL&status=online', ['A1', 'A2', 'A7', 'H1', 'W1']],
    ['label_id=LABEL&macos_settings=verifying', ['A1']],
    ['label_id=LABEL&os_settings=pending&team_id=T1', ['A7']],
    ['label_id=LABEL&low_disk_space=10', ['H1']],
    ['label_id=LABEL&mdm_enrollment_status=manual&status=online', ['A1', 'A2', 'A7', 'W1']],
  ];

  const resolve = (q: string) =>
    q
      .replace(/team_id=T([12])/, (_, n: string) => `team_id=${teams[`T${n}` as 'T1' | 'T2']}`)
      .replace('mdm_id=FLEET', `mdm_id=${fleetMdmId}`)
      .replace('mdm_id=JAMF', `mdm_id=${jamfMdmId}`)
      .replace('label_id=LABEL', `label_id=${label}`);

  it('lists exactly the matching hosts, and /hosts/count agrees, changing nothing', async () => {
    const before = await fullSnapshot(server());
    for (const [q, expected] of cases()) {
      expect(await listed(resolve(q)), q).toEqual([...expected].sort());
    }
    expect(await fullSnapshot(server())).toEqual(before);
  });

  it('applies the same filters to GET /labels/:id/hosts', async () => {
    const base = `/labels/${label}/hosts`;
    expect(await listed('os_settings=failed', base)).toEqual(['A2']);
    expect(await listed('status=offline', base)).toEqual(['H2']);
    expect(await listed(`os_settings=pending&team_id=${teams.T1}`, base)).toEqual(['A7']);
    expect(await listed('macos_settings=verified', base)).toEqual([]);
    expect(await listed('low_disk_space=20', base)).toEqual(['A1', 'H1']);
    expect(await listed(`mdm_id=${fleetMdmId}&status=online`, base)).toEqual(['A1', 'A2', 'A7', 'W1']);
    expect(await listed('profile_uuid=a-p1&profile_status=failed', base)).toEqual(['A2']);
    expect(await listed('os_settings_disk_encryption=verified', base)).toEqual([]);
  });

  it('names the MDM solution an mdm_id filter asks for, as Fleet does', async () => {
    const res = await api(server(), 'GET', `${v1}/hosts?mdm_id=${jamfMdmId}`, { token });
    expect(res.body.mobile_device_management_solution).toEqual({
      id: jamfMdmId,
      name: 'Jamf',
      server_url: 'https://jamf.example.com',
    });
    const none = await api(server(), 'GET', `${v1}/hosts?mdm_id=999999`, { token });
    expect(none.body).toEqual({ hosts: [] });
    const plain = await api(server(), 'GET', `${v1}/hosts?per_page=1`, { token });
    expect(plain.body).not.toHaveProperty('mobile_device_management_solution');
  });

  it("shows each host's status, disk space and MDM fields the filters read", async () => {
    const res = await api(server(), 'GET', `${v1}/hosts`, { token });
    const byName = new Map<string, any>(
      res.body.hosts.map((h: { id: number }) => [namesOf([h.id])[0], h] as const),
    );
    const onlineNames = await listed('status=online');
    for (const n of names) {
      expect(byName.get(n).status, n).toBe(onlineNames.includes(n) ? 'online' : 'offline');
    }
    expect(byName.get('H1')).toMatchObject({
      gigs_disk_space_available: 5,
      percent_disk_space_available: 4.5,
    });
    expect(byName.get('H3')).toMatchObject({ gigs_disk_space_available: 0, percent_disk_space_available: 0 });
    expect(byName.get('A1').mdm).toEqual({
      encryption_key_available: false,
      enrollment_status: 'On (manual)',
      dep_profile_error: false,
      server_url: fleetMdm.url,
      name: 'Fleet',
      connected_to_fleet: true,
    });
    expect(byName.get('P1').mdm).toMatchObject({ enrollment_status: 'Pending', connected_to_fleet: false });
    expect(byName.get('H1').mdm).toMatchObject({ enrollment_status: null, name: null });

    const h1 = await api(server(), 'GET', `${v1}/hosts/${ids.H1}`, { token });
    expect(h1.body.host).toMatchObject({ status: 'online', disk_encryption_enabled: true });
    const h2 = await api(server(), 'GET', `${v1}/hosts/${ids.H2}`, { token });
    expect(h2.body.host.status).toBe('offline');
    expect(h2.body.host).not.toHaveProperty('disk_encryption_enabled');
    const a1 = await api(server(), 'GET', `${v1}/hosts/${ids.A1}`, { token });
    expect(a1.body.host.mdm).toMatchObject({
      id: fleetMdmId,
      name: 'Fleet',
      enrollment_status: 'On (manual)',
      encryption_key_available: false,
      os_settings: { disk_encryption: { status: null, detail: '' } },
      macos_settings: { disk_encryption: null, action_required: null },
    });
    expect(a1.body.host.gigs_disk_space_available).toBe(10.5);
  });

  describe('invalid values', () => {
    const bad: [query: string, name: string, reason: string][] = [
      ['status=sideways', 'status', 'Invalid status: sideways'],
      ['os_settings=done', 'os_settings', 'Invalid os_settings: done'],
      ['macos_settings=enforcing', 'macos_settings', 'Invalid macos_settings: enforcing'],
      [
        'os_settings_disk_encryption=encrypted',
        'os_settings_disk_encryption',
        'Invalid os_settings_disk_encryption: encrypted',
      ],
      [
        'macos_settings_disk_encryption=pending',
        'macos_settings_disk_encryption',
        'Invalid macos_settings_disk_encryption: pending',
      ],
      ['bootstrap_package=verified', 'bootstrap_package', 'Invalid bootstrap_package: verified'],
      ['mdm_enrollment_status=on', 'mdm_enrollment_status', 'Invalid mdm_enrollment_status: on'],
      ['mdm_id=abc', 'mdm_id', 'Invalid mdm_id: abc'],
      ['mdm_id=-1', 'mdm_id', 'Invalid mdm_id: -1'],
      [
        'profile_uuid=a-p1',
        'profile_status',
        'Missing profile_status (it must be present when profile_uuid is specified)',
      ],
      [
        'profile_status=failed',
        'profile_uuid',
        'Missing profile_uuid (it must be present when profile_status is specified)',
      ],
      ['profile_uuid=a-p1&profile_status=removed', 'profile_status', 'Invalid profile_status: removed'],
      ['low_disk_space=abc', 'low_disk_space', 'Invalid low_disk_space: abc'],
      ['low_disk_space=0', 'low_disk_space', 'Invalid low_disk_space, must be between 1 and 100: 0'],
      ['low_disk_space=101', 'low_disk_space', 'Invalid low_disk_space, must be between 1 and 100: 101'],
      ['low_disk_space=1.5', 'low_disk_space', 'Invalid low_disk_space: 1.5'],
    ];

    it("answers each with 400 and Fleet's error body naming the parameter, on every host list", async () => {
      const before = await fullSnapshot(server());
      for (const base of ['/hosts', '/hosts/count', `/labels/${label}/hosts`]) {
        for (const [q, name, reason] of bad) {
          const res = await api(server(), 'GET', `${v1}${base}?${q}`, { token });
          expect(res.status, `${base}?${q}: ${res.text}`).toBe(400);
          expect(res.body, `${base}?${q}`).toEqual({
            message: 'Bad request',
            errors: [{ name, reason }],
            uuid: expect.any(String),
          });
        }
        // A filter given twice is not a value either.
        const twice = await api(server(), 'GET', `${v1}${base}?status=online&status=offline`, { token });
        expect(twice.status).toBe(400);
        expect(twice.body.errors[0].name).toBe('status');
      }
      expect(await fullSnapshot(server())).toEqual(before);
    });
  });

  it('keeps the lists of team users to their teams', async () => {
    const t1 = await tokenForRole(server().app.services, null, [{ teamId: teams.T1, role: 'observer' }]);
    const res = await api(server(), 'GET', `${v1}/hosts?status=online`, { token: t1 });
    expect(namesOf(res.body.hosts.map((h: { id: number }) => h.id))).toEqual(['A7']);
    const pending = await api(server(), 'GET', `${v1}/hosts/count?os_settings=pending&team_id=${teams.T1}`, {
      token: t1,
    });
    expect(pending.body).toEqual({ count: 1 });
    const other = await api(server(), 'GET', `${v1}/hosts?os_settings=verifying&team_id=${teams.T2}`, {
      token: t1,
    });
    expect(other.status).toBe(403);
  });
});
