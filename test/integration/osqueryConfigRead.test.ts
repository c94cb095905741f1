import { beforeAll, expect, it } from 'vitest';
import { defaultAgentOptions } from '../../src/appconfig/defaults.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrollAgent, hostRow, markReported, osquery } from '../helpers/osqueryAgent.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const secret = 'osquery-config-global-secret';
const teamSecret = 'osquery-config-team-secret';
const hourAgo = () => dbNow(-2 * 3600 * 1000);

async function read(srv: TestServer, nodeKey: string) {
  const res = await osquery(srv, 'distributed/read', { node_key: nodeKey });
  expect(res.status).toBe(200);
  return res.body as {
    queries: Record<string, string>;
    discovery: Record<string, string>;
    accelerate?: number;
  };
}

async function setAppConfig(srv: TestServer, patch: Record<string, unknown>) {
  await srv.app.services.appConfig.patch(patch);
}

describeEachDialect('osquery config (agent options per team) and distributed read timing', (server) => {
  let teamId = 0;

  let admin = '';

  beforeAll(async () => {
    admin = await setupAdmin(server());
    const s = server().app.services;
    await s.enrollSecrets.replace(null, null, [secret]);
    teamId = await s.teamStore.create({ name: 'Agent options team', description: '', config: {} });
    await s.enrollSecrets.replace(null, teamId, [teamSecret]);
  });

  it('a host without a team gets the global options: Fleet defaults, intervals recorded', async () => {
    const srv = server();
    await setAppConfig(srv, { agent_options: defaultAgentOptions() });
    const agent = await enrollAgent(srv, secret);
    const res = await osquery(srv, 'config', { node_key: agent.nodeKey });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(defaultAgentOptions().config);
    const row = await hostRow(srv, agent.hostId);
    expect(Number(row.distributed_interval)).toBe(10);
    expect(Number(row.logger_tls_period)).toBe(10);
  });

  it("a platform override replaces the common config; a team's own options win over the global ones", async () => {
    const srv = server();
    await setAppConfig(srv, {
      agent_options: {
        config: { options: { distributed_interval: 15 } },
        overrides: { platforms: { windows: { options: { distributed_interval: 45 } } } },
      },
    });
    const mac = await enrollAgent(srv, secret);
    const pc = await enrollAgent(srv, secret, { platform: 'windows' });
    expect((await osquery(srv, 'config', { node_key: mac.nodeKey })).body).toEqual({
      options: { distributed_interval: 15 },
    });
    expect((await osquery(srv, 'config', { node_key: pc.nodeKey })).body).toEqual({
      options: { distributed_interval: 45 },
    });

    const teamOptions = { config: { options: { distributed_interval: 5, config_refresh: 120 } } };
    await srv.app.services.teamStore.update(teamId, { config: { agent_options: teamOptions } });
    const member = await enrollAgent(srv, teamSecret);
    expect((await osquery(srv, 'config', { node_key: member.nodeKey })).body).toEqual(teamOptions.config);
    const row = await hostRow(srv, member.hostId);
    expect(Number(row.distributed_interval)).toBe(5);
    expect(Number(row.config_tls_refresh)).toBe(120);
    // The other hosts still get the global options.
    expect((await osquery(srv, 'config', { node_key: mac.nodeKey })).body).toEqual({
      options: { distributed_interval: 15 },
    });
  });

  it('a new host gets its detail and label queries at once, each with a discovery query', async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret);
    const body = await read(srv, agent.nodeKey);
    expect(body.queries.fleet_detail_query_system_info).toBe('select * from system_info limit 1');
    expect(body.queries.fleet_detail_query_mdm).toBe(
      'select enrolled, server_url, installed_from_dep, payload_identifier from mdm;',
    );
    expect(body.discovery.fleet_detail_query_mdm).toBe(
      "SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = 'mdm'",
    );
    expect(body.discovery.fleet_detail_query_system_info).toBe('SELECT 1');
    expect(Object.keys(body.discovery).sort()).toEqual(Object.keys(body.queries).sort());
    // Built-in dynamic labels are evaluated by osquery too; the Windows-only ones are not sent.
    expect(Object.values(body.queries)).toContain('SELECT 1;');
    expect(Object.values(body.queries)).not.toContain("SELECT 1 FROM os_version WHERE platform = 'windows';");
    expect(Object.keys(body.queries).some((k) => k.startsWith('fleet_detail_query_os_version_windows'))).toBe(
      false,
    );
    expect(body.accelerate).toBeUndefined();
  });

  it('nothing is due right after a report: empty maps, and nothing is written', async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret);
    await markReported(srv, agent.hostId, { seen_time: dbNow() });
    const before = await hostRow(srv, agent.hostId);
    expect(await read(srv, agent.nodeKey)).toEqual({ queries: {}, discovery: {} });
    expect(await hostRow(srv, agent.hostId)).toEqual(before);
  });

  it('details are due after the interval (labels stay quiet until theirs passes)', async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret);
    await markReported(srv, agent.hostId, { detail_updated_at: hourAgo() });
    const body = await read(srv, agent.nodeKey);
    expect(body.queries.fleet_detail_query_os_version).toBeDefined();
    expect(Object.keys(body.queries).some((k) => k.startsWith('fleet_label_query_'))).toBe(false);

    await markReported(srv, agent.hostId, { label_updated_at: hourAgo() });
    const labels = await read(srv, agent.nodeKey);
    expect(Object.keys(labels.queries).every((k) => k.startsWith('fleet_label_query_'))).toBe(true);
    expect(Object.keys(labels.queries).length).toBeGreaterThan(0);
  });

  it('a refetch request makes details and labels due', async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret);
    await markReported(srv, agent.hostId, { refetch_requested: 1 });
    const body = await read(srv, agent.nodeKey);
    expect(body.queries.fleet_detail_query_system_info).toBeDefined();
    expect(Object.keys(body.queries).some((k) => k.startsWith('fleet_label_query_'))).toBe(true);
  });

  it('in the critical window only the MDM query goes out, on every read', async () => {
    const srv = server();
    const mac = await enrollAgent(srv, secret);
    const pc = await enrollAgent(srv, secret, { platform: 'windows' });
    const until = dbNow(3 * 60 * 1000);
    await markReported(srv, mac.hostId, { refetch_critical_queries_until: until });
    await markReported(srv, pc.hostId, { refetch_critical_queries_until: until });
    for (let i = 0; i < 2; i++) {
      expect(Object.keys((await read(srv, mac.nodeKey)).queries)).toEqual(['fleet_detail_query_mdm']);
      expect(Object.keys((await read(srv, pc.nodeKey)).queries)).toEqual(['fleet_detail_query_mdm_windows']);
    }
    // Once it has passed, nothing is due.
    await markReported(srv, mac.hostId, { refetch_critical_queries_until: dbNow(-1000) });
    expect((await read(srv, mac.nodeKey)).queries).toEqual({});
  });

  it('accelerates a host that has not reported a hostname yet', async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret, { hostname: '' });
    await markReported(srv, agent.hostId);
    expect(await read(srv, agent.nodeKey)).toEqual({ queries: {}, discovery: {}, accelerate: 10 });
  });

  it("MDM checks go out only while that platform's MDM is on", async () => {
    const srv = server();
    const mac = await enrollAgent(srv, secret);
    const pc = await enrollAgent(srv, secret, { platform: 'windows' });
    const macOff = await read(srv, mac.nodeKey);
    const pcOff = await read(srv, pc.nodeKey);
    expect(macOff.queries.fleet_detail_query_mdm_disk_encryption_key_file_darwin).toBeUndefined();
    expect(pcOff.queries.fleet_detail_query_mdm_device_id_windows).toBeUndefined();
    // Which MDM a host is in and its disk encryption are always asked.
    expect(pcOff.queries.fleet_detail_query_mdm_windows).toBeDefined();
    expect(pcOff.queries.fleet_detail_query_disk_encryption_windows).toBeDefined();

    await setAppConfig(srv, { mdm: { enabled_and_configured: true, windows_enabled_and_configured: true } });
    try {
      const macOn = await read(srv, mac.nodeKey);
      expect(macOn.queries.fleet_detail_query_mdm_disk_encryption_key_file_darwin).toContain(
        'FROM filevault_prk',
      );
      expect(macOn.discovery.fleet_detail_query_mdm_disk_encryption_key_file_darwin).toBe(
        "SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = 'filevault_prk'",
      );
      expect(macOn.discovery.fleet_detail_query_mdm_disk_encryption_key_file_lines_darwin).toContain(
        "NOT EXISTS (SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = 'filevault_prk')",
      );
      expect(macOn.queries.fleet_detail_query_mdm_config_profiles_darwin).toBe(
        'SELECT display_name, identifier, install_date FROM macos_profiles WHERE type = "Configuration";',
      );
      expect(macOn.queries.fleet_detail_query_mdm_config_profiles_darwin_with_user).toContain(
        'macos_profiles',
      );
      const pcOn = await read(srv, pc.nodeKey);
      expect(pcOn.queries.fleet_detail_query_mdm_device_id_windows).toContain('MDMDeviceID');
      // No verifying Windows profile on this host: nothing to read back, so no mdm_bridge query.
      expect(pcOn.queries.fleet_detail_query_mdm_config_profiles_windows).toBeUndefined();
    } finally {
      await setAppConfig(srv, {
        mdm: { enabled_and_configured: false, windows_enabled_and_configured: false },
      });
    }
  });

  it('the last-contact time is written when it is over a minute old, not on every request', async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret);
    const old = dbNow(-5 * 60 * 1000);
    await markReported(srv, agent.hostId, { seen_time: old });
    await read(srv, agent.nodeKey);
    const seen = (await hostRow(srv, agent.hostId)).seen_time as string;
    expect(seen > old).toBe(true);
    await read(srv, agent.nodeKey);
    expect((await hostRow(srv, agent.hostId)).seen_time).toBe(seen);
  });

  it("status follows the agent's last contact and its shorter interval plus 60 s, as Fleet's does", async () => {
    const srv = server();
    const agent = await enrollAgent(srv, secret, { hostname: `status-${Date.now()}` });
    const status = async () => {
      const res = await api(srv, 'GET', `/api/latest/fleet/hosts/${agent.hostId}`, { token: admin });
      return res.body.host.status as string;
    };
    const listed = async (filter: string) => {
      const res = await api(srv, 'GET', `/api/latest/fleet/hosts?status=${filter}&per_page=500`, {
        token: admin,
      });
      return (res.body.hosts as { id: number }[]).some((h) => h.id === agent.hostId);
    };
    // Seen 100 s ago: online with a 60 s interval (60 + 60 s), offline with 10 s (10 + 60 s).
    const seen = dbNow(-100_000);
    await markReported(srv, agent.hostId, {
      seen_time: seen,
      distributed_interval: 60,
      config_tls_refresh: 3600,
    });
    expect([await status(), await listed('online'), await listed('offline')]).toEqual([
      'online',
      true,
      false,
    ]);
    await markReported(srv, agent.hostId, {
      seen_time: seen,
      distributed_interval: 10,
      config_tls_refresh: 3600,
    });
    expect([await status(), await listed('online'), await listed('offline')]).toEqual([
      'offline',
      false,
      true,
    ]);
    const res = await api(srv, 'GET', `/api/latest/fleet/hosts/${agent.hostId}`, { token: admin });
    expect(res.body.host.seen_time).toBe(
      new Date(`${seen.replace(' ', 'T')}Z`).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    );
  });
});
