import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { envelopedDecrypt } from '../../src/crypto/envelope.js';
import { discoveryPasses } from '../../src/agents/sim/discovery.js';
import { SimulatedFleetd } from '../../src/agents/sim/fleetd.js';
import { fileVaultProfileIdentifier } from '../../src/agents/sim/fileVaultProfile.js';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { parseXml, childrenNamed, textAt } from '../../src/windows/xml.js';

const vector = (name: string) =>
  JSON.parse(readFileSync(new URL(`../vectors/orbit/${name}`, import.meta.url), 'utf8'));

const escrowCa = createCertificateAuthority('Simulator Test Escrow CA');

/** A FileVault profile shaped like Fleet's: FileVault2, escrow pointing at a pkcs1 payload. */
function fileVaultProfile(certPem: string): Buffer {
  const der = new X509Certificate(certPem).raw.toString('base64');
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>PayloadContent</key><array>
<dict><key>PayloadType</key><string>com.apple.MCX.FileVault2</string><key>Enable</key><string>On</string>
<key>PayloadUUID</key><string>3548D750-6357-4910-8DEA-D80ADCE2C787</string><key>PayloadIdentifier</key><string>x.fv</string></dict>
<dict><key>PayloadType</key><string>com.apple.security.FDERecoveryKeyEscrow</string><key>Location</key><string>Fleet</string>
<key>EncryptCertPayloadUUID</key><string>A326B71F-EB80-41A5-A8CD-A6F932544281</string>
<key>PayloadUUID</key><string>E1C1B4A8-0000-4000-8000-000000000001</string><key>PayloadIdentifier</key><string>x.escrow</string></dict>
<dict><key>PayloadType</key><string>com.apple.security.pkcs1</string><key>PayloadContent</key><data>${der}</data>
<key>PayloadUUID</key><string>A326B71F-EB80-41A5-A8CD-A6F932544281</string><key>PayloadIdentifier</key><string>x.cert</string></dict>
</array>
<key>PayloadDisplayName</key><string>Disk encryption</string>
<key>PayloadIdentifier</key><string>${fileVaultProfileIdentifier}</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>F0E1D2C3-0000-4000-8000-000000000009</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>`);
}

function pairedMac() {
  const mac = new SimulatedAppleDevice({
    serverUrl: 'http://127.0.0.1:1',
    identity: { certPem: 'unused', keyPem: 'unused' },
  });
  const fleetd = new SimulatedFleetd({ serverUrl: 'http://127.0.0.1:1', enrollSecret: 's', apple: mac });
  return { mac, fleetd };
}

describe('simulated fleetd: discovery', () => {
  const tables = new Set(['mdm', 'macos_profiles', 'filevault_prk', 'file_lines']);
  it('decides Fleet discovery queries from the tables the machine has', () => {
    for (const [name, sql] of Object.entries(
      vector('osquery_distributed_read_response_mdm.json').discovery as Record<string, string>,
    )) {
      expect(discoveryPasses(sql, tables), name).toBe(true);
      expect(discoveryPasses(sql, new Set()), name).toBe(false);
    }
    const reg = (t: string) =>
      `SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = '${t}'`;
    expect(
      discoveryPasses(
        `SELECT 1 WHERE EXISTS (${reg('file_lines')}) AND NOT EXISTS (${reg('filevault_prk')});`,
        tables,
      ),
    ).toBe(false);
    expect(
      discoveryPasses(
        `SELECT 1 WHERE EXISTS (${reg('macos_profiles')}) AND NOT EXISTS (${reg('macos_user_profiles')});`,
        tables,
      ),
    ).toBe(true);
    expect(discoveryPasses(`SELECT 1 WHERE NOT EXISTS (${reg('disk_space')});`, tables)).toBe(true);
    expect(discoveryPasses('SELECT 1', new Set())).toBe(true);
    // Anything else is not a table check: no row unless the caller decides otherwise.
    expect(discoveryPasses("SELECT 1 FROM apps WHERE bundle_identifier = 'com.example'", tables)).toBe(false);
  });
});

describe('simulated fleetd: macOS answers', () => {
  it('answers the MDM detail queries of the vector from the paired Mac, in Fleet column shapes', () => {
    const { mac, fleetd } = pairedMac();
    const read = vector('osquery_distributed_read_response_mdm.json');
    const round = fleetd.answer(read.queries, read.discovery);
    const expected = vector('osquery_distributed_write_mdm_macos.json');
    for (const name of Object.keys(expected.queries)) {
      const rows = round.written!.queries[name];
      expect(round.written!.statuses[name], name).toBe(0);
      // (FileVault is off here, so its queries have no row to compare.)
      if (expected.queries[name].length && rows.length)
        expect(Object.keys(rows[0] ?? {}).sort(), name).toEqual(
          Object.keys(expected.queries[name][0]).sort(),
        );
    }
    expect(round.written!.queries.fleet_detail_query_mdm).toEqual([
      {
        enrolled: 'true',
        server_url: mac.serverUrl,
        installed_from_dep: 'false',
        payload_identifier: 'com.fleetdm.fleet.mdm.apple',
      },
    ]);
    // Every value is a string, as osquery sends them.
    for (const rows of Object.values(round.written!.queries))
      for (const row of rows) for (const v of Object.values(row)) expect(typeof v).toBe('string');
  });

  it('turns FileVault on at login once the profile is installed, escrows to its certificate, rotates on request', () => {
    const { mac, fleetd } = pairedMac();
    const m = fleetd.machine;
    m.userLogsIn();
    expect(m.fileVault.on).toBe(false);
    expect(fleetd.rowsFor('fleet_detail_query_mdm_disk_encryption_key_file_darwin')).toEqual([
      { encrypted: '0', filevault_key: '' },
    ]);
    mac.profiles.set(fileVaultProfileIdentifier, {
      identifier: fileVaultProfileIdentifier,
      uuid: 'F0E1D2C3-0000-4000-8000-000000000009',
      displayName: 'Disk encryption',
      payload: fileVaultProfile(escrowCa.certPem),
    });
    m.userLogsIn();
    expect(m.fileVault.on).toBe(true);
    const [row] = fleetd.rowsFor('fleet_detail_query_mdm_disk_encryption_key_file_darwin');
    expect(row.encrypted).toBe('1');
    const prk = envelopedDecrypt(Buffer.from(row.filevault_key, 'base64'), {
      cert: escrowCa.certPem,
      key: escrowCa.keyPem,
    }).toString();
    expect(prk).toBe(m.fileVault.recoveryKey);
    expect(fleetd.rowsFor('fleet_detail_query_disk_encryption_darwin')).toEqual([{ '1': '1' }]);
    expect(
      fleetd
        .rowsFor('fleet_detail_query_mdm_config_profiles_darwin')
        .map((r) => r.identifier)
        .sort(),
    ).toEqual(['com.fleetdm.fleet.mdm.apple', fileVaultProfileIdentifier]);

    // Escrow Buddy: a new key at the next login, once.
    m.fileVault.generateNewKeyAtLogin = true;
    m.userLogsIn();
    expect(m.fileVault.recoveryKey).not.toBe(prk);
    expect(m.fileVault.generateNewKeyAtLogin).toBe(false);
  });

  it('answers label queries through the machine and knows the built-in platform labels', () => {
    const { fleetd } = pairedMac();
    expect(
      fleetd.rowsFor('fleet_label_query_7', "SELECT 1 FROM os_version WHERE platform = 'darwin';"),
    ).toEqual([{ '1': '1' }]);
    expect(
      fleetd.rowsFor('fleet_label_query_8', "SELECT 1 FROM os_version WHERE platform = 'windows';"),
    ).toEqual([]);
    fleetd.machine.labelAnswer = (sql, id) =>
      id === 99 && sql.includes('Foo.app') ? [{ path: '/Applications/Foo.app' }] : [];
    expect(
      fleetd.rowsFor('fleet_label_query_99', "SELECT path FROM apps WHERE path = '/Applications/Foo.app'"),
    ).toEqual([{ path: '/Applications/Foo.app' }]);
  });
});

describe('simulated fleetd: Windows answers', () => {
  it('answers mdm_bridge Gets from the PC configuration tree (Policy/Result read through Policy/Config)', () => {
    const pc = new SimulatedWindowsDevice({ serverUrl: 'http://127.0.0.1:1', enrollSecret: 's' });
    pc.tree.set('./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera', { data: '0', format: 'int' });
    const fleetd = new SimulatedFleetd({ serverUrl: 'http://127.0.0.1:1', enrollSecret: 's', windows: pc });
    const sql =
      "SELECT raw_mdm_command_output FROM mdm_bridge WHERE mdm_command_input = '<SyncBody>" +
      '<Get><CmdID>1255198959</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/Policy/Result/Camera/AllowCamera</LocURI></Target></Item></Get>' +
      "<Get><CmdID>42</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/Policy/Result/Nope/Missing</LocURI></Target></Item></Get></SyncBody>';";
    const [row] = fleetd.rowsFor('fleet_detail_query_mdm_config_profiles_windows', sql);
    const body = parseXml(row.raw_mdm_command_output).children.find((c) => c.name === 'SyncBody')!;
    const statuses = childrenNamed(body, 'Status').map((s) => [textAt(s, 'CmdRef'), textAt(s, 'Data')]);
    expect(statuses).toEqual([
      ['1255198959', '200'],
      ['42', '404'],
    ]);
    const results = childrenNamed(body, 'Results');
    expect(results).toHaveLength(1);
    expect(textAt(results[0], 'CmdRef')).toBe('1255198959');
    expect(textAt(results[0], 'Item', 'Data')).toBe('0');

    // Not enrolled: the registry has no enrollment, so no device id and an empty discovery URL.
    expect(fleetd.rowsFor('fleet_detail_query_mdm_device_id_windows')).toEqual([]);
    expect(fleetd.rowsFor('fleet_detail_query_mdm_windows')[0].discovery_service_url).toBe('');
    expect(fleetd.machine.enableBitLocker()).toMatchObject({ recoveryPassword: expect.any(String) });
    expect(fleetd.rowsFor('fleet_detail_query_disk_encryption_windows')).toEqual([{ '1': '1' }]);
  });
});
