import { createHash, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { createImporter, ImportError, NanoMdmSource, SourceDb } from '../../src/migrate/index.js';
import { issueDeviceIdentity } from '../helpers/appleDevice.js';
import { createSourceDatabase, nanomdmSchemaSql } from '../helpers/importSource.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const topic = 'com.apple.mgmt.External.0b7c1a2e-3d4f-4a5b-8c6d-7e8f9a0b1c2d';

/** What an import may change, to show that a refused or repeated import changed nothing. */
async function snapshot(srv: TestServer) {
  const db = srv.testDb.database.db;
  return {
    devices: await db
      .selectFrom('nano_devices')
      .select(['id', 'serial_number', 'token_update'])
      .orderBy('id')
      .execute(),
    enrollments: await db.selectFrom('nano_enrollments').selectAll().orderBy('id').execute(),
    associations: await db.selectFrom('nano_cert_auth_associations').selectAll().orderBy('id').execute(),
    hosts: await db.selectFrom('hosts').select(['id', 'uuid', 'hardware_serial']).orderBy('id').execute(),
    hostMdm: await db.selectFrom('host_mdm').selectAll().orderBy('host_id').execute(),
    assets: await db
      .selectFrom('mdm_config_assets')
      .select(['name', 'deletion_uuid'])
      .orderBy('name')
      .orderBy('id')
      .execute(),
  };
}

describeEachDialect('flotilla import nanomdm', (server) => {
  let source: Awaited<ReturnType<typeof createSourceDatabase>>;
  const oldCa = createCertificateAuthority('Old NanoMDM SCEP CA');
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
  const nanoSource = async (url = source.url) =>
    new NanoMdmSource(await SourceDb.open(url), { certPem: oldCa.certPem, keyPem: oldCa.keyPem });

  beforeAll(async () => {
    source = await createSourceDatabase('nanomdm_src');
    await source.conn.query(nanomdmSchemaSql());
    // The device enrolled with NanoMDM: its identity is from the old CA; NanoMDM stored its messages.
    const identity = await issueDeviceIdentity(server(), { CN: 'nanomdm device' }, oldCa);
    device = new SimulatedAppleDevice({ serverUrl: server().url, topic, identity, serial: 'C02NANO0001' });
    const sent: string[] = [];
    const recorder = new SimulatedAppleDevice({
      serverUrl: 'http://nanomdm.invalid',
      topic,
      identity,
      udid: device.udid,
      serial: device.serial,
      fetchImpl: (async (_url: string, init: RequestInit) => {
        sent.push(Buffer.from(init.body as Uint8Array).toString('utf8'));
        return new Response('', { status: 200 });
      }) as typeof fetch,
    });
    Object.assign(recorder, { pushToken: device.pushToken, pushMagic: device.pushMagic });
    await recorder.authenticate();
    await recorder.tokenUpdate();
    const sha256 = createHash('sha256').update(new X509Certificate(identity.certPem).raw).digest('hex');
    const c = source.conn;
    await c.query(
      'INSERT INTO devices (id, identity_cert, serial_number, authenticate, authenticate_at, token_update, token_update_at) VALUES (?,?,?,?,NOW(),?,NOW())',
      [device.udid, identity.certPem, device.serial, sent[0], sent[1]],
    );
    await c.query(
      "INSERT INTO enrollments (id, device_id, type, topic, push_magic, token_hex, last_seen_at) VALUES (?,?,'Device',?,?,?,NOW())",
      [device.udid, device.udid, topic, device.pushMagic, device.pushTokenHex],
    );
    await c.query('INSERT INTO cert_auth_associations (id, sha256) VALUES (?,?)', [device.udid, sha256]);
    await c.query('INSERT INTO push_certs (topic, cert_pem, key_pem, stale_token) VALUES (?,?,?,1)', [
      topic,
      apns.certPem,
      apns.keyPem,
    ]);
    const old = buildCommandPlist('ProfileList', {});
    await c.query("INSERT INTO commands (command_uuid, request_type, command) VALUES (?, 'ProfileList', ?)", [
      old.commandUuid,
      old.plist.toString(),
    ]);
    await c.query('INSERT INTO enrollment_queue (id, command_uuid) VALUES (?,?)', [
      device.udid,
      old.commandUuid,
    ]);
  });
  afterAll(async () => {
    await source?.drop();
  });

  it('refuses a source with another schema and writes nothing', async () => {
    const other = await createSourceDatabase('nanomdm_old');
    try {
      await other.conn.query(nanomdmSchemaSql());
      await other.conn.query('ALTER TABLE enrollments DROP COLUMN token_update_tally');
      const before = await snapshot(server());
      const src = await nanoSource(other.url);
      try {
        await expect(importer().run(src, { dryRun: false, batchSize: 10 })).rejects.toThrow(
          new ImportError(
            `${src.key.slice('nanomdm:'.length)} is not a NanoMDM database of a supported schema version: missing column enrollments.token_update_tally`,
          ),
        );
      } finally {
        await src.close();
      }
      expect(await snapshot(server())).toEqual(before);
    } finally {
      await other.drop();
    }
  });

  it("refuses a SCEP CA key that is not the certificate's, writing nothing", async () => {
    const before = await snapshot(server());
    const src = new NanoMdmSource(await SourceDb.open(source.url), {
      certPem: oldCa.certPem,
      keyPem: apns.keyPem,
    });
    try {
      await expect(importer().run(src, { dryRun: false, batchSize: 10 })).rejects.toThrow(
        "the source's SCEP CA private key does not match its certificate",
      );
    } finally {
      await src.close();
    }
    expect(await snapshot(server())).toEqual(before);
  });

  it('dry run: reports what would change and writes nothing', async () => {
    const before = await snapshot(server());
    const src = await nanoSource();
    const progress: string[] = [];
    try {
      const r = await importer().run(src, { dryRun: true, batchSize: 10 }, (d, t) =>
        progress.push(`${d}/${t}`),
      );
      expect(r.counts).toEqual({
        devices: 1,
        enrollments: 1,
        users: 0,
        certificates: 1,
        hosts: 1,
        labelMemberships: 0,
        profileStatuses: 0,
        alreadyPresent: 0,
      });
      expect(r.apns).toBe('imported');
      expect(r.scepCasTrusted).toBe(1);
      expect(r.notCarried).toEqual([
        { what: 'commands and their results (command history)', count: 1, why: 'history stays with NanoMDM' },
        {
          what: 'queued command deliveries',
          count: 1,
          why: 'commands pending in NanoMDM are not re-sent; queue them again in Flotilla',
        },
      ]);
      expect(progress).toEqual(['1/1']);
    } finally {
      await src.close();
    }
    expect(await snapshot(server())).toEqual(before);
  });

  it('imports the device: it keeps its identity and push token, checks in and gets commands; a re-run changes nothing', async () => {
    const srv = server();
    const src = await nanoSource();
    try {
      const r = await importer().run(src, { dryRun: false, batchSize: 10 });
      expect(r.counts).toEqual({
        devices: 1,
        enrollments: 1,
        users: 0,
        certificates: 1,
        hosts: 1,
        labelMemberships: 0,
        profileStatuses: 0,
        alreadyPresent: 0,
      });
    } finally {
      await src.close();
    }
    const db = srv.testDb.database.db;
    const host = await srv.app.services.hostStore.findByUuid(device.udid);
    expect(host).toMatchObject({ uuid: device.udid, hardware_serial: 'C02NANO0001', platform: 'darwin' });
    const enrollment = await db
      .selectFrom('nano_enrollments')
      .selectAll()
      .where('id', '=', device.udid)
      .executeTakeFirstOrThrow();
    expect(enrollment).toMatchObject({ topic, token_hex: device.pushTokenHex, push_magic: device.pushMagic });
    expect(Number(enrollment.enrolled_from_migration)).toBe(1);
    const assoc = await db
      .selectFrom('nano_cert_auth_associations')
      .selectAll()
      .where('id', '=', device.udid)
      .executeTakeFirstOrThrow();
    expect(Number(assoc.from_migration)).toBe(1);
    expect(assoc.cert_not_valid_after).not.toBeNull();

    // The device, unchanged, talks to the new server with its old identity.
    const c = buildCommandPlist('SecurityInfo', {});
    await srv.app.services.appleQueue.enqueue([device.udid], {
      commandUuid: c.commandUuid,
      requestType: 'SecurityInfo',
      plist: c.plist,
    });
    const handled = await device.connect();
    expect(handled.map((h) => [h.commandUuid, h.requestType])).toEqual([[c.commandUuid, 'SecurityInfo']]);
    // Its next real TokenUpdate makes the enrollment ours, without a new enrollment's activity.
    await device.tokenUpdate();
    const after = await db
      .selectFrom('nano_enrollments')
      .selectAll()
      .where('id', '=', device.udid)
      .executeTakeFirstOrThrow();
    expect(Number(after.enrolled_from_migration)).toBe(0);
    const activities = await db
      .selectFrom('activities')
      .select('activity_type')
      .where('activity_type', '=', 'mdm_enrolled')
      .execute();
    expect(activities).toEqual([]);

    const before = await snapshot(srv);
    const again = await nanoSource();
    try {
      const r2 = await importer().run(again, { dryRun: false, batchSize: 10 });
      expect(r2.counts).toEqual({
        devices: 0,
        enrollments: 0,
        users: 0,
        certificates: 0,
        hosts: 0,
        labelMemberships: 0,
        profileStatuses: 0,
        alreadyPresent: 1,
      });
      expect(r2.apns).toBe('unchanged');
      expect(r2.scepCasTrusted).toBe(0);
    } finally {
      await again.close();
    }
    expect(await snapshot(srv)).toEqual(before);
  });
});
