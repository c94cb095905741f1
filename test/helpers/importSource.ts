import { createCipheriv, createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createConnection, type Connection } from 'mysql2/promise';
import { mysqlRootUrl } from './testServer.js';

/** A scratch MySQL database standing for another MDM's database; `drop` removes it. */
export async function createSourceDatabase(
  prefix: string,
): Promise<{ url: string; conn: Connection; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const root = await createConnection({ uri: mysqlRootUrl });
  await root.query(`CREATE DATABASE \`${name}\``);
  await root.end();
  const url = `${mysqlRootUrl}/${name}`;
  const conn = await createConnection({ uri: url, multipleStatements: true, timezone: 'Z' });
  return {
    url,
    conn,
    async drop() {
      await conn.end();
      const r = await createConnection({ uri: mysqlRootUrl });
      await r.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await r.end();
    },
  };
}

/** NanoMDM's own MySQL schema (test/vectors/nanomdm/schema.sql). */
export function nanomdmSchemaSql(): string {
  return readFileSync(new URL('../vectors/nanomdm/schema.sql', import.meta.url), 'utf8');
}

/** The key a test Fleet server sealed its mdm_config_assets with (FLEET_SERVER_PRIVATE_KEY). */
export const fleetKey = 'fleet-server-private-key-0123456789abcdef';

/** Fleet's sealing of mdm_config_assets: the bytes nonce ‖ AES-256-GCM ciphertext ‖ tag, key = first 32 bytes. */
export function fleetEncrypt(plain: string, key = fleetKey): Buffer {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', Buffer.from(key).subarray(0, 32), nonce);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([nonce, ct, c.getAuthTag()]);
}

/** The Fleet tables the import reads, with Fleet's column names and types (fleet-data-model.md). */
export const fleetTablesSql = `
CREATE TABLE teams (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE);
CREATE TABLE hosts (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, uuid VARCHAR(255) NOT NULL DEFAULT '', hardware_serial VARCHAR(255) NOT NULL DEFAULT '',
  platform VARCHAR(255) NOT NULL DEFAULT '', team_id INT UNSIGNED NULL, hostname VARCHAR(255) NOT NULL DEFAULT '', computer_name VARCHAR(255) NOT NULL DEFAULT '',
  hardware_model VARCHAR(255) NOT NULL DEFAULT '', os_version VARCHAR(255) NOT NULL DEFAULT '', label_updated_at TIMESTAMP NOT NULL DEFAULT '2000-01-01 00:00:00');
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
CREATE TABLE labels (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE, description VARCHAR(255) NOT NULL DEFAULT '',
  query MEDIUMTEXT NOT NULL, platform VARCHAR(255) NOT NULL DEFAULT '', label_type INT UNSIGNED NOT NULL DEFAULT 0,
  label_membership_type INT UNSIGNED NOT NULL DEFAULT 0, criteria JSON NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE label_membership (host_id INT UNSIGNED NOT NULL, label_id INT UNSIGNED NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (host_id, label_id));
CREATE TABLE mdm_apple_configuration_profiles (profile_id INT UNSIGNED AUTO_INCREMENT UNIQUE, profile_uuid VARCHAR(37) NOT NULL PRIMARY KEY,
  team_id INT UNSIGNED NOT NULL DEFAULT 0, identifier VARCHAR(255) NOT NULL, name VARCHAR(255) NOT NULL, scope ENUM('System','User') NOT NULL DEFAULT 'System',
  mobileconfig MEDIUMBLOB NOT NULL, checksum BINARY(16) NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  uploaded_at TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP, secrets_updated_at TIMESTAMP NULL, UNIQUE (team_id, identifier), UNIQUE (team_id, name));
CREATE TABLE mdm_windows_configuration_profiles (profile_uuid VARCHAR(37) NOT NULL PRIMARY KEY, team_id INT UNSIGNED NOT NULL DEFAULT 0,
  name VARCHAR(255) NOT NULL, syncml MEDIUMBLOB NOT NULL, checksum BINARY(16) GENERATED ALWAYS AS (UNHEX(MD5(syncml))) STORED,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, uploaded_at TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE (team_id, name));
CREATE TABLE mdm_apple_declarations (declaration_uuid VARCHAR(37) NOT NULL PRIMARY KEY, team_id INT UNSIGNED NOT NULL DEFAULT 0,
  identifier VARCHAR(255) NOT NULL, name VARCHAR(255) NOT NULL, raw_json MEDIUMTEXT NOT NULL, scope ENUM('System','User') NOT NULL DEFAULT 'System',
  secrets_updated_at TIMESTAMP NULL, token BINARY(16) GENERATED ALWAYS AS (UNHEX(MD5(CONCAT(raw_json, IFNULL(secrets_updated_at, ''))))) STORED,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, uploaded_at TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE (team_id, identifier), UNIQUE (team_id, name));
CREATE TABLE mdm_configuration_profile_labels (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, apple_profile_uuid VARCHAR(37) NULL,
  windows_profile_uuid VARCHAR(37) NULL, label_name VARCHAR(255) NOT NULL, label_id INT UNSIGNED NULL, exclude TINYINT(1) NOT NULL DEFAULT 0,
  require_all TINYINT(1) NOT NULL DEFAULT 0, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE mdm_declaration_labels (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, apple_declaration_uuid VARCHAR(37) NOT NULL,
  label_name VARCHAR(255) NOT NULL, label_id INT UNSIGNED NULL, exclude TINYINT(1) NOT NULL DEFAULT 0, require_all TINYINT(1) NOT NULL DEFAULT 0,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE host_mdm_apple_profiles (host_uuid VARCHAR(255) NOT NULL, profile_uuid VARCHAR(37) NOT NULL, profile_identifier VARCHAR(255) NOT NULL,
  profile_name VARCHAR(255) NOT NULL DEFAULT '', status VARCHAR(20) NULL, operation_type VARCHAR(20) NULL, detail TEXT NULL,
  command_uuid VARCHAR(127) NOT NULL, checksum BINARY(16) NOT NULL, retries TINYINT UNSIGNED NOT NULL DEFAULT 0,
  scope ENUM('System','User') NOT NULL DEFAULT 'System', PRIMARY KEY (host_uuid, profile_uuid));
CREATE TABLE host_mdm_apple_declarations (host_uuid VARCHAR(255) NOT NULL, declaration_uuid VARCHAR(37) NOT NULL, status VARCHAR(20) NULL,
  operation_type VARCHAR(20) NULL, detail TEXT NULL, token BINARY(16) NOT NULL, declaration_identifier VARCHAR(255) NOT NULL,
  declaration_name VARCHAR(255) NOT NULL DEFAULT '', scope ENUM('System','User') NOT NULL DEFAULT 'System', PRIMARY KEY (host_uuid, declaration_uuid));
`;

/** A minimal unsigned .mobileconfig with one payload (Fleet stores the uploaded bytes as they are). */
export function mobileconfig(identifier: string, name: string, payloadType = 'com.apple.dock'): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>PayloadType</key><string>${payloadType}</string><key>PayloadIdentifier</key><string>${identifier}.p1</string>
<key>PayloadUUID</key><string>${identifier}-payload</string><key>PayloadVersion</key><integer>1</integer>
</dict></array>
<key>PayloadDisplayName</key><string>${name}</string><key>PayloadIdentifier</key><string>${identifier}</string>
<key>PayloadType</key><string>Configuration</string><key>PayloadUUID</key><string>${identifier}-uuid</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>
`;
}

export const fleetDefs = {
  dockUuid: 'a10e6c1f2-4b3a-4c5d-8e9f-0a1b2c3d4e5f',
  dock: mobileconfig('com.example.dock', 'Dock'),
  fleetdUuid: 'a19f8e7d6-c5b4-4a39-8281-706f5e4d3c2b',
  fleetd: mobileconfig('com.fleetdm.fleetd.config', 'Fleetd configuration', 'com.fleetdm.fleetd'),
  cameraUuid: 'w13c2b1a0-9f8e-4d7c-6b5a-493827160504',
  camera: `<Replace><Item><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Target><LocURI>./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera</LocURI></Target><Data>0</Data></Item></Replace>`,
  passcodeUuid: 'd15e4f3a2-b1c0-4d9e-8f7a-6b5c4d3e2f1a',
  passcode:
    '{"Type":"com.apple.configuration.passcode.settings","Identifier":"com.example.passcode","Payload":{"MinimumLength":8}}',
};

/**
 * Fleet's labels and profiles: team 1 "Workstations"; the built-in "macOS" label; a manual label
 * and two dynamic ones made on 2024-01-01; an Apple profile scoped to the manual label, Fleet's
 * own fleetd profile, a Windows profile excluding a dynamic label, and a declaration.
 */
export async function seedFleetDefinitions(c: Connection): Promise<void> {
  await c.query("INSERT INTO teams (id, name) VALUES (1, 'Workstations')");
  await c.query(
    `INSERT INTO labels (id, name, description, query, platform, label_type, label_membership_type, created_at) VALUES
      (1, 'macOS', 'All macOS hosts', 'SELECT 1 FROM os_version WHERE platform = ''darwin'';', 'darwin', 1, 0, '2023-01-01 00:00:00'),
      (2, 'Executives', 'Hand-picked', '', '', 0, 1, '2024-01-01 00:00:00'),
      (3, 'Has Chrome', 'Chrome installed', 'SELECT 1 FROM apps WHERE bundle_identifier = ''com.google.Chrome'';', 'darwin', 0, 0, '2024-01-01 00:00:00'),
      (4, 'Low disk', '', 'SELECT 1 FROM disk_info WHERE free < 10;', '', 0, 0, '2024-01-01 00:00:00')`,
  );
  await c.query(
    'INSERT INTO mdm_apple_configuration_profiles (profile_uuid, team_id, identifier, name, mobileconfig, checksum) VALUES (?, 1, ?, ?, ?, UNHEX(MD5(?))), (?, 1, ?, ?, ?, UNHEX(MD5(?)))',
    [
      fleetDefs.dockUuid,
      'com.example.dock',
      'Dock',
      fleetDefs.dock,
      fleetDefs.dock,
      fleetDefs.fleetdUuid,
      'com.fleetdm.fleetd.config',
      'Fleetd configuration',
      fleetDefs.fleetd,
      fleetDefs.fleetd,
    ],
  );
  await c.query(
    "INSERT INTO mdm_windows_configuration_profiles (profile_uuid, team_id, name, syncml) VALUES (?, 1, 'Camera off', ?)",
    [fleetDefs.cameraUuid, fleetDefs.camera],
  );
  await c.query(
    "INSERT INTO mdm_apple_declarations (declaration_uuid, team_id, identifier, name, raw_json) VALUES (?, 1, 'com.example.passcode', 'Passcode', ?)",
    [fleetDefs.passcodeUuid, fleetDefs.passcode],
  );
  await c.query(
    `INSERT INTO mdm_configuration_profile_labels (apple_profile_uuid, windows_profile_uuid, label_name, label_id, exclude, require_all) VALUES
      (?, NULL, 'Executives', 2, 0, 0), (NULL, ?, 'Has Chrome', 3, 1, 0)`,
    [fleetDefs.dockUuid, fleetDefs.cameraUuid],
  );
  await c.query(
    "INSERT INTO mdm_declaration_labels (apple_declaration_uuid, label_name, label_id, exclude, require_all) VALUES (?, 'Low disk', 4, 0, 0)",
    [fleetDefs.passcodeUuid],
  );
}

/**
 * One Fleet macOS host of team 1 with its MDM enrollment rows and per-host state: member of
 * "Executives" and "Low disk", evaluated (not a member) for "Has Chrome"; Dock verified, fleetd
 * verifying, the declaration verified.
 */
export async function seedFleetHost(
  c: Connection,
  d: {
    hostId: number;
    udid: string;
    serial: string;
    certPem: string;
    topic: string;
    pushMagic: string;
    pushTokenHex: string;
  },
): Promise<void> {
  const x = new X509Certificate(d.certPem);
  await c.query(
    "INSERT INTO hosts (id, uuid, hardware_serial, platform, team_id, hostname, computer_name, hardware_model, os_version, label_updated_at) VALUES (?, ?, ?, 'darwin', 1, ?, ?, 'Mac15,3', 'macOS 14.4.1', '2024-06-01 00:00:00')",
    [d.hostId, d.udid, d.serial, `mac-${d.hostId}`, `Mac ${d.hostId}`],
  );
  await c.query(
    "INSERT INTO host_mdm (host_id, enrolled, server_url) VALUES (?, 1, 'https://fleet.example.com/mdm/apple/mdm')",
    [d.hostId],
  );
  await c.query(
    'INSERT INTO nano_devices (id, identity_cert, serial_number, authenticate, authenticate_at, platform) VALUES (?, ?, ?, \'<?xml version="1.0"?><plist version="1.0"><dict/></plist>\', NOW(), \'darwin\')',
    [d.udid, d.certPem, d.serial],
  );
  await c.query(
    "INSERT INTO nano_enrollments (id, device_id, type, topic, push_magic, token_hex, last_seen_at) VALUES (?, ?, 'Device', ?, ?, ?, NOW())",
    [d.udid, d.udid, d.topic, d.pushMagic, d.pushTokenHex],
  );
  await c.query(
    'INSERT INTO nano_cert_auth_associations (id, sha256, cert_not_valid_after) VALUES (?, ?, ?)',
    [
      d.udid,
      createHash('sha256').update(x.raw).digest('hex'),
      new Date(x.validTo).toISOString().slice(0, 19).replace('T', ' '),
    ],
  );
  await c.query('INSERT INTO label_membership (host_id, label_id) VALUES (?, 1), (?, 2), (?, 4)', [
    d.hostId,
    d.hostId,
    d.hostId,
  ]);
  await c.query(
    `INSERT INTO host_mdm_apple_profiles (host_uuid, profile_uuid, profile_identifier, profile_name, status, operation_type, command_uuid, checksum) VALUES
      (?, ?, 'com.example.dock', 'Dock', 'verified', 'install', 'cmd-dock-1', UNHEX(MD5(?))),
      (?, ?, 'com.fleetdm.fleetd.config', 'Fleetd configuration', 'verifying', 'install', 'cmd-fleetd-1', UNHEX(MD5(?)))`,
    [d.udid, fleetDefs.dockUuid, fleetDefs.dock, d.udid, fleetDefs.fleetdUuid, fleetDefs.fleetd],
  );
  await c.query(
    "INSERT INTO host_mdm_apple_declarations (host_uuid, declaration_uuid, status, operation_type, token, declaration_identifier, declaration_name) VALUES (?, ?, 'verified', 'install', UNHEX(MD5(?)), 'com.example.passcode', 'Passcode')",
    [d.udid, fleetDefs.passcodeUuid, fleetDefs.passcode],
  );
}
