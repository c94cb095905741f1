import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { sql, type Kysely } from 'kysely';
import { AppConfigService } from '../src/appconfig/service.js';
import { AppConfigStore } from '../src/appconfig/store.js';
import { SecretBox } from '../src/crypto/secretbox.js';
import { openDatabase } from '../src/db/database.js';
import type { DB } from '../src/db/schema.js';
import { prepareCommand } from '../src/windows/commands.js';
import { WindowsMdmStore } from '../src/windows/store.js';
import { buildSyncMessage, statusXml } from '../src/windows/syncml/codec.js';
import { digestFromHash } from '../src/windows/syncml/digest.js';
import { createConnection } from 'mysql2/promise';
import { benchMysqlUrl, mysqlReachable } from './lib/database.js';
import { reportFigure } from './lib/load.js';
import { seedWindowsEnrollments } from './lib/windowsSeed.js';
import { benchServerKey, startBenchServer } from './lib/server.js';

/**
 * Windows management: SyncML sessions per second on MySQL with 1,000 enrolled devices.
 * Each measured session is the device's first package (digest credentials, Alert 1201, Alert 1224,
 * DevInfo), the server's answer carrying one queued Replace, the device's Status for it, and the
 * server's closing answer. Enrollments (with a current digest nonce) are seeded directly; the
 * enrollment path and the full simulated device are tested elsewhere.
 *
 * The devices are scripted rather than the full simulated PC, so the figure measures the server and
 * not the load generator sharing its cores (the simulator parses every answer into a tree and costs
 * about as much CPU per session as the server). Every answer is still checked: header Status 200,
 * the Replace present with our command UUID in the first answer, no command in the second; after
 * each round the queue must be empty and every device must have a stored result.
 */
const deviceCount = Number(process.env.BENCH_WINDOWS_DEVICES ?? 1000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

interface BenchDevice {
  deviceId: string;
  /** MD5(DeviceID:password), as the PC's digest needs it. */
  hash: Buffer;
  /** The nonce for the next message: the server's NextNonce from its last answer (a nonce is single-use). */
  nonce: Buffer;
}

/** Credentials over the device's current nonce. */
const credOf = (d: BenchDevice) => ({
  type: 'syncml:auth-md5',
  format: 'b64',
  data: digestFromHash(d.hash, d.nonce),
});

/** Keeps the NextNonce an answer carries (every authenticated answer does), as a real client does. */
function takeNonce(d: BenchDevice, answer: string): void {
  const next = /<NextNonce xmlns="syncml:metinf">([^<]+)<\/NextNonce>/.exec(answer)?.[1];
  if (next) d.nonce = Buffer.from(next, 'base64');
}

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

function post(url: URL, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/vnd.syncml.dm+xml',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(Buffer.concat(chunks).toString())
            : reject(new Error(`HTTP ${res.statusCode}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Header Status 200, with or without a Chal carrying the next nonce. */
const headerOk = (answer: string) =>
  /<CmdRef>0<\/CmdRef><Cmd>SyncHdr<\/Cmd>(<Chal>.*?<\/Chal>)?<Data>200<\/Data>/.test(answer);

/** One session; returns the number of commands the device executed (1 when a command was queued). */
async function runSession(
  url: URL,
  d: BenchDevice,
  sessionId: string,
  commandUuid: string | undefined,
): Promise<number> {
  const header = { sessionId, target: url.href, source: d.deviceId };
  const first = buildSyncMessage({
    ...header,
    cred: credOf(d),
    msgId: '1',
    body: [
      '<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>',
      '<Alert><CmdID>2</CmdID><Data>1224</Data><Item><Meta><Type xmlns="syncml:metinf">com.microsoft/MDM/LoginStatus</Type></Meta><Data>user</Data></Item></Alert>',
      `<Replace><CmdID>3</CmdID><Item><Source><LocURI>./DevInfo/DevId</LocURI></Source><Data>${d.deviceId}</Data></Item><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>Bench</Data></Item><Item><Source><LocURI>./DevInfo/DmV</LocURI></Source><Data>1.3</Data></Item></Replace>`,
    ],
  });
  const a1 = await post(url, first);
  takeNonce(d, a1);
  if (!headerOk(a1)) throw new Error(`session refused: ${a1.slice(0, 400)}`);
  if (!commandUuid) return 0;
  if (!a1.includes(`<Replace><CmdID>${commandUuid}</CmdID>`))
    throw new Error(`first answer lacks the queued Replace: ${a1.slice(0, 400)}`);
  const second = buildSyncMessage({
    ...header,
    cred: credOf(d),
    msgId: '2',
    body: [
      statusXml({ cmdId: '1', msgRef: '1', cmdRef: '0', cmd: 'SyncHdr', code: '200' }),
      statusXml({ cmdId: '2', msgRef: '1', cmdRef: commandUuid, cmd: 'Replace', code: '200' }),
    ],
  });
  const a2 = await post(url, second);
  takeNonce(d, a2);
  if (!headerOk(a2) || /<(Replace|Add|Delete|Exec|Get|Atomic)>/.test(a2))
    throw new Error(`closing answer is wrong: ${a2.slice(0, 400)}`);
  return 1;
}

async function runAll(
  url: URL,
  devices: BenchDevice[],
  round: number,
  commandUuid: string | undefined,
): Promise<number> {
  let next = 0;
  let executed = 0;
  const worker = async () => {
    while (next < devices.length) {
      const d = devices[next++];
      // Not `executed += await ...`: that reads `executed` before the await and loses updates.
      const n = await runSession(url, d, round.toString(16).toUpperCase(), commandUuid);
      executed += n;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return executed;
}

/** CPU time (user + system) of a process so far, from /proc (0 where there is none). */
function processCpuMs(pid: number | undefined): number {
  try {
    // utime and stime (fields 14 and 15) in clock ticks of 10 ms.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** The local MySQL/MariaDB server's pid, when it runs on this machine. */
function localMysqlPid(): number | undefined {
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm === 'mysqld' || comm === 'mariadbd') return Number(entry);
    } catch {
      // process went away
    }
  }
  return undefined;
}

/**
 * With BENCH_COUNT_STATEMENTS=1: MySQL's general log (server-wide, so opt-in) is on for the whole
 * run, and the statements the server's connections to the bench database ran during the measured
 * rounds are counted per session; the most frequent ones are printed to stderr.
 */
const countStatements = process.env.BENCH_COUNT_STATEMENTS === '1';

async function statementLog(on: boolean): Promise<void> {
  const c = await createConnection({ uri: benchMysqlUrl });
  if (on) {
    await c.query(`set global log_output = 'TABLE'`);
    await c.query('truncate table mysql.general_log');
  }
  await c.query(`set global general_log = ${on ? 1 : 0}`);
  await c.end();
}

async function countLoggedStatements(
  db: Kysely<DB>,
  dbName: string,
  window: { from: string; to: string },
): Promise<{ total: number; top: { statement: string; n: number }[] }> {
  const threads = sql`(select thread_id from mysql.general_log where command_type = 'Connect' and argument like ${`%on ${dbName} %`})`;
  const rows = (
    await sql<{ statement: string; n: number }>`
      select left(argument, 90) as statement, count(*) as n from mysql.general_log
      where command_type in ('Query', 'Execute') and event_time between ${window.from} and ${window.to} and thread_id in ${threads}
      group by left(argument, 90) order by n desc`.execute(db)
  ).rows;
  return {
    total: rows.reduce((a, r) => a + Number(r.n), 0),
    top: rows.slice(0, 12).map((r) => ({ statement: r.statement, n: Number(r.n) })),
  };
}

async function mysqlNow(db: Kysely<DB>): Promise<string> {
  return (await sql<{ t: string }>`select cast(now(6) as char) as t`.execute(db)).rows[0].t;
}

async function main(): Promise<void> {
  if (!(await mysqlReachable())) {
    process.stderr.write('windows-management: MySQL is unreachable; skipping\n');
    return;
  }
  if (countStatements) await statementLog(true);
  const server = await startBenchServer({ dialect: 'mysql' });
  const conn = openDatabase({ url: server.database.url, dataDir: server.database.dataDir, poolSize: 4 });
  try {
    await new AppConfigService(new AppConfigStore(conn.db, new SecretBox(benchServerKey)), server.url).patch({
      server_settings: { server_url: server.url },
      mdm: { windows_enabled_and_configured: true },
    });
    const url = new URL(`${server.url}/api/mdm/microsoft/management`);
    const store = new WindowsMdmStore(conn.db);
    const devices: BenchDevice[] = await seedWindowsEnrollments(conn.db, deviceCount, 'BENCH-');
    const ids = (await conn.db.selectFrom('mdm_windows_enrollments').select('id').execute()).map((r) => r.id);
    // Warm-up: one session per device with nothing queued (JIT, connection pools, buffer pool).
    await runAll(url, devices, 0, undefined);

    const mysqlPid = localMysqlPid();
    const cpuBefore = {
      server: processCpuMs(server.child.pid),
      mysql: processCpuMs(mysqlPid),
      client: process.cpuUsage(),
    };
    const measuredFrom = await mysqlNow(conn.db);
    let sessions = 0;
    let elapsedMs = 0;
    for (let r = 1; r <= rounds; r++) {
      const cmd = prepareCommand(
        `<Replace><Item><Target><LocURI>./Device/Vendor/MSFT/Policy/Config/Bench/Round</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>${r}</Data></Item></Replace>`,
      );
      await store.enqueue(ids, cmd);
      const t0 = performance.now();
      const executed = await runAll(url, devices, r, cmd.commandUuid);
      elapsedMs += performance.now() - t0;
      const left = await conn.db
        .selectFrom('windows_mdm_command_queue')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      if (Number(left?.n) !== 0) throw new Error(`round ${r}: ${left?.n} queue rows left unanswered`);
      const stored = await conn.db
        .selectFrom('windows_mdm_command_results')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('command_uuid', '=', cmd.commandUuid)
        .where('status_code', '=', '200')
        .executeTakeFirst();
      if (executed !== devices.length || Number(stored?.n) !== devices.length) {
        throw new Error(
          `round ${r}: ${executed} commands executed and ${stored?.n} results stored for ${devices.length} devices`,
        );
      }
      sessions += devices.length;
    }
    const cpuMs = processCpuMs(server.child.pid) - cpuBefore.server;
    const mysqlCpuMs = processCpuMs(mysqlPid) - cpuBefore.mysql;
    const clientCpu = process.cpuUsage(cpuBefore.client);
    const measuredTo = await mysqlNow(conn.db);
    reportFigure('windows_management_sessions_mysql', (sessions * 1000) / elapsedMs, 'sessions/s');
    // Where the time goes: server CPU per session (the rest is the database and the network).
    reportFigure('windows_management_server_cpu_per_session', cpuMs / sessions, 'ms');
    // The load generator's CPU, and the local database server's (all of its work, whoever asked).
    reportFigure(
      'windows_management_client_cpu_per_session',
      (clientCpu.user + clientCpu.system) / 1000 / sessions,
      'ms',
    );
    if (mysqlPid) reportFigure('windows_management_mysql_cpu_per_session', mysqlCpuMs / sessions, 'ms');
    if (countStatements) {
      await statementLog(false);
      const counted = await countLoggedStatements(conn.db, new URL(server.database.url).pathname.slice(1), {
        from: measuredFrom,
        to: measuredTo,
      });
      reportFigure('windows_management_db_statements_per_session', counted.total / sessions, 'statements');
      for (const t of counted.top)
        process.stderr.write(`${(t.n / sessions).toFixed(2)}/session  ${t.statement}\n`);
    }
  } finally {
    agent.destroy();
    await conn.close();
    await server.close();
  }
}

await main();
