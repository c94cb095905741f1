import { spawn } from 'node:child_process';
import http from 'node:http';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { createConnection } from 'mysql2/promise';
import * as plist from 'plist';
import { buildCommandPlist, buildPlist } from '../src/apple/commands/build.js';
import { microNow } from '../src/apple/commands/store.js';
import { parsePlistDict } from '../src/apple/plist/parse.js';

import { createCertificateAuthority } from '../src/crypto/certificateAuthority.js';
import { buildSignedData } from '../src/crypto/cms.js';
import { issueFromSpki, issuingCa } from '../src/crypto/issue.js';
import { encodeName } from '../src/crypto/name.js';
import { dbNow } from '../src/db/dialect.js';
import type { DB } from '../src/db/schema.js';
import { startCpuMeter } from './lib/cpu.js';
import { benchMysqlUrl, mysqlReachable } from './lib/database.js';
import { seedQueuedAppleDevices } from './lib/appleSeed.js';
import { reportFigure } from './lib/load.js';
import { startBenchServer } from './lib/server.js';

/**
 * Apple connect round trips per second: a device reports Acknowledged for its last command and
 * gets its next one (Mdm-Signature verification, result stored by one INSERT ... SELECT that also
 * checks the certificate binding, next command by the covering index), and the server's CPU time
 * per round trip. 1,000 enrolled devices seeded in bulk with commands pre-queued, 32
 * requests in flight, on MySQL; then the same requests against a no-database echo of the endpoint
 * (signature check + plist parse + fixed answer) as the ceiling. Requests are signed up front with
 * the devices' 2048-bit RSA keys so the figure measures the server, not the load generator.
 * Also prints the plist parse cost of our parser and of the `plist` package.
 */
const deviceCount = Number(process.env.BENCH_APPLE_DEVICES ?? 1000);
const rounds = Number(process.env.BENCH_APPLE_ROUNDS ?? 6);
/** Answered commands per device in the second MySQL run (0 skips it). */
const historyPerDevice = Number(process.env.BENCH_APPLE_HISTORY ?? 300);
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 5000);
const concurrency = 32;
/** Requests sent before measuring: the Idle round, so every measured request is a report plus the next command. */
const warmupRequests = deviceCount;
const benchDir = dirname(fileURLToPath(import.meta.url));

interface BenchDevice {
  udid: string;
  certDer: Buffer;
}

const ca = createCertificateAuthority('Bench Apple MDM CA');
const issuer = issuingCa(ca);
// Devices share one key (each has its own certificate); signing cost per request is the same.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = publicKey.export({ type: 'spki', format: 'der' });
const devices: BenchDevice[] = Array.from({ length: deviceCount }, (_, i) => ({
  udid: `BENCHDEV-0000-4000-8000-${i.toString(16).padStart(12, '0')}`.toUpperCase(),
  certDer: issueFromSpki({
    spki,
    subjectDer: encodeName({ CN: 'Fleet Identity', O: 'Fleet', OU: 'Fleet Device Enrollment' }),
    days: 365,
    ca: issuer,
    usage: 'client',
  }).certDer,
}));
/**
 * The queued commands: a type no Flotilla listener acts on (its answers are only stored), so the
 * figures are the queue's own cost per round trip. (SecurityInfo, used before issue 14 gave it a
 * listener, would add that listener's work and, with these bare answers, a warning per report.)
 */
const benchRequestType = 'InstalledApplicationList';
const commands = Array.from({ length: rounds + 1 }, () => buildCommandPlist(benchRequestType, {}));

interface SignedRequest {
  body: Buffer;
  signature: string;
  udid: string;
  round: number;
}

/** Round k: Idle for k = 0, else Acknowledged for command k-1. Each body signed by its device. */
function signedRequests(key: KeyObject): SignedRequest[][] {
  const out: SignedRequest[][] = [];
  for (let k = 0; k <= rounds - 1; k++) {
    out.push(
      devices.map((d) => {
        const body = buildPlist(
          k === 0
            ? { UDID: d.udid, Status: 'Idle' }
            : { UDID: d.udid, Status: 'Acknowledged', CommandUUID: commands[k - 1].commandUuid },
        );
        const signature = buildSignedData({
          content: body,
          detached: true,
          signerCert: d.certDer,
          signerKey: key,
        }).toString('base64');
        return { body, signature, udid: d.udid, round: k };
      }),
    );
  }
  return out;
}

function seed(db: Kysely<DB>): Promise<void> {
  return seedQueuedAppleDevices(
    db,
    ca,
    devices,
    commands.map((c) => ({ ...c, requestType: benchRequestType })),
  );
}

// The load generator shares the machine with the server, so it uses node:http with keep-alive:
// fetch costs about three times as much CPU per request and would cap the figure by itself.
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function put(url: string, body: Buffer, signature: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers = {
      'content-type': 'application/x-apple-aspen-mdm; charset=UTF-8',
      'mdm-signature': signature,
      'content-length': body.length,
    };
    const req = http.request(url, { method: 'PUT', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends the pre-signed requests round by round with `concurrency` in flight, until they run out
 * or the duration ends; every answer must be 200 and carry a command.
 */
async function drive(url: string, flat: SignedRequest[]): Promise<{ perSecond: number; sent: number }> {
  let next = 0;
  let sent = 0;
  let bad = 0;
  const began = performance.now();
  const deadline = began + durationMs;
  const worker = async () => {
    while (next < flat.length && performance.now() < deadline) {
      const r = flat[next++];
      const res = await put(`${url}/mdm/apple/mdm`, r.body, r.signature);
      if (res.status !== 200 || !res.body.includes('CommandUUID')) bad++;
      sent++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - began) / 1000;
  if (bad) throw new Error(`${bad} of ${sent} connect requests did not get a command`);
  return { perSecond: sent / seconds, sent };
}

async function startEcho(caFile: string): Promise<{ url: string; close(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(benchDir, 'appleEchoServer.ts'), caFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', () => reject(new Error(`echo server exited: ${out}`)));
  });
  return {
    url,
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/**
 * The database user the bench server connects as: MariaDB's per-user statistics (`userstat`)
 * then give the statements, rows and CPU time of the server's own connections, whatever else the
 * shared database server is doing.
 */
const benchDbUser = 'flotilla_apple_bench';
const benchDbPassword = randomUUID();

async function adminQuery(query: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const c = await createConnection({ uri: benchMysqlUrl });
  try {
    const [rows] = await c.query(query, params);
    return rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

interface UserStatistics {
  cpuMs: number;
  statements: number;
  rowsRead: number;
  rowsWritten: number;
  commits: number;
}

const noStatistics: UserStatistics = { cpuMs: 0, statements: 0, rowsRead: 0, rowsWritten: 0, commits: 0 };

async function userStatistics(): Promise<UserStatistics | undefined> {
  const [row] = await adminQuery(
    'SELECT CPU_TIME, SELECT_COMMANDS, UPDATE_COMMANDS, OTHER_COMMANDS, ROWS_READ, ROWS_INSERTED, ROWS_UPDATED, ROWS_DELETED, COMMIT_TRANSACTIONS FROM information_schema.USER_STATISTICS WHERE USER = ?',
    [benchDbUser],
  );
  if (!row) return undefined;
  const n = (k: string) => Number(row[k] ?? 0);
  return {
    cpuMs: n('CPU_TIME') * 1000,
    statements: n('SELECT_COMMANDS') + n('UPDATE_COMMANDS') + n('OTHER_COMMANDS'),
    rowsRead: n('ROWS_READ'),
    rowsWritten: n('ROWS_INSERTED') + n('ROWS_UPDATED') + n('ROWS_DELETED'),
    commits: n('COMMIT_TRANSACTIONS'),
  };
}

/** Each device's answered commands (queue rows taken out of the active queue, results stored). */
async function seedHistory(db: Kysely<DB>, perDevice: number): Promise<void> {
  const now = dbNow();
  const answered = Array.from({ length: perDevice }, () => buildCommandPlist(benchRequestType, {}));
  for (let i = 0; i < answered.length; i += 500) {
    await db
      .insertInto('nano_commands')
      .values(
        answered.slice(i, i + 500).map((c) => ({
          command_uuid: c.commandUuid,
          request_type: benchRequestType,
          command: c.plist,
          created_at: microNow(),
          updated_at: now,
        })),
      )
      .execute();
  }
  const result = (udid: string, uuid: string) =>
    buildPlist({
      UDID: udid,
      Status: 'Acknowledged',
      CommandUUID: uuid,
      InstalledApplicationList: [{ Identifier: 'com.example.app', Name: 'Example', ShortVersion: '1.0' }],
    });
  const pairs = devices.flatMap((d) => answered.map((c) => ({ udid: d.udid, uuid: c.commandUuid })));
  for (let i = 0; i < pairs.length; i += 2000) {
    const batch = pairs.slice(i, i + 2000);
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('nano_enrollment_queue')
        .values(
          batch.map((p) => ({
            id: p.udid,
            command_uuid: p.uuid,
            active: 0,
            created_at: microNow(),
            updated_at: now,
          })),
        )
        .execute();
      await trx
        .insertInto('nano_command_results')
        .values(
          batch.map((p) => ({
            id: p.udid,
            command_uuid: p.uuid,
            status: 'Acknowledged',
            result: result(p.udid, p.uuid),
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
    });
  }
}

/**
 * One MySQL run: a fresh database with `history` answered commands per device, the server
 * connecting as the bench user, the pre-signed requests driven through it; prints the rate and
 * the CPU (server, whole MariaDB, MariaDB for the server's connections) and statements per round trip.
 */
async function connectFigures(suffix: string, history: number): Promise<void> {
  const env: Record<string, string> = {};
  const server = await startBenchServer({
    dialect: 'mysql',
    // Read when the server is spawned, after the seed has named the database.
    env,
    seed: async (db) => {
      await seed(db);
      if (history > 0) {
        process.stderr.write(`apple-connect: seeding ${history} answered commands per device...\n`);
        await seedHistory(db, history);
      }
      const url = new URL(benchMysqlUrl);
      const name = await sqlDatabaseName(db);
      await adminQuery(`CREATE USER IF NOT EXISTS '${benchDbUser}'@'%' IDENTIFIED BY '${benchDbPassword}'`);
      await adminQuery(`ALTER USER '${benchDbUser}'@'%' IDENTIFIED BY '${benchDbPassword}'`);
      await adminQuery(`GRANT ALL ON \`${name}\`.* TO '${benchDbUser}'@'%'`);
      url.username = benchDbUser;
      url.password = benchDbPassword;
      url.pathname = `/${name}`;
      env.FLOTILLA_DATABASE_URL = url.toString();
    },
  });
  const userstatWas = (await adminQuery("SHOW GLOBAL VARIABLES LIKE 'userstat'"))[0]?.Value;
  await adminQuery('SET GLOBAL userstat = 1');
  try {
    // The Idle round warms the server's JIT and caches and is not measured.
    const flat = requests.flat();
    await drive(server.url, flat.slice(0, warmupRequests));
    await adminQuery('FLUSH USER_STATISTICS');
    const statsBefore = (await userStatistics()) ?? noStatistics;
    const cpu = startCpuMeter(server.child.pid);
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const { perSecond, sent } = await drive(server.url, flat.slice(warmupRequests));
    const spent = cpu();
    const statsAfter = await userStatistics();
    process.stderr.write(
      `apple-connect${suffix}: ${sent} round trips on MySQL (load average before: ${load})\n`,
    );
    reportFigure(`apple_connect${suffix}_round_trips_per_second_mysql`, perSecond, 'requests/s');
    // CPU per round trip: steadier than the rate on a shared machine (Linux only).
    reportFigure(`apple_connect${suffix}_server_cpu_ms_per_round_trip`, spent.serverMs / sent, 'ms');
    if (spent.mysqlMs !== undefined)
      reportFigure(`apple_connect${suffix}_mysql_cpu_ms_per_round_trip`, spent.mysqlMs / sent, 'ms');
    if (statsAfter) {
      const per = (k: keyof UserStatistics) => (statsAfter[k] - statsBefore[k]) / sent;
      // Only the server's own connections: robust to other users of the database server.
      reportFigure(`apple_connect${suffix}_mysql_connection_cpu_ms_per_round_trip`, per('cpuMs'), 'ms');
      reportFigure(`apple_connect${suffix}_statements_per_round_trip`, per('statements'), 'statements');
      reportFigure(`apple_connect${suffix}_rows_read_per_round_trip`, per('rowsRead'), 'rows');
      reportFigure(`apple_connect${suffix}_rows_written_per_round_trip`, per('rowsWritten'), 'rows');
      reportFigure(`apple_connect${suffix}_commits_per_round_trip`, per('commits'), 'commits');
    }
  } finally {
    if (userstatWas === 'OFF') await adminQuery('SET GLOBAL userstat = 0');
    await server.close();
    await adminQuery(`DROP USER IF EXISTS '${benchDbUser}'@'%'`);
  }
}

async function sqlDatabaseName(db: Kysely<DB>): Promise<string> {
  return (await sql<{ d: string }>`SELECT DATABASE() AS d`.execute(db)).rows[0]?.d ?? '';
}

function plistFigures(): void {
  const reports = {
    ack: buildPlist({ UDID: devices[0].udid, Status: 'Acknowledged', CommandUUID: commands[0].commandUuid }),
    device_information: buildPlist({
      UDID: devices[0].udid,
      Status: 'Acknowledged',
      CommandUUID: commands[0].commandUuid,
      RequestType: 'DeviceInformation',
      QueryResponses: {
        DeviceName: 'Bench Mac',
        OSVersion: '14.4.1',
        BuildVersion: '23E224',
        ProductName: 'Mac15,3',
        Model: 'Mac15,3',
        SerialNumber: 'C02BENCH0001',
        UDID: devices[0].udid,
        WiFiMAC: '00:11:22:33:44:55',
        DeviceCapacity: 494.38,
        AvailableDeviceCapacity: 201.5,
        IsSupervised: false,
        TimeZone: 'UTC',
      },
    }),
  };
  for (const [name, body] of Object.entries(reports)) {
    const n = 20_000;
    let t = performance.now();
    for (let i = 0; i < n; i++) parsePlistDict(body);
    reportFigure(`apple_plist_parse_us_${name}`, ((performance.now() - t) * 1000) / n, 'µs/parse');
    const text = body.toString('utf8');
    t = performance.now();
    for (let i = 0; i < n; i++) plist.parse(text);
    reportFigure(`apple_plist_package_parse_us_${name}`, ((performance.now() - t) * 1000) / n, 'µs/parse');
  }
}

plistFigures();
process.stderr.write(`apple-connect: signing ${deviceCount * rounds} requests...\n`);
const requests = signedRequests(privateKey);

if (await mysqlReachable()) {
  await connectFigures('', 0);
  if (historyPerDevice > 0) await connectFigures('_history', historyPerDevice);
} else {
  process.stderr.write('apple-connect: MySQL is unreachable; skipping the MySQL figures\n');
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-ca-'));
writeFileSync(join(dir, 'ca.pem'), ca.certPem);
const echo = await startEcho(join(dir, 'ca.pem'));
try {
  const { perSecond } = await drive(echo.url, requests.flat());
  reportFigure('apple_connect_round_trips_per_second_no_database', perSecond, 'requests/s');
} finally {
  await echo.close();
}
agent.destroy();
