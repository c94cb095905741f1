import { createCipheriv, createHash, randomBytes, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { createImporter, FleetSource, SourceDb } from '../../src/migrate/index.js';
import { issueDeviceIdentity } from '../helpers/appleDevice.js';
import { createSourceDatabase } from '../helpers/importSource.js';
import { describeEachDialect } from '../helpers/testServer.js';

const topic = 'com.apple.mgmt.External.5f0c9a1b-2c3d-4e5f-9a0b-1c2d3e4f5a6b';
const fleetKey = 'fleet-server-private-key-0123456789abcdef';

/** Fleet's sealing of mdm_config_assets: the bytes nonce ‖ AES-256-GCM ciphertext ‖ tag, key = first 32 bytes. */
function fleetEncrypt(plain: string): Buffer {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', Buffer.from(fleetKey).subarray(0, 32), nonce);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([nonce, ct, c.getAuthTag()]);
}

/** The Fleet tables the import reads, with Fleet's column names (fleet-data-model.md). */
const fleetTables = `
CREATE TABLE teams (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE);
CREATE TABLE hosts (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, uuid VARCHAR(255) NOT NULL DEFAULT '', hardware_serial VARCHAR(255) NOT NULL DEFAULT '',
  platform VARCHAR(255) NOT NULL DEFAULT '', team_id INT UNSIGNED NULL, hostname VARCHAR(255) NOT NULL DEFAULT '', computer_name VARCHAR(255) NOT NULL DEFAULT '',
  hardware_model VARCHAR(255) NOT NULL DEFAULT '', os_version VARCHAR(255) NOT NULL DEFAULT '');
CREATE TABLE host_mdm (host_id INT UNSIGNED PRIMARY KEY, enrolled TINYINT(1) NOT NULL DEFAULT 0, server_url VARCHAR(255) NOT NULL DEFAULT '',
  installed_from_dep TINYINT(1) NOT NULL DEFAULT 0, is_personal_enrollment TINYINT(1) NOT NULL DEFAULT 0);
CREATE TABLE mdm_config_assets (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL, value LONGBLOB NOT NULL,
  md5_checksum BINARY(16) NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, deleted_at TIMESTAMP NULL, deletion_uuid VARCHAR(127) NOT NULL DEFAULT '');
CREATE TABLE nano_devices (id VARCHAR(255) PRIMARY KEY, identity_cert TEXT NULL, serial_number VARCHAR(127) NULL, unlock_token MEDIUMBLOB NULL,
  unlock_token_at TIMESTAMP NULL, authenticate TEXT NOT NULL, authenticate_at TIMESTAMP NOT NULL, token_update TEXT NULL, token_update_at TIMESTAMP NULL,
  bootstrap_token_b64 TEXT NULL, bootstrap_token_at TIMESTAMP NULL, platform VARCHAR(255) NOT NULL DEFAULT '', created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE nano_users (id VARCHAR(255) NOT NULL, device_id VARCHAR(255) NOT NULL, user_short_name VARCHAR(255) NULL, user_long_name VARCHAR(255) NULL,
  token_update TEXT NULL, token_update_at TIMESTAMP NULL, PRIMARY KEY (id, device_id));
CREATE TABLE nano_enrollments (id VARCHAR(255) PRIMARY KEY, device_id VARCHAR(255) NOT NULL, user_id VARCHAR(255) NULL, type VARCHAR(31) NOT NULL,
  topic VARCHAR(255) NOT NULL, push_magic VARCHAR(127) NOT NULL, token_hex VARCHAR(255) NOT NULL, enabled TINYINT(1) NOT NULL DEFAULT 1,
  token_update_tally INT NOT NULL DEFAULT 1, last_seen_at TIMESTAMP NOT NULL, enrolled_from_migration TINYINT(1) NOT NULL DEFAULT 0,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE nano_cert_auth_associations (id VARCHAR(255) NOT NULL, sha256 CHAR(64) NOT NULL, cert_not_valid_after TIMESTAMP NULL, PRIMARY KEY (id, sha256));
CREATE TABLE nano_commands (command_uuid VARCHAR(127) PRIMARY KEY);
CREATE TABLE policies (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255));
`;

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
    await c.query(fleetTables);
    const identity = await issueDeviceIdentity(server(), { CN: 'fleet device' }, fleetCa);
    device = new SimulatedAppleDevice({ serverUrl: server().url, topic, identity, serial: 'C02FLEET001' });
    const x = new X509Certificate(identity.certPem);
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
    await c.query("INSERT INTO teams (name) VALUES ('Workstations')");
    await c.query(
      "INSERT INTO hosts (uuid, hardware_serial, platform, team_id, hostname, computer_name, hardware_model, os_version) VALUES (?, ?, 'darwin', 1, 'mac-1', 'Mac 1', 'Mac15,3', 'macOS 14.4.1')",
      [device.udid, device.serial],
    );
    await c.query(
      "INSERT INTO host_mdm (host_id, enrolled, server_url) VALUES (1, 1, 'https://fleet.example.com/mdm/apple/mdm')",
    );
    await c.query(
      'INSERT INTO nano_devices (id, identity_cert, serial_number, authenticate, authenticate_at, platform) VALUES (?, ?, ?, \'<?xml version="1.0"?><plist version="1.0"><dict/></plist>\', NOW(), \'darwin\')',
      [device.udid, identity.certPem, device.serial],
    );
    await c.query(
      "INSERT INTO nano_enrollments (id, device_id, type, topic, push_magic, token_hex, last_seen_at) VALUES (?, ?, 'Device', ?, ?, ?, NOW())",
      [device.udid, device.udid, topic, device.pushMagic, device.pushTokenHex],
    );
    await c.query(
      'INSERT INTO nano_cert_auth_associations (id, sha256, cert_not_valid_after) VALUES (?, ?, ?)',
      [
        device.udid,
        createHash('sha256').update(x.raw).digest('hex'),
        new Date(x.validTo).toISOString().slice(0, 19).replace('T', ' '),
      ],
    );
    await c.query("INSERT INTO policies (name) VALUES ('Firewall on'), ('Gatekeeper on')");
  });
  afterAll(async () => {
    await source?.drop();
  });

  it('refuses a wrong Fleet private key and writes nothing', async () => {
    const db = server().testDb.database.db;
    const before = [
      await db.selectFrom('nano_devices').select('id').execute(),
      await db.selectFrom('mdm_config_assets').select(['name', 'deletion_uuid']).orderBy('id').execute(),
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
    ]).toEqual(before);
  });

  it('imports hosts, teams, push certificate and CA; the device checks in with its Fleet identity', async () => {
    const srv = server();
    const src = new FleetSource(await SourceDb.open(source.url), fleetKey);
    try {
      const r = await importer().run(src, { dryRun: false, batchSize: 10 });
      expect(r.counts).toEqual({
        devices: 1,
        enrollments: 1,
        users: 0,
        certificates: 1,
        hosts: 1,
        alreadyPresent: 0,
      });
      expect(r.teamsCreated).toBe(1);
      expect(r.apns).toBe('imported');
      expect(r.notCarried).toEqual([{ what: 'policies', count: 2, why: 'not imported' }]);
    } finally {
      await src.close();
    }
    const host = await srv.app.services.hostStore.findByUuid(device.udid);
    expect(host).toMatchObject({
      hardware_serial: 'C02FLEET001',
      computer_name: 'Mac 1',
      os_version: 'macOS 14.4.1',
    });
    const team = await srv.testDb.database.db
      .selectFrom('teams')
      .select('id')
      .where('name', '=', 'Workstations')
      .executeTakeFirstOrThrow();
    expect(host?.team_id).toBe(Number(team.id));
    expect((await srv.app.services.assets.getOne('apns_cert'))?.toString()).toBe(apns.certPem);
    expect(await device.connect()).toEqual([]);
  });
});
