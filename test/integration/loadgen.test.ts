import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { standInCa, standInSettings } from '../../src/loadgen/apnsStandIn.js';
import { simCommand } from '../../src/loadgen/cli.js';
import type { SimSummary } from '../../src/loadgen/run.js';
import { adminPassword, api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate } from '../helpers/apns.js';
import { dialects, mysqlAvailable, startTestServer, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm } from '../helpers/windowsDevice.js';

/** A port free right now on loopback, for the stand-in (the server must know it before it starts). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const addr = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return typeof addr === 'object' && addr ? addr.port : 0;
}

function sink() {
  const chunks: string[] = [];
  return { write: (c: string) => chunks.push(c), text: () => chunks.join('') };
}

async function waitFor<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The stand-in's CA and address are fixed before the servers start, as an operator would set
// FLOTILLA_APNS_BASE_URL and FLOTILLA_APNS_CA_FILE (`flotilla sim --apns-setup`).
const apnsDir = mkdtempSync(join(tmpdir(), 'flotilla-sim-'));
const apnsPort = await freePort();
const apnsListen = `127.0.0.1:${apnsPort}`;
standInCa(apnsDir);
const stand = standInSettings({ host: '127.0.0.1', port: apnsPort }, apnsDir);
afterAll(() => rmSync(apnsDir, { recursive: true, force: true }));

const enrollSecret = 'loadgen-enroll-secret';

async function hostsByPlatform(srv: TestServer, token: string) {
  const res = await api(srv, 'GET', '/api/v1/fleet/hosts?per_page=100', { token });
  expect(res.status).toBe(200);
  const hosts = res.body.hosts as { uuid: string; platform: string }[];
  return {
    darwin: hosts.filter((h) => h.platform === 'darwin'),
    windows: hosts.filter((h) => h.platform === 'windows'),
  };
}

// The load generator speaks only HTTP, so one dialect is enough: the first one under test.
const dialect = dialects[0];
const describeDialect = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;

describeDialect(`flotilla sim: simulated Macs and PCs against a running server [${dialect}]`, () => {
  let srv: TestServer;
  let admin = '';

  beforeAll(async () => {
    srv = await startTestServer(dialect, { apnsBaseUrl: stand.baseUrl, apnsCaFile: stand.caFile });
    admin = await setupAdmin(srv);
    await installPushCertificate(srv.app.services);
    // Sets server_settings.server_url to this server, which the enrollment profile names.
    await enableWindowsMdm(srv, enrollSecret);
  });
  afterAll(() => srv?.close());

  it('refuses bad options with exit status 2 and a message, and starts nothing', async () => {
    const before = await hostsByPlatform(srv, admin);
    const cases: [string[], string][] = [
      [['--apple', 'three'], '--apple: must be a whole number of devices'],
      [['--duration', '5 minutes'], '--duration: expected a time such as 60s, 5m or 500ms (got "5 minutes")'],
      [['--think', '30s..5s'], '--think: the range must run from the shorter time to the longer'],
      [['--frobnicate'], 'unknown option: --frobnicate'],
    ];
    for (const [extra, message] of cases) {
      const out = sink();
      const err = sink();
      const code = await simCommand(['--server', srv.url, '--token', admin, '--windows', '1', ...extra], {
        stdout: out,
        stderr: err,
        env: {},
      });
      expect(code).toBe(2);
      expect(out.text()).toBe('');
      expect(err.text()).toBe(`flotilla sim: ${message}\n(flotilla sim --help lists the options)\n`);
    }
    const noServer = sink();
    expect(
      await simCommand(['--apple', '1', '--token', admin], { stdout: sink(), stderr: noServer, env: {} }),
    ).toBe(2);
    expect(noServer.text()).toBe(
      'flotilla sim: --server is required (the Flotilla base URL)\n(flotilla sim --help lists the options)\n',
    );
    expect(await hostsByPlatform(srv, admin)).toEqual(before);
  });

  it('stops with exit status 1 before any device starts when the token is refused', async () => {
    const before = await hostsByPlatform(srv, admin);
    const err = sink();
    const code = await simCommand(
      ['--server', srv.url, '--token', 'not-a-real-token', '--windows', '2', '--no-apns'],
      { stdout: sink(), stderr: err, env: {} },
    );
    expect(code).toBe(1);
    expect(err.text()).toBe(
      'flotilla sim: reading the settings (GET /api/v1/fleet/config) failed: HTTP 401 (Authentication Failed: invalid session)\n',
    );
    expect(err.text()).not.toContain('not-a-real-token');
    expect(await hostsByPlatform(srv, admin)).toEqual(before);
  });

  it('enrolls 3 Macs and 2 PCs, wakes the Macs through the APNs stand-in, and reports exact counts', async () => {
    const out = sink();
    const err = sink();
    const run = simCommand(
      [
        '--server',
        srv.url,
        // Logs in, the password from the environment (kept off the command line).
        '--email',
        'admin@example.com',
        '--apple',
        '3',
        '--windows',
        '2',
        '--duration',
        '5s',
        '--think',
        '1s..2s',
        '--apns-listen',
        apnsListen,
        '--apns-dir',
        apnsDir,
        '--json',
      ],
      { stdout: out, stderr: err, env: { FLOTILLA_SIM_PASSWORD: adminPassword } },
    );

    // While it runs, an admin command for the three Macs: the server pushes, the Macs wake and answer.
    const macs = await waitFor(async () => {
      const h = await hostsByPlatform(srv, admin);
      return h.darwin.length === 3 ? h.darwin : undefined;
    }, 'three Mac hosts');
    const { commandUuid, plist } = buildCommandPlist('DeviceInformation', { Queries: ['SerialNumber'] });
    const sent = await api(srv, 'POST', '/api/v1/fleet/commands/run', {
      token: admin,
      body: { command: plist.toString('base64'), host_uuids: macs.map((h) => h.uuid) },
    });
    expect(sent.status).toBe(200);

    const code = await run;
    for (const secret of [adminPassword, enrollSecret]) {
      expect(err.text()).not.toContain(secret);
      expect(out.text()).not.toContain(secret);
    }
    expect(code).toBe(0);
    const summary = JSON.parse(out.text()) as SimSummary;

    expect(summary.devices).toEqual({
      apple: { planned: 3, started: 3, enrolled: 3 },
      windows: { planned: 2, started: 2, enrolled: 2 },
    });
    expect(summary.errors).toEqual({ total: 0, by_kind: {} });
    expect(summary.requests.failed).toBe(0);
    expect(summary.interrupted).toBe(false);
    expect(summary.apns_stand_in).toEqual(stand);
    // Only the note that the generator was short of CPU may appear (it shares the machine with the server).
    expect(
      summary.warnings.filter((w) => !w.startsWith('this load generator was itself short of CPU')),
    ).toEqual([]);
    expect(summary.load_generator.cpu_seconds).toBeGreaterThan(0);
    expect(summary.kinds.apple_enroll).toMatchObject({ count: 3, errors: 0 });
    expect(summary.kinds.windows_enroll).toMatchObject({ count: 2, errors: 0 });
    // Each PC runs its first session right after enrolling, and more at its think times.
    expect(summary.kinds.syncml_session.count).toBeGreaterThanOrEqual(2);
    expect(summary.kinds.syncml_session.errors).toBe(0);
    // The command was pushed to each Mac; every session began with one Idle check-in.
    expect(summary.pushes_received).toBeGreaterThanOrEqual(3);
    expect(summary.kinds.apple_checkin.count).toBe(summary.kinds.apple_session.count);
    // Every command answered is one round trip, and the server stored each answer.
    expect(summary.kinds.apple_command.count).toBe(summary.commands.apple);
    await srv.app.services.flushAppleCheckin();
    const results = await srv.app.services.database.db
      .selectFrom('nano_command_results')
      .select(['command_uuid', 'status'])
      .where(
        'id',
        'in',
        macs.map((h) => h.uuid),
      )
      .execute();
    expect(results.length).toBe(summary.commands.apple);
    expect(results.filter((r) => r.command_uuid === commandUuid)).toEqual(
      macs.map(() => ({ command_uuid: commandUuid, status: 'Acknowledged' })),
    );
    // Every request is counted once in all_requests; the slowest cannot be faster than the median.
    const all = summary.kinds.http_request;
    expect(all.count).toBe(summary.requests.total);
    expect(all.latency_ms.max).toBeGreaterThanOrEqual(all.latency_ms.p50);

    // The hosts are there for the admin API.
    const hosts = await hostsByPlatform(srv, admin);
    expect(hosts.darwin.length).toBe(3);
    expect(hosts.windows.length).toBe(2);
  });
});
