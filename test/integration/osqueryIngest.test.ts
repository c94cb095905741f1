import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, expect, it, vi } from 'vitest';
import { dbNow } from '../../src/db/dialect.js';
import { enrollAgent, hostRow, markReported, osquery, writeBody } from '../helpers/osqueryAgent.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const secret = 'osquery-ingest-global-secret';
const writeVector = JSON.parse(
  readFileSync(new URL('../vectors/orbit/osquery_distributed_write_mdm_macos.json', import.meta.url), 'utf8'),
);

async function write(srv: TestServer, body: unknown) {
  const res = await osquery(srv, 'distributed/write', body);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({});
}

function hostMdm(srv: TestServer, hostId: number) {
  return srv.app.services.database.db
    .selectFrom('host_mdm')
    .selectAll()
    .where('host_id', '=', hostId)
    .executeTakeFirst();
}

describeEachDialect('osquery distributed write: detail query ingestion', (server) => {
  beforeAll(async () => {
    const srv = server();
    await srv.app.services.enrollSecrets.replace(null, null, [secret]);
    await srv.app.services.appConfig.patch({
      server_settings: { server_url: 'https://flotilla.example.com' },
      mdm: { enabled_and_configured: true, windows_enabled_and_configured: true },
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it('the MDM vector: host_mdm says Fleet, disk encrypted, the FileVault key handed to disk encryption', async () => {
    const srv = server();
    const escrow = vi.spyOn(srv.app.services.diskEncryption, 'escrowFileVaultKey').mockResolvedValue();
    await srv.app.services.appConfig.patch({ mdm: { enable_disk_encryption: true } });
    try {
      const agent = await enrollAgent(srv, secret);
      await write(srv, { ...writeVector, node_key: agent.nodeKey });
      expect(await hostMdm(srv, agent.hostId)).toMatchObject({
        enrolled: 1,
        server_url: 'https://fleet.example.com/mdm/apple/mdm',
        installed_from_dep: 0,
        mdm_name: 'Fleet',
        is_server: 0,
      });
      const row = await hostRow(srv, agent.hostId);
      expect(Number(row.disk_encryption_enabled)).toBe(1);
      expect(Boolean(Number(row.refetch_requested))).toBe(false);
      const key = writeVector.queries.fleet_detail_query_mdm_disk_encryption_key_file_darwin[0].filevault_key;
      expect(escrow).toHaveBeenCalledTimes(1);
      expect(escrow.mock.calls[0][0]).toMatchObject({ id: agent.hostId });
      expect(escrow.mock.calls[0][1]).toBe(key);
    } finally {
      await srv.app.services.appConfig.patch({ mdm: { enable_disk_encryption: false } });
    }
  });

  it('one result failing to ingest does not stop the others (and the write still answers {})', async () => {
    const srv = server();
    vi.spyOn(srv.app.services.diskEncryption, 'escrowFileVaultKey').mockRejectedValue(
      new Error('escrow down'),
    );
    await srv.app.services.appConfig.patch({ mdm: { enable_disk_encryption: true } });
    try {
      const agent = await enrollAgent(srv, secret);
      await write(srv, { ...writeVector, node_key: agent.nodeKey });
      expect(await hostMdm(srv, agent.hostId)).toMatchObject({ enrolled: 1, mdm_name: 'Fleet' });
      expect(Number((await hostRow(srv, agent.hostId)).disk_encryption_enabled)).toBe(1);
    } finally {
      await srv.app.services.appConfig.patch({ mdm: { enable_disk_encryption: false } });
    }
  });

  it('vitals fill the host row and move the detail time; the intervals come from the flags', async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret);
    await markReported(srv, agent.hostId, {
      detail_updated_at: '2000-01-01 00:00:00.000',
      refetch_requested: 1,
    });
    await write(
      srv,
      writeBody(agent.nodeKey, {
        fleet_detail_query_system_info: [
          {
            hostname: 'ingested-mbp',
            computer_name: 'Ingested MacBook',
            uuid: agent.uuid,
            cpu_type: 'arm64e',
            cpu_subtype: 'ARM64E',
            cpu_brand: 'Apple M2',
            cpu_physical_cores: '8',
            cpu_logical_cores: '8',
            physical_memory: '25769803776',
            hardware_vendor: 'Apple Inc.',
            hardware_model: 'Mac14,2',
            hardware_version: '',
            hardware_serial: 'C02INGEST001',
          },
        ],
        fleet_detail_query_os_version: [
          {
            name: 'macOS',
            version: '14.2.1',
            major: '14',
            minor: '2',
            patch: '1',
            build: '23C71',
            platform: 'darwin',
            platform_like: 'darwin',
            codename: '',
            extra: '',
          },
        ],
        fleet_detail_query_osquery_info: [{ version: '5.11.0' }],
        fleet_detail_query_uptime: [{ total_seconds: '3600' }],
        fleet_detail_query_network_interface_unix: [{ address: '192.168.1.20', mac: 'aa:bb:cc:dd:ee:ff' }],
        fleet_detail_query_disk_space_darwin: [
          {
            percent_disk_space_available: '62.5',
            gigs_disk_space_available: '300.25',
            gigs_total_disk_space: '494.38',
          },
        ],
        fleet_detail_query_osquery_flags: [
          { name: 'distributed_interval', value: '15' },
          { name: 'config_refresh', value: '60' },
          { name: 'config_tls_refresh', value: '30' },
          { name: 'logger_tls_period', value: '20' },
        ],
        fleet_detail_query_orbit_info: [{ version: '1.30.0' }],
      }),
    );
    const row = await hostRow(srv, agent.hostId);
    expect(row).toMatchObject({
      hostname: 'ingested-mbp',
      computer_name: 'Ingested MacBook',
      cpu_type: 'arm64e',
      cpu_subtype: 'ARM64E',
      cpu_brand: 'Apple M2',
      hardware_model: 'Mac14,2',
      hardware_serial: 'C02INGEST001',
      os_version: 'macOS 14.2.1',
      build: '23C71',
      osquery_version: '5.11.0',
      primary_ip: '192.168.1.20',
      primary_mac: 'aa:bb:cc:dd:ee:ff',
      public_ip: '127.0.0.1',
      orbit_version: '1.30.0',
    });
    expect(Number(row.memory)).toBe(25769803776);
    expect(Number(row.uptime)).toBe(3600 * 1e9);
    expect(row.last_restarted_at).not.toBeNull();
    expect(Number(row.gigs_disk_space_available)).toBe(300.25);
    expect(Number(row.percent_disk_space_available)).toBe(62.5);
    expect(Number(row.gigs_total_disk_space)).toBe(494.38);
    // config_tls_refresh (osquery < 2.4.6) wins over its alias config_refresh.
    expect([row.distributed_interval, row.config_tls_refresh, row.logger_tls_period].map(Number)).toEqual([
      15, 30, 20,
    ]);
    expect(row.detail_updated_at > dbNow(-60_000)).toBe(true);
    expect(Boolean(Number(row.refetch_requested))).toBe(false);
  });

  it('a failed query keeps what the host reported before', async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret, { hostname: 'kept-hostname' });
    await write(
      srv,
      writeBody(
        agent.nodeKey,
        { fleet_detail_query_system_info: [{ hostname: 'from-a-failed-query', physical_memory: '1' }] },
        { fleet_detail_query_system_info: 1 },
      ),
    );
    expect((await hostRow(srv, agent.hostId)).hostname).toBe('kept-hostname');
    // A result Flotilla cannot use (a memory size that is not a number) is skipped the same way.
    await write(
      srv,
      writeBody(agent.nodeKey, {
        fleet_detail_query_system_info: [{ hostname: 'from-a-bad-row', physical_memory: 'lots' }],
      }),
    );
    expect((await hostRow(srv, agent.hostId)).hostname).toBe('kept-hostname');
  });

  it('another MDM: named from its URL; leaving it ends the critical window', async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret);
    await markReported(srv, agent.hostId, { refetch_critical_queries_until: dbNow(180_000) });
    await write(
      srv,
      writeBody(agent.nodeKey, {
        fleet_detail_query_mdm: [
          {
            enrolled: 'true',
            server_url: 'https://acme.jamfcloud.com/mdm/ServerURL',
            installed_from_dep: 'true',
            payload_identifier: 'com.jamf.mdm',
          },
        ],
      }),
    );
    expect(await hostMdm(srv, agent.hostId)).toMatchObject({
      enrolled: 1,
      installed_from_dep: 1,
      mdm_name: 'Jamf',
    });
    expect((await hostRow(srv, agent.hostId)).refetch_critical_queries_until).not.toBeNull();
    await write(
      srv,
      writeBody(agent.nodeKey, {
        fleet_detail_query_mdm: [
          { enrolled: 'false', server_url: '', installed_from_dep: 'true', payload_identifier: '' },
        ],
      }),
    );
    expect(await hostMdm(srv, agent.hostId)).toMatchObject({ enrolled: 0, mdm_name: '' });
    expect((await hostRow(srv, agent.hostId)).refetch_critical_queries_until).toBeNull();
  });

  it("Flotilla's own enrollment: the enroll reference comes from the URL, which is stored without it", async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret);
    const ref = randomUUID();
    await write(
      srv,
      writeBody(agent.nodeKey, {
        fleet_detail_query_mdm: [
          {
            enrolled: '1',
            server_url: `https://flotilla.example.com/mdm/apple/mdm?enroll_reference=${ref}`,
            installed_from_dep: '0',
            payload_identifier: 'com.fleetdm.fleet.mdm.apple',
          },
        ],
      }),
    );
    expect(await hostMdm(srv, agent.hostId)).toMatchObject({
      enrolled: 1,
      mdm_name: 'Fleet',
      server_url: 'https://flotilla.example.com/mdm/apple/mdm',
      fleet_enroll_ref: ref,
    });
  });

  it('FileVault key from file lines: hex lines joined with newlines, base64; only for an encrypted disk', async () => {
    const srv = server();
    const escrow = vi.spyOn(srv.app.services.diskEncryption, 'escrowFileVaultKey').mockResolvedValue();
    const agent = await enrollAgent(srv, secret);
    const lines = (rows: Record<string, string>[]) =>
      writeBody(agent.nodeKey, { fleet_detail_query_mdm_disk_encryption_key_file_lines_darwin: rows });

    // Not enforced for the host: nothing is escrowed (Fleet archives keys only then).
    await write(srv, lines([{ encrypted: '1', hex_line: '4142' }]));
    expect(escrow).not.toHaveBeenCalled();

    await srv.app.services.appConfig.patch({ mdm: { enable_disk_encryption: true } });
    try {
      await write(srv, lines([{ encrypted: '0', hex_line: '' }]));
      expect(escrow).not.toHaveBeenCalled();
      await write(
        srv,
        lines([
          { encrypted: '1', hex_line: '4142' },
          { encrypted: '1', hex_line: '4344' },
        ]),
      );
      expect(escrow).toHaveBeenLastCalledWith(
        expect.objectContaining({ id: agent.hostId }),
        Buffer.from('AB\nCD').toString('base64'),
      );
      // Encrypted, but no escrow file: '' (disk encryption then asks for a new key).
      await write(
        srv,
        writeBody(agent.nodeKey, {
          fleet_detail_query_mdm_disk_encryption_key_file_darwin: [{ encrypted: '1', filevault_key: '' }],
        }),
      );
      expect(escrow).toHaveBeenLastCalledWith(expect.objectContaining({ id: agent.hostId }), '');
      expect(escrow).toHaveBeenCalledTimes(2);
    } finally {
      await srv.app.services.appConfig.patch({ mdm: { enable_disk_encryption: false } });
    }
  });

  it('Windows: MDM state from the registry, server editions, BitLocker, and the enrollment link', async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret, { platform: 'windows' });
    const deviceId = randomUUID();
    const now = dbNow();
    await srv.app.services.database.db
      .insertInto('mdm_windows_enrollments')
      .values({
        mdm_device_id: deviceId,
        mdm_hardware_id: randomUUID(),
        device_state: 'MDMDeviceEnrolledEnrolled',
        device_type: 'CIMClient_Windows',
        device_name: 'PC',
        enroll_type: 'ProgrammaticEnrollment',
        enroll_user_id: '',
        enroll_proto_version: '5.0',
        enroll_client_version: '10.0',
        created_at: now,
        updated_at: now,
      })
      .execute();

    await write(
      srv,
      writeBody(agent.nodeKey, {
        fleet_detail_query_mdm_windows: [
          {
            aad_resource_id: '',
            discovery_service_url: 'https://flotilla.example.com/api/mdm/microsoft/discovery',
            provider_id: 'Fleet',
            installation_type: 'Client',
          },
        ],
        fleet_detail_query_disk_encryption_windows: [{ '1': '1' }],
        fleet_detail_query_mdm_device_id_windows: [{ name: 'DeviceClientId', data: deviceId }],
        fleet_detail_query_os_version_windows: [
          {
            name: 'Microsoft Windows 11 Pro',
            display_version: '23H2',
            version: '10.0.22631.2861',
            installation_type: 'Client',
          },
        ],
      }),
    );
    expect(await hostMdm(srv, agent.hostId)).toMatchObject({
      enrolled: 1,
      mdm_name: 'Fleet',
      installed_from_dep: 0,
      is_server: 0,
      server_url: 'https://flotilla.example.com/api/mdm/microsoft/discovery',
    });
    const row = await hostRow(srv, agent.hostId);
    expect(Number(row.disk_encryption_enabled)).toBe(1);
    expect(row.os_version).toBe('Windows 11 Pro 23H2 10.0.22631.2861');
    const enrollment = await srv.app.services.database.db
      .selectFrom('mdm_windows_enrollments')
      .select('host_uuid')
      .where('mdm_device_id', '=', deviceId)
      .executeTakeFirstOrThrow();
    expect(enrollment.host_uuid).toBe(agent.uuid);

    // Another MDM's discovery URL on a server edition; then no enrollment at all, no BitLocker.
    await write(
      srv,
      writeBody(agent.nodeKey, {
        fleet_detail_query_mdm_windows: [
          {
            aad_resource_id: 'https://manage.microsoft.com',
            discovery_service_url: 'https://enrollment.manage.microsoft.com/enrollmentserver/discovery.svc',
            provider_id: 'MS DM Server',
            installation_type: 'Server',
          },
        ],
        fleet_detail_query_disk_encryption_windows: '',
      }),
    );
    expect(await hostMdm(srv, agent.hostId)).toMatchObject({
      enrolled: 1,
      mdm_name: 'Intune',
      installed_from_dep: 1,
      is_server: 1,
    });
    expect(Number((await hostRow(srv, agent.hostId)).disk_encryption_enabled)).toBe(0);
    await write(srv, writeBody(agent.nodeKey, { fleet_detail_query_mdm_windows: [] }));
    expect(await hostMdm(srv, agent.hostId)).toMatchObject({ enrolled: 0, mdm_name: '', server_url: '' });
  });
});
