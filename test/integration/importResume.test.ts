import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { createImporter, FleetSource, SourceDb } from '../../src/migrate/index.js';
import { formatReport } from '../../src/migrate/report.js';
import { issueDeviceIdentity } from '../helpers/appleDevice.js';
import {
  createSourceDatabase,
  fleetEncrypt,
  fleetKey,
  fleetTablesSql,
  seedFleetDefinitions,
  seedFleetHost,
} from '../helpers/importSource.js';
import { describeEachDialect, startTestServer, type TestServer } from '../helpers/testServer.js';

const topic = 'com.apple.mgmt.External.7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d';
const udids = [
  '0000FE00-0000-4000-8000-00000000000A',
  '0000FE00-0000-4000-8000-00000000000B',
  '0000FE00-0000-4000-8000-00000000000C',
];

/** Everything an import writes, without generated ids and times, so two targets compare equal. */
async function importedState(srv: TestServer) {
  const db = srv.testDb.database.db;
  const hostUuid = new Map(
    (await db.selectFrom('hosts').select(['id', 'uuid']).execute()).map((h) => [Number(h.id), h.uuid]),
  );
  const labelName = new Map(
    (await db.selectFrom('labels').select(['id', 'name']).execute()).map((l) => [Number(l.id), l.name]),
  );
  return {
    devices: await db
      .selectFrom('nano_devices')
      .select(['id', 'serial_number', 'identity_cert'])
      .orderBy('id')
      .execute(),
    enrollments: await db
      .selectFrom('nano_enrollments')
      .select(['id', 'topic', 'token_hex', 'enrolled_from_migration'])
      .orderBy('id')
      .execute(),
    associations: await db
      .selectFrom('nano_cert_auth_associations')
      .select(['id', 'sha256'])
      .orderBy('id')
      .execute(),
    hosts: await db
      .selectFrom('hosts')
      .leftJoin('teams', 'teams.id', 'hosts.team_id')
      .select(['uuid', 'hardware_serial', 'teams.name as team'])
      .orderBy('uuid')
      .execute(),
    labels: await db
      .selectFrom('labels')
      .select(['name', 'query', 'label_type', 'label_membership_type'])
      .orderBy('name')
      .execute(),
    memberships: (
      await db.selectFrom('label_membership').select(['host_id', 'label_id', 'is_member']).execute()
    )
      .map((m) => [hostUuid.get(Number(m.host_id)), labelName.get(Number(m.label_id)), Number(m.is_member)])
      .sort((a, b) => String(a).localeCompare(String(b))),
    apple: await db
      .selectFrom('mdm_apple_configuration_profiles')
      .select(['profile_uuid', 'identifier', 'checksum'])
      .orderBy('profile_uuid')
      .execute(),
    profileLabels: (
      await db
        .selectFrom('mdm_configuration_profile_labels')
        .select(['apple_profile_uuid', 'windows_profile_uuid', 'label_name', 'label_id', 'exclude'])
        .orderBy('label_name')
        .execute()
    ).map((r) => ({ ...r, label_id: labelName.get(Number(r.label_id)) })),
    hostProfiles: await db
      .selectFrom('host_mdm_apple_profiles')
      .select(['host_uuid', 'profile_uuid', 'status', 'operation_type', 'command_uuid', 'checksum'])
      .orderBy('host_uuid')
      .orderBy('profile_uuid')
      .execute(),
    hostDeclarations: await db
      .selectFrom('host_mdm_apple_declarations')
      .select(['host_uuid', 'declaration_uuid', 'status', 'token'])
      .orderBy('host_uuid')
      .execute(),
    run: await db.selectFrom('import_runs').select(['status', 'cursor_id', 'counts']).execute(),
  };
}

describeEachDialect('flotilla import: resuming after a crash', (server, dialect) => {
  let source: Awaited<ReturnType<typeof createSourceDatabase>>;
  const fleetCa = createCertificateAuthority('Fleet SCEP CA (resume)');
  const apns = createCertificateAuthority(`APNs ${topic}`);
  const importer = (srv: TestServer) =>
    createImporter({
      db: srv.testDb.database.db,
      assets: srv.app.services.assets,
      serverUrl: () => srv.app.services.appConfig.serverUrl(),
    });
  const open = async () => new FleetSource(await SourceDb.open(source.url), fleetKey);

  beforeAll(async () => {
    source = await createSourceDatabase('fleet_resume');
    const c = source.conn;
    await c.query(fleetTablesSql);
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
    for (const [i, udid] of udids.entries()) {
      const identity = await issueDeviceIdentity(server(), { CN: `fleet device ${i}` }, fleetCa);
      await seedFleetHost(c, {
        hostId: i + 1,
        udid,
        serial: `C02RESUME00${i}`,
        certPem: identity.certPem,
        topic,
        pushMagic: `magic-${i}`,
        pushTokenHex: `${i}`.repeat(64),
      });
    }
  });
  afterAll(async () => {
    await source?.drop();
  });

  it('an import that stops after its first batch keeps its position; the next run resumes and ends as a clean run does', async () => {
    const srv = server();
    const db = srv.testDb.database.db;
    const first = await open();
    try {
      await expect(
        importer(srv).run(first, { dryRun: false, batchSize: 1, failAfterBatches: 1 }),
      ).rejects.toThrow('import stopped after 1 batches (failAfterBatches)');
    } finally {
      await first.close();
    }
    // One batch committed with its position; the definitions were written before it.
    const run = await db.selectFrom('import_runs').selectAll().executeTakeFirstOrThrow();
    expect([run.status, run.cursor_id]).toEqual(['running', udids[0]]);
    expect(JSON.parse(run.counts)).toEqual({
      devices: 1,
      enrollments: 1,
      users: 0,
      certificates: 1,
      hosts: 1,
      labelMemberships: 3,
      profileStatuses: 2,
      alreadyPresent: 0,
    });
    expect((await db.selectFrom('nano_devices').select('id').execute()).map((d) => d.id)).toEqual([udids[0]]);
    expect(
      (await db.selectFrom('host_mdm_apple_profiles').select('host_uuid').execute()).map((r) => r.host_uuid),
    ).toEqual([udids[0]]);

    const second = await open();
    let resumed;
    try {
      resumed = await importer(srv).run(second, { dryRun: false, batchSize: 1 });
    } finally {
      await second.close();
    }
    expect(resumed.resumedAfter).toBe(udids[0]);
    expect(formatReport(resumed)).toContain(`resumed an interrupted run after device ${udids[0]}`);

    // The same source imported in one go into a fresh server of the same dialect.
    const clean = await startTestServer(dialect);
    try {
      const once = await open();
      let single;
      try {
        single = await importer(clean).run(once, { dryRun: false, batchSize: 1 });
      } finally {
        await once.close();
      }
      expect(single.resumedAfter).toBeUndefined();
      expect(resumed.counts).toEqual(single.counts);
      expect(resumed.counts).toEqual({
        devices: 3,
        enrollments: 3,
        users: 0,
        certificates: 3,
        hosts: 3,
        labelMemberships: 9,
        profileStatuses: 6,
        alreadyPresent: 0,
      });
      expect(await importedState(srv)).toEqual(await importedState(clean));
    } finally {
      await clean.close();
    }
    expect(
      (await db.selectFrom('import_runs').select(['status', 'cursor_id']).execute()).map((r) => [
        r.status,
        r.cursor_id,
      ]),
    ).toEqual([['done', udids[2]]]);
  });
});
