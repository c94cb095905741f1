import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { createImporter, FleetSource, SourceDb } from '../../src/migrate/index.js';
import { issueDeviceIdentity } from '../helpers/appleDevice.js';
import {
  createSourceDatabase,
  fleetDefs,
  fleetEncrypt,
  fleetKey,
  fleetTablesSql,
  seedFleetDefinitions,
  seedFleetHost,
} from '../helpers/importSource.js';
import { describeEachDialect } from '../helpers/testServer.js';

const topic = 'com.apple.mgmt.External.5f0c9a1b-2c3d-4e5f-9a0b-1c2d3e4f5a6b';

describeEachDialect('flotilla import fleet', (server) => {
  let source: Awaited<ReturnType<typeof createSourceDatabase>>;
  const fleetCa = createCertificateAuthority('Fleet SCEP CA');
  const apns = createCertificateAuthority(`APNs ${topic}`);
  let device: SimulatedAppleDevice;
  const importer = () => {
    const s = server().app.services;
    return createImporter({
      db: server().testDb.database.db,
      assets: s.assets,
      serverUrl: () => s.appConfig.serverUrl(),
    });
  };

  beforeAll(async () => {
    source = await createSourceDatabase('fleet_src');
    const c = source.conn;
    await c.query(fleetTablesSql);
    const identity = await issueDeviceIdentity(server(), { CN: 'fleet device' }, fleetCa);
    device = new SimulatedAppleDevice({ serverUrl: server().url, topic, identity, serial: 'C02FLEET001' });
    expect(new X509Certificate(identity.certPem).issuer).toContain('Fleet SCEP CA');
    for (const [name, v] of [
      ['ca_cert', fleetCa.certPem],
      ['ca_key', fleetCa.keyPem],
      ['apns_cert', apns.certPem],
      ['apns_key', apns.keyPem],
    ])
      await c.query(
        'INSERT INTO mdm_config_assets (name, value, md5_checksum) VALUES (?, ?, UNHEX(MD5(?)))',
        [name, fleetEncrypt(v), v],
      );
    await seedFleetDefinitions(c);
    await seedFleetHost(c, {
      hostId: 1,
      udid: device.udid,
      serial: device.serial,
      certPem: identity.certPem,
      topic,
      pushMagic: device.pushMagic,
      pushTokenHex: device.pushTokenHex,
    });
    await c.query("INSERT INTO policies (name) VALUES ('Firewall on'), ('Gatekeeper on')");
  });
  afterAll(async () => {
    await source?.drop();
  });

  /** What the import writes besides devices: labels, profiles, their label rows, host rows. */
  async function definitionsSnapshot() {
    const db = server().testDb.database.db;
    return {
      labels: await db.selectFrom('labels').select(['name', 'label_type']).orderBy('name').execute(),
      apple: await db
        .selectFrom('mdm_apple_configuration_profiles')
        .select('profile_uuid')
        .orderBy('profile_uuid')
        .execute(),
      windows: await db
        .selectFrom('mdm_windows_configuration_profiles')
        .select('profile_uuid')
        .orderBy('profile_uuid')
        .execute(),
      declarations: await db
        .selectFrom('mdm_apple_declarations')
        .select('declaration_uuid')
        .orderBy('declaration_uuid')
        .execute(),
      labelRows: await db
        .selectFrom('mdm_configuration_profile_labels')
        .select(['label_name'])
        .orderBy('label_name')
        .execute(),
      hostRows: await db
        .selectFrom('host_mdm_apple_profiles')
        .select(['host_uuid', 'profile_uuid'])
        .orderBy('profile_uuid')
        .execute(),
    };
  }

  it('refuses a wrong Fleet private key and writes nothing', async () => {
    const db = server().testDb.database.db;
    const before = [
      await db.selectFrom('nano_devices').select('id').execute(),
      await db.selectFrom('mdm_config_assets').select(['name', 'deletion_uuid']).orderBy('id').execute(),
      await definitionsSnapshot(),
    ];
    const src = new FleetSource(await SourceDb.open(source.url), 'not-the-key-not-the-key-not-the-key-0000');
    try {
      await expect(importer().run(src, { dryRun: false, batchSize: 10 })).rejects.toThrow(
        'cannot decrypt Fleet asset ca_cert: --fleet-private-key is not the key this Fleet server encrypted with',
      );
    } finally {
      await src.close();
    }
    expect([
      await db.selectFrom('nano_devices').select('id').execute(),
      await db.selectFrom('mdm_config_assets').select(['name', 'deletion_uuid']).orderBy('id').execute(),
      await definitionsSnapshot(),
    ]).toEqual(before);
  });

  it('dry run: counts labels, profiles and host rows that would come over, writes nothing', async () => {
    const before = await definitionsSnapshot();
    const src = new FleetSource(await SourceDb.open(source.url), fleetKey);
    try {
      const r = await importer().run(src, { dryRun: true, batchSize: 10 });
      expect(r.definitions).toEqual({
        labels: 3,
        appleProfiles: 1,
        windowsProfiles: 1,
        declarations: 1,
        alreadyPresent: 0,
      });
      expect(r.counts).toMatchObject({ devices: 1, hosts: 1, labelMemberships: 3, profileStatuses: 2 });
    } finally {
      await src.close();
    }
    expect(await definitionsSnapshot()).toEqual(before);
  });

  it('imports hosts, teams, labels, profiles and host statuses; the device checks in and gets nothing sent again', async () => {
    const srv = server();
    const db = srv.testDb.database.db;
    const src = new FleetSource(await SourceDb.open(source.url), fleetKey);
    try {
      const r = await importer().run(src, { dryRun: false, batchSize: 10 });
      expect(r.counts).toEqual({
        devices: 1,
        enrollments: 1,
        users: 0,
        certificates: 1,
        hosts: 1,
        labelMemberships: 3,
        profileStatuses: 2,
        alreadyPresent: 0,
      });
      expect(r.teamsCreated).toBe(1);
      expect(r.definitions).toEqual({
        labels: 3,
        appleProfiles: 1,
        windowsProfiles: 1,
        declarations: 1,
        alreadyPresent: 0,
      });
      expect(r.apns).toBe('imported');
      expect(r.notCarried).toEqual([
        { what: 'policies', count: 2, why: 'not imported' },
        { what: 'Apple profiles Fleet manages itself', count: 1, why: 'Flotilla installs its own' },
      ]);
    } finally {
      await src.close();
    }
    const host = await srv.app.services.hostStore.findByUuid(device.udid);
    expect(host).toMatchObject({
      hardware_serial: 'C02FLEET001',
      computer_name: 'Mac 1',
      os_version: 'macOS 14.4.1',
    });
    const team = await db
      .selectFrom('teams')
      .select('id')
      .where('name', '=', 'Workstations')
      .executeTakeFirstOrThrow();
    expect(host?.team_id).toBe(Number(team.id));
    expect((await srv.app.services.assets.getOne('apns_cert'))?.toString()).toBe(apns.certPem);

    // Labels: Fleet's own come over with their definitions; the built-in one is ours already.
    const labels = await db
      .selectFrom('labels')
      .select(['id', 'name', 'query', 'label_type', 'label_membership_type'])
      .where('name', 'in', ['Executives', 'Has Chrome', 'Low disk', 'macOS'])
      .orderBy('name')
      .execute();
    expect(
      labels.map((l) => [l.name, Number(l.label_type), Number(l.label_membership_type), l.query]),
    ).toEqual([
      ['Executives', 0, 1, ''],
      ['Has Chrome', 0, 0, "SELECT 1 FROM apps WHERE bundle_identifier = 'com.google.Chrome';"],
      ['Low disk', 0, 0, 'SELECT 1 FROM disk_info WHERE free < 10;'],
      ['macOS', 1, 0, "SELECT 1 FROM os_version WHERE platform = 'darwin';"],
    ]);
    const id = new Map(labels.map((l) => [l.name, Number(l.id)]));
    const members = await db
      .selectFrom('label_membership')
      .select(['label_id', 'is_member'])
      .where('host_id', '=', host!.id)
      .where('label_id', 'in', [...id.values()])
      .orderBy('label_id')
      .execute();
    expect(members.map((m) => [Number(m.label_id), Number(m.is_member)])).toEqual(
      [
        [id.get('Executives'), 1],
        [id.get('Has Chrome'), 0],
        [id.get('Low disk'), 1],
        [id.get('macOS'), 1],
      ].sort((a, b) => a[0]! - b[0]!),
    );

    // Profiles keep Fleet's uuids and their label scoping; Fleet's own fleetd profile stays behind.
    const apple = await db.selectFrom('mdm_apple_configuration_profiles').selectAll().execute();
    expect(apple.map((p) => [p.profile_uuid, Number(p.team_id), p.identifier, p.name])).toEqual([
      [fleetDefs.dockUuid, Number(team.id), 'com.example.dock', 'Dock'],
    ]);
    expect(Buffer.from(apple[0].mobileconfig).toString()).toBe(fleetDefs.dock);
    const windows = await db.selectFrom('mdm_windows_configuration_profiles').selectAll().execute();
    expect(windows.map((p) => [p.profile_uuid, Number(p.team_id), p.name, p.syncml])).toEqual([
      [fleetDefs.cameraUuid, Number(team.id), 'Camera off', fleetDefs.camera],
    ]);
    const decls = await db.selectFrom('mdm_apple_declarations').selectAll().execute();
    expect(decls.map((d) => [d.declaration_uuid, d.identifier, d.name, d.raw_json])).toEqual([
      [fleetDefs.passcodeUuid, 'com.example.passcode', 'Passcode', fleetDefs.passcode],
    ]);
    const scoping = await db
      .selectFrom('mdm_configuration_profile_labels')
      .select([
        'apple_profile_uuid',
        'windows_profile_uuid',
        'label_name',
        'label_id',
        'exclude',
        'require_all',
      ])
      .orderBy('label_name')
      .execute();
    expect(
      scoping.map((s) => [
        s.apple_profile_uuid,
        s.windows_profile_uuid,
        s.label_name,
        Number(s.label_id),
        Number(s.exclude),
      ]),
    ).toEqual([
      [fleetDefs.dockUuid, null, 'Executives', id.get('Executives'), 0],
      [null, fleetDefs.cameraUuid, 'Has Chrome', id.get('Has Chrome'), 1],
    ]);
    const declScoping = await db
      .selectFrom('mdm_declaration_labels')
      .select(['apple_declaration_uuid', 'label_id'])
      .execute();
    expect(declScoping.map((s) => [s.apple_declaration_uuid, Number(s.label_id)])).toEqual([
      [fleetDefs.passcodeUuid, id.get('Low disk')],
    ]);

    // The host's statuses come over as Fleet had them, so the profile manager sends nothing again.
    const hostRowsOf = () =>
      db
        .selectFrom('host_mdm_apple_profiles')
        .select(['profile_uuid', 'status', 'operation_type', 'command_uuid', 'checksum'])
        .where('host_uuid', '=', device.udid)
        .where('profile_uuid', '=', fleetDefs.dockUuid)
        .execute();
    const declRowsOf = () =>
      db
        .selectFrom('host_mdm_apple_declarations')
        .select(['declaration_uuid', 'status', 'operation_type', 'token'])
        .where('host_uuid', '=', device.udid)
        .execute();
    expect(await hostRowsOf()).toEqual([
      {
        profile_uuid: fleetDefs.dockUuid,
        status: 'verified',
        operation_type: 'install',
        command_uuid: 'cmd-dock-1',
        checksum: apple[0].checksum,
      },
    ]);
    expect(await declRowsOf()).toEqual([
      {
        declaration_uuid: fleetDefs.passcodeUuid,
        status: 'verified',
        operation_type: 'install',
        token: decls[0].token,
      },
    ]);
    await srv.app.services.profileManager.tick();
    expect((await hostRowsOf())[0]).toMatchObject({ status: 'verified', command_uuid: 'cmd-dock-1' });
    expect((await declRowsOf())[0]).toMatchObject({ status: 'verified', token: decls[0].token });

    // The device checks in with its Fleet identity; nothing it has is installed again.
    const handled = await device.connect();
    expect(device.profiles.has('com.example.dock')).toBe(false);
    expect(handled.map((h) => h.requestType)).not.toContain('DeclarativeManagement');
    expect((await hostRowsOf())[0]).toMatchObject({ status: 'verified', command_uuid: 'cmd-dock-1' });

    // A second run changes nothing.
    const before = await definitionsSnapshot();
    const again = new FleetSource(await SourceDb.open(source.url), fleetKey);
    try {
      const r2 = await importer().run(again, { dryRun: false, batchSize: 10 });
      expect(r2.definitions).toEqual({
        labels: 0,
        appleProfiles: 0,
        windowsProfiles: 0,
        declarations: 0,
        alreadyPresent: 6,
      });
      expect(r2.counts).toMatchObject({
        devices: 0,
        labelMemberships: 0,
        profileStatuses: 0,
        alreadyPresent: 1,
      });
    } finally {
      await again.close();
    }
    expect(await definitionsSnapshot()).toEqual(before);
  });
});
