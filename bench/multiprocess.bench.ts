import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import { AppConfigService } from '../src/appconfig/service.js';
import { AppConfigStore } from '../src/appconfig/store.js';
import { buildCommandPlist, buildPlist } from '../src/apple/commands/build.js';

import { createCertificateAuthority } from '../src/crypto/certificateAuthority.js';
import { buildSignedData } from '../src/crypto/cms.js';
import { issueFromSpki, issuingCa } from '../src/crypto/issue.js';
import { encodeName } from '../src/crypto/name.js';
import { SecretBox } from '../src/crypto/secretbox.js';
import { openDatabase } from '../src/db/database.js';
import { fromDbTime } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrator.js';
import type { DB } from '../src/db/schema.js';
import { prepareCommand } from '../src/windows/commands.js';
import { WindowsMdmStore } from '../src/windows/store.js';
import { buildSyncMessage, statusXml } from '../src/windows/syncml/codec.js';
import { digestFromHash } from '../src/windows/syncml/digest.js';
import { freePort, haproxyBinary, startBalancer } from './lib/balancer.js';
import { localMysqlPid, processCpuMs, processPeakRssMb } from './lib/cpu.js';
import { createBenchDatabase, mysqlReachable, type BenchDatabase } from './lib/database.js';
import { seedQueuedAppleDevices } from './lib/appleSeed.js';
import { reportFigure } from './lib/load.js';
import { seedWindowsEnrollments } from './lib/windowsSeed.js';
import { benchAdminPassword, benchServerKey } from './lib/server.js';

/**
 * Many processes, one database: N Flotilla processes (FLOTILLA_CRON_ENABLED=true on each, with a
 * 1-second `test_tick` job so the cron leases are contended every second) on one MySQL database
 * behind haproxy (deploy/haproxy/bench.cfg.template, balancing every request on its own, so a
 * device's consecutive messages land on different processes). Apple devices acknowledge their
 * queued commands one round trip at a time and Windows PCs run SyncML sessions that execute theirs,
 * concurrently, through the balancer; the figures are throughput and CPU per request for each N.
 *
 * The kill run (BENCH_MP_KILL_PROCESSES, default 2) SIGKILLs one process when 40% of the Apple
 * round trips are done (or the last 40% of the devices are about to start, which then wait for the
 * restart so the restarted process serves them too) and starts it again on the same port. Devices
 * retry what failed, as real ones do. Afterwards, in every run: each Apple command is acknowledged
 * exactly once (nano_command_results) and none was handed out again after its acknowledgement got
 * a 200; each Windows command has exactly one stored result and none was sent again after its
 * Status got a 200; every queue is empty; each cron job ran at most once per tick of its interval
 * (cron_stats); and each process's data directory is still empty. Any failure exits 1.
 */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const processCounts = (process.env.BENCH_MP_PROCESSES ?? '1,2,4').split(',').map(Number).filter(Boolean);
const killProcesses = Number(process.env.BENCH_MP_KILL_PROCESSES ?? 2);
const appleDevices = Number(process.env.BENCH_MP_APPLE_DEVICES ?? 300);
const appleCommands = Number(process.env.BENCH_MP_APPLE_COMMANDS ?? 8);
const windowsDevices = Number(process.env.BENCH_MP_WINDOWS_DEVICES ?? 200);
const windowsCommands = Number(process.env.BENCH_MP_WINDOWS_COMMANDS ?? 3);
const appleConcurrency = Number(process.env.BENCH_MP_APPLE_CONCURRENCY ?? 24);
const windowsConcurrency = Number(process.env.BENCH_MP_WINDOWS_CONCURRENCY ?? 8);
/** Past this time into a run a request that still fails is not sent again: the run fails instead of hanging. */
const runTimeoutMs = Number(process.env.BENCH_MP_RUN_TIMEOUT_SECONDS ?? 120) * 1000;
const retryDelayMs = 100;

/** Things that went wrong in a run; any entry fails the bench. */
type Failures = string[];

function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

// ---------- HTTP through the balancer ----------

const agent = new Agent({ keepAlive: true, maxSockets: appleConcurrency + windowsConcurrency });

interface Answer {
  status: number;
  body: Buffer;
  /** The process that answered (haproxy's X-Flotilla-Backend), absent when haproxy answered itself. */
  backend?: string;
}

function send(
  url: URL,
  method: string,
  headers: Record<string, string | number>,
  body: Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, agent, headers: { ...headers, 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks),
            backend: res.headers['x-flotilla-backend'] as string | undefined,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Counters shared by the drivers of one run. */
interface Traffic {
  /** Requests answered 200 by a Flotilla process. */
  ok: number;
  /** Requests that failed (connection reset, 502/503 from haproxy, 5xx) and were sent again. */
  retried: number;
  /** Why requests were sent again: HTTP status (0: connection failed), and the answering process. */
  retryReasons: Map<string, number>;
  perBackend: Map<string, number>;
  deadline: number;
}

/** Sends until a process answers 200 (a device retries what failed); gives up at the run's deadline. */
async function sendUntilAnswered(
  traffic: Traffic,
  url: URL,
  method: string,
  headers: Record<string, string | number>,
  body: () => Buffer,
): Promise<Answer> {
  for (;;) {
    const answer = await send(url, method, headers, body()).catch((err: Error) => ({
      status: 0,
      body: Buffer.from(err.message),
      backend: undefined,
    }));
    if (answer.status === 200) {
      traffic.ok++;
      if (answer.backend)
        traffic.perBackend.set(answer.backend, (traffic.perBackend.get(answer.backend) ?? 0) + 1);
      return answer;
    }
    if (Date.now() > traffic.deadline)
      throw new Error(
        `no answer before the run's deadline (last: ${answer.status} ${answer.body.toString().slice(0, 200)})`,
      );
    traffic.retried++;
    const reason = `${answer.status}${answer.backend ? ` from ${answer.backend}` : ''}`;
    traffic.retryReasons.set(reason, (traffic.retryReasons.get(reason) ?? 0) + 1);
    await new Promise((r) => setTimeout(r, retryDelayMs));
  }
}

/** Lets the kill run pick its moment and hold devices back until the killed process is back. */
interface Pacer {
  appleProgress(roundTrips: number): void;
  /** Called before a device starts, with its position in the list (0 to 1). */
  beforeDevice(position: number): Promise<void>;
}

// ---------- Apple devices ----------

const appleCa = createCertificateAuthority('Bench Apple MDM CA');
const { privateKey: appleKey, publicKey: applePublicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
});

interface AppleDevice {
  udid: string;
  certDer: Buffer;
  /** Request k: Idle (k = 0) or Acknowledged for command k-1, signed up front. */
  requests: { body: Buffer; signature: string }[];
}

// A command type no listener acts on: the figures are the queue's and the balancer's cost.
const appleCommandList = Array.from({ length: appleCommands }, () =>
  buildCommandPlist('InstalledApplicationList', {}),
);

function makeAppleDevices(key: KeyObject): AppleDevice[] {
  const issuer = issuingCa(appleCa);
  const spki = applePublicKey.export({ type: 'spki', format: 'der' });
  return Array.from({ length: appleDevices }, (_, i) => {
    const udid = `MPBENCH0-0000-4000-8000-${i.toString(16).padStart(12, '0')}`.toUpperCase();
    const certDer = issueFromSpki({
      spki,
      subjectDer: encodeName({ CN: 'Fleet Identity', O: 'Fleet', OU: 'Fleet Device Enrollment' }),
      days: 365,
      ca: issuer,
      usage: 'client',
    }).certDer;
    const requests = Array.from({ length: appleCommands + 1 }, (_, k) => {
      const body = buildPlist(
        k === 0
          ? { UDID: udid, Status: 'Idle' }
          : { UDID: udid, Status: 'Acknowledged', CommandUUID: appleCommandList[k - 1].commandUuid },
      );
      const signature = buildSignedData({
        content: body,
        detached: true,
        signerCert: certDer,
        signerKey: key,
      });
      return { body, signature: signature.toString('base64') };
    });
    return { udid, certDer, requests };
  });
}

function seedApple(db: Kysely<DB>, devices: AppleDevice[]): Promise<void> {
  return seedQueuedAppleDevices(
    db,
    appleCa,
    devices,
    appleCommandList.map((c) => ({ ...c, requestType: 'InstalledApplicationList' })),
  );
}

/** What the Apple devices saw. */
interface AppleOutcome {
  roundTrips: number;
  seconds: number;
  /** A command handed out again after its acknowledgement had been answered 200. */
  servedAfterAck: number;
  /** An answer that was not the next queued command. */
  unexpected: string[];
  /** Devices whose round trips were answered by more than one process. */
  devicesOnSeveralProcesses: number;
}

const commandUuidIn = (body: Buffer) =>
  /<key>CommandUUID<\/key>\s*<string>([^<]+)<\/string>/.exec(body.toString())?.[1];

/**
 * Each worker takes a device and walks it through its queue: Idle, then Acknowledged for each
 * command it was given. The pacer sees the round trips done so far and may hold a device back.
 */
async function driveApple(
  baseUrl: string,
  devices: AppleDevice[],
  traffic: Traffic,
  pacer: Pacer,
): Promise<AppleOutcome> {
  const url = new URL(`${baseUrl}/mdm/apple/mdm`);
  const index = new Map(appleCommandList.map((c, i) => [c.commandUuid, i]));
  const out: AppleOutcome = {
    roundTrips: 0,
    seconds: 0,
    servedAfterAck: 0,
    unexpected: [],
    devicesOnSeveralProcesses: 0,
  };
  let next = 0;
  const began = performance.now();
  const worker = async () => {
    while (next < devices.length) {
      const i = next++;
      const d = devices[i];
      await pacer.beforeDevice(i / devices.length);
      const backends = new Set<string>();
      for (let k = 0; k <= appleCommands; k++) {
        const r = d.requests[k];
        const headers = {
          'content-type': 'application/x-apple-aspen-mdm; charset=UTF-8',
          'mdm-signature': r.signature,
        };
        const answer = await sendUntilAnswered(traffic, url, 'PUT', headers, () => r.body);
        if (answer.backend) backends.add(answer.backend);
        out.roundTrips++;
        pacer.appleProgress(out.roundTrips);
        const served = commandUuidIn(answer.body);
        const expected = appleCommandList[k]?.commandUuid;
        if (served === expected) continue;
        const servedIndex = served === undefined ? undefined : index.get(served);
        // Commands 0..k-1 were acknowledged with a 200 by the requests before this one.
        if (servedIndex !== undefined && servedIndex < k) out.servedAfterAck++;
        out.unexpected.push(
          `${d.udid} request ${k}: expected ${expected ?? 'no command'}, got ${served ?? 'no command'}`,
        );
        break;
      }
      if (backends.size > 1) out.devicesOnSeveralProcesses++;
    }
  };
  await Promise.all(Array.from({ length: appleConcurrency }, worker));
  out.seconds = (performance.now() - began) / 1000;
  return out;
}

// ---------- Windows devices ----------

interface WindowsDevice {
  deviceId: string;
  hash: Buffer;
  nonce: Buffer;
}

/** Each run queues fresh Windows commands (new UUIDs), so results of one run cannot count in another. */
function windowsCommandsForRun(): ReturnType<typeof prepareCommand>[] {
  return Array.from({ length: windowsCommands }, (_, i) =>
    prepareCommand(
      `<Replace><Item><Target><LocURI>./Device/Vendor/MSFT/Policy/Config/Bench/Value${i}</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>${i}</Data></Item></Replace>`,
    ),
  );
}

async function seedWindows(
  db: Kysely<DB>,
  serverUrl: string,
  commands: ReturnType<typeof prepareCommand>[],
): Promise<WindowsDevice[]> {
  await new AppConfigService(new AppConfigStore(db, new SecretBox(benchServerKey)), serverUrl).patch({
    server_settings: { server_url: serverUrl },
    mdm: { windows_enabled_and_configured: true },
  });
  const devices: WindowsDevice[] = await seedWindowsEnrollments(db, windowsDevices, 'MPBENCH-');
  const store = new WindowsMdmStore(db);
  const ids = (await db.selectFrom('mdm_windows_enrollments').select('id').execute()).map((r) => r.id);
  for (const c of commands) await store.enqueue(ids, c);
  return devices;
}

interface WindowsOutcome {
  sessions: number;
  seconds: number;
  /** A command sent again after the Status that answered it had got a 200. */
  servedAfterResult: number;
  unexpected: string[];
  /** Sessions whose two messages were answered by different processes. */
  sessionsOnTwoProcesses: number;
}

const headerStatus = (answer: string) =>
  /<CmdRef>0<\/CmdRef><Cmd>SyncHdr<\/Cmd>(?:<Chal>.*?<\/Chal>)?<Data>(\d+)<\/Data>/.exec(answer)?.[1];
const nextNonce = (answer: string) =>
  /<NextNonce xmlns="syncml:metinf">([^<]+)<\/NextNonce>/.exec(answer)?.[1];
const commandIds = (answer: string) =>
  [...answer.matchAll(/<(?:Replace|Add|Delete|Exec|Get|Atomic)><CmdID>([^<]+)<\/CmdID>/g)].map((m) => m[1]);

/**
 * One SyncML message, sent until a process answers it with header Status 200. A 401/407 (the
 * nonce was used by a message whose answer was lost to the kill, or a retry) carries a new nonce:
 * the message is signed again with it, as DMClient does.
 */
async function exchange(
  traffic: Traffic,
  url: URL,
  d: WindowsDevice,
  message: (cred: { type: string; format: string; data: string }) => string,
): Promise<{ text: string; backend?: string }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const answer = await sendUntilAnswered(
      traffic,
      url,
      'POST',
      { 'content-type': 'application/vnd.syncml.dm+xml' },
      () =>
        Buffer.from(
          message({ type: 'syncml:auth-md5', format: 'b64', data: digestFromHash(d.hash, d.nonce) }),
        ),
    );
    const text = answer.body.toString();
    const nonce = nextNonce(text);
    if (nonce) d.nonce = Buffer.from(nonce, 'base64');
    const status = headerStatus(text);
    if (status === '200') return { text, backend: answer.backend };
    if (status !== '401' && status !== '407') throw new Error(`session refused: ${text.slice(0, 300)}`);
  }
  throw new Error(`device ${d.deviceId}: still challenged after 20 attempts`);
}

/**
 * Each worker takes a PC and runs sessions until one brings no command: the first message
 * (Alert 1201, DevInfo), then Status 200 for every command the answer carried.
 */
async function driveWindows(
  baseUrl: string,
  devices: WindowsDevice[],
  commands: ReturnType<typeof prepareCommand>[],
  traffic: Traffic,
  pacer: Pacer,
): Promise<WindowsOutcome> {
  const url = new URL(`${baseUrl}/api/mdm/microsoft/management`);
  const ours = new Set(commands.map((c) => c.commandUuid));
  const out: WindowsOutcome = {
    sessions: 0,
    seconds: 0,
    servedAfterResult: 0,
    unexpected: [],
    sessionsOnTwoProcesses: 0,
  };
  let next = 0;
  const began = performance.now();
  const worker = async () => {
    while (next < devices.length) {
      const i = next++;
      const d = devices[i];
      await pacer.beforeDevice(i / devices.length);
      const answered = new Set<string>();
      for (let s = 1; s <= windowsCommands + 2; s++) {
        const header = { sessionId: s.toString(16).toUpperCase(), target: url.href, source: d.deviceId };
        const first = await exchange(traffic, url, d, (cred) =>
          buildSyncMessage({
            ...header,
            cred,
            msgId: '1',
            body: [
              '<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>',
              '<Alert><CmdID>2</CmdID><Data>1224</Data><Item><Meta><Type xmlns="syncml:metinf">com.microsoft/MDM/LoginStatus</Type></Meta><Data>user</Data></Item></Alert>',
              `<Replace><CmdID>3</CmdID><Item><Source><LocURI>./DevInfo/DevId</LocURI></Source><Data>${d.deviceId}</Data></Item><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>Bench</Data></Item><Item><Source><LocURI>./DevInfo/DmV</LocURI></Source><Data>1.3</Data></Item></Replace>`,
            ],
          }),
        );
        out.sessions++;
        const sent = commandIds(first.text);
        for (const id of sent) {
          if (answered.has(id)) out.servedAfterResult++;
          if (!ours.has(id)) out.unexpected.push(`${d.deviceId}: command ${id} was not queued by the bench`);
        }
        if (sent.length === 0) break;
        const second = await exchange(traffic, url, d, (cred) =>
          buildSyncMessage({
            ...header,
            cred,
            msgId: '2',
            body: [
              statusXml({ cmdId: '1', msgRef: '1', cmdRef: '0', cmd: 'SyncHdr', code: '200' }),
              ...sent.map((id, i) =>
                statusXml({ cmdId: String(i + 2), msgRef: '1', cmdRef: id, cmd: 'Replace', code: '200' }),
              ),
            ],
          }),
        );
        if (first.backend && second.backend && first.backend !== second.backend) out.sessionsOnTwoProcesses++;
        if (commandIds(second.text).length)
          out.unexpected.push(`${d.deviceId}: closing answer carries a command`);
        for (const id of sent) answered.add(id);
      }
      for (const c of ours)
        if (!answered.has(c)) out.unexpected.push(`${d.deviceId}: command ${c} was never delivered`);
    }
  };
  await Promise.all(Array.from({ length: windowsConcurrency }, worker));
  out.seconds = (performance.now() - began) / 1000;
  return out;
}

// ---------- Server processes ----------

/** One Flotilla process on a fixed loopback port (a restart takes the same port, as the balancer expects). */
class FlotillaProcess {
  child?: ChildProcess;
  generation = 0;
  /** CPU of earlier generations (killed), in ms. */
  cpuOfEarlierMs = 0;
  peakRssMb = 0;
  private output = '';

  constructor(
    readonly name: string,
    readonly port: number,
    readonly dataDir: string,
    private readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    this.generation++;
    this.output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src', 'main.ts'), 'serve'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        ...this.env,
        FLOTILLA_DATA_DIR: this.dataDir,
        FLOTILLA_LISTEN_PORT: String(this.port),
        FLOTILLA_INSTANCE_ID: `${this.name}.${this.generation}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (c: Buffer) => {
      this.output = (this.output + c.toString()).slice(-20_000);
      if (process.env.BENCH_SERVER_LOG === '1') process.stderr.write(c);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name} did not start:\n${this.output}`)),
        60_000,
      );
      const onData = () => {
        if (/listening on http:\/\//.test(this.output)) {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.once('exit', () => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited before listening:\n${this.output}`));
      });
    });
  }

  cpuMs(): number {
    return this.cpuOfEarlierMs + processCpuMs(this.child?.pid);
  }

  private notePeak(): void {
    this.peakRssMb = Math.max(this.peakRssMb, processPeakRssMb(this.child?.pid) ?? 0);
  }

  /** SIGKILL: no shutdown hook runs, nothing buffered is flushed. */
  async kill(): Promise<void> {
    const child = this.child!;
    this.notePeak();
    this.cpuOfEarlierMs += processCpuMs(child.pid);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    this.notePeak();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }

  /** Whatever the process left in its data directory (on MySQL it should be nothing). */
  leftOnDisk(): string[] {
    return readdirSync(this.dataDir);
  }

  tail(): string {
    return this.output.slice(-2000);
  }
}

// ---------- Checks against the database ----------

async function checkDatabase(
  db: Kysely<DB>,
  appleDeviceList: AppleDevice[],
  windowsCommandList: ReturnType<typeof prepareCommand>[],
  cronIntervals: Map<string, number>,
  failures: Failures,
): Promise<{ cronRuns: number; testTicks: number; runsPerInstance: Record<string, number> }> {
  const acked = await db
    .selectFrom('nano_command_results')
    .select(['id', 'command_uuid', 'status'])
    .execute();
  const appleExpected = appleDeviceList.length * appleCommands;
  const ackedOk = acked.filter((r) => r.status === 'Acknowledged');
  if (ackedOk.length !== appleExpected || acked.length !== appleExpected)
    failures.push(
      `apple: ${ackedOk.length} Acknowledged results (${acked.length} in all) for ${appleExpected} commands`,
    );
  const appleKeys = new Set(ackedOk.map((r) => `${r.id} ${r.command_uuid}`));
  let appleMissing = 0;
  for (const d of appleDeviceList)
    for (const c of appleCommandList) if (!appleKeys.has(`${d.udid} ${c.commandUuid}`)) appleMissing++;
  if (appleMissing) failures.push(`apple: ${appleMissing} acknowledged commands have no stored result`);

  const winResults = await db
    .selectFrom('windows_mdm_command_results')
    .select(['enrollment_id', 'command_uuid', 'status_code'])
    .execute();
  const winExpected = windowsDevices * windowsCommandList.length;
  const perKey = new Map<string, number>();
  for (const r of winResults)
    perKey.set(
      `${r.enrollment_id} ${r.command_uuid}`,
      (perKey.get(`${r.enrollment_id} ${r.command_uuid}`) ?? 0) + 1,
    );
  const twice = [...perKey.values()].filter((n) => n > 1).length;
  const ok = winResults.filter((r) => r.status_code === '200').length;
  if (winResults.length !== winExpected || ok !== winExpected || twice)
    failures.push(
      `windows: ${ok} results with 200 (${winResults.length} in all, ${twice} stored twice) for ${winExpected} commands`,
    );
  const winLeft = await db
    .selectFrom('windows_mdm_command_queue')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  if (Number(winLeft?.n)) failures.push(`windows: ${winLeft?.n} commands still queued`);

  // Cron: at most one run of a job per tick of its interval (ticks are aligned to the epoch).
  const runs = await db
    .selectFrom('cron_stats')
    .select(['name', 'instance', 'created_at', 'stats_type'])
    .execute();
  const perTick = new Map<string, string[]>();
  for (const r of runs) {
    if (r.stats_type !== 'scheduled') continue;
    const at = fromDbTime(r.created_at)?.getTime() ?? 0;
    const tick = `${r.name} ${Math.floor(at / 1000 / (cronIntervals.get(r.name) ?? 1))}`;
    perTick.set(tick, [...(perTick.get(tick) ?? []), r.instance]);
  }
  for (const [tick, instances] of perTick)
    if (instances.length > 1)
      failures.push(`cron: ${tick} ran ${instances.length} times (${instances.join(', ')})`);
  const runsPerInstance: Record<string, number> = {};
  for (const r of runs) runsPerInstance[r.instance] = (runsPerInstance[r.instance] ?? 0) + 1;
  return {
    cronRuns: runs.length,
    testTicks: runs.filter((r) => r.name === 'test_tick').length,
    runsPerInstance,
  };
}

// ---------- One run ----------

async function run(
  haproxy: string,
  processes: number,
  killOne: boolean,
  appleDeviceList: AppleDevice[],
): Promise<Failures> {
  const label = `multiprocess.n${processes}${killOne ? '_kill' : ''}`;
  const failures: Failures = [];
  const database: BenchDatabase = await createBenchDatabase('mysql');
  const balancerPort = await freePort();
  const baseUrl = `http://127.0.0.1:${balancerPort}`;
  const windowsCommandList = windowsCommandsForRun();
  const conn = openDatabase({ url: database.url, dataDir: database.dataDir, poolSize: 4 });
  const servers: FlotillaProcess[] = [];
  let balancer: Awaited<ReturnType<typeof startBalancer>> | undefined;
  try {
    await migrateToLatest(conn.db);
    await seedApple(conn.db, appleDeviceList);
    const windowsDeviceList = await seedWindows(conn.db, baseUrl, windowsCommandList);
    const env = {
      FLOTILLA_DATABASE_URL: database.url,
      FLOTILLA_SERVER_PRIVATE_KEY: benchServerKey,
      FLOTILLA_SERVER_URL: baseUrl,
      FLOTILLA_LISTEN_HOST: '127.0.0.1',
      FLOTILLA_TRUST_PROXY: '127.0.0.1',
      FLOTILLA_LOG_LEVEL: 'warn',
      FLOTILLA_CRON_ENABLED: 'true',
      FLOTILLA_CRON_TEST_JOB_INTERVAL_SECONDS: '1',
    };
    for (let i = 1; i <= processes; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), `flotilla-mp-p${i}-`));
      servers.push(new FlotillaProcess(`p${i}`, await freePort(), dataDir, env));
    }
    // All at once, as replicas start: they race for the built-in CAs and the cron leases.
    await Promise.all(servers.map((s) => s.start()));
    balancer = await startBalancer(
      haproxy,
      balancerPort,
      servers.map((s) => ({ name: s.name, port: s.port })),
    );
    // The first admin, through the balancer (the setup route must work on any process).
    const setup = await fetch(`${baseUrl}/api/v1/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        admin: { email: 'bench@example.com', name: 'Bench', password: benchAdminPassword },
        org_info: { org_name: 'Bench' },
      }),
    });
    if (setup.status !== 200)
      throw new Error(`setup through the balancer: ${setup.status} ${await setup.text()}`);
    const { token } = (await setup.json()) as { token: string };
    const cronList = await fetch(`${baseUrl}/api/v1/fleet/cron`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (cronList.status !== 200) throw new Error(`GET /api/v1/fleet/cron: ${cronList.status}`);
    const { crons } = (await cronList.json()) as { crons: { name: string; interval_seconds: number }[] };
    const cronIntervals = new Map(crons.map((c) => [c.name, c.interval_seconds]));

    const traffic: Traffic = {
      ok: 0,
      retried: 0,
      retryReasons: new Map(),
      perBackend: new Map(),
      deadline: Date.now() + runTimeoutMs,
    };
    const mysqlPid = localMysqlPid();
    const mysqlBefore = processCpuMs(mysqlPid);
    const serverBefore = servers.reduce((a, s) => a + s.cpuMs(), 0);
    const loadBefore = loadAverage();
    const began = performance.now();

    let killing: Promise<void> | undefined;
    /** Requests the killed process had answered when it was back (to count what it answered after). */
    let answeredBeforeRestart: number | undefined;
    const killAt = Math.floor(appleDeviceList.length * (appleCommands + 1) * 0.4);
    const startKill = (when: string) => {
      if (!killOne || killing) return;
      const victim = servers[0];
      killing = (async () => {
        process.stderr.write(`${label}: SIGKILL ${victim.name} (pid ${victim.child?.pid}) ${when}\n`);
        await victim.kill();
        await new Promise((r) => setTimeout(r, 1000));
        await victim.start();
        answeredBeforeRestart = traffic.perBackend.get(victim.name) ?? 0;
        process.stderr.write(`${label}: ${victim.name} restarted (pid ${victim.child?.pid})\n`);
      })();
    };
    const pacer: Pacer = {
      appleProgress: (done) => {
        if (done >= killAt) startKill(`after ${done} Apple round trips`);
      },
      // The last 40% of the devices start once the killed process is back, so it serves them too.
      beforeDevice: async (position) => {
        if (!killOne || position < 0.6) return;
        startKill('as the last 40% of the devices start');
        await killing;
      },
    };
    const [apple, windows] = await Promise.all([
      driveApple(baseUrl, appleDeviceList, traffic, pacer),
      driveWindows(baseUrl, windowsDeviceList, windowsCommandList, traffic, pacer),
    ]);
    const seconds = (performance.now() - began) / 1000;
    await killing;
    if (killOne && !killing) failures.push('the kill never happened (too few Apple round trips)');
    const serverCpuMs = servers.reduce((a, s) => a + s.cpuMs(), 0) - serverBefore;
    const mysqlCpuMs = processCpuMs(mysqlPid) - mysqlBefore;
    const loadAfter = loadAverage();

    // Let buffered writes settle and a few more cron ticks contend before the checks.
    await new Promise((r) => setTimeout(r, 2500));
    if (apple.servedAfterAck)
      failures.push(`apple: ${apple.servedAfterAck} commands handed out again after their acknowledgement`);
    if (windows.servedAfterResult)
      failures.push(
        `windows: ${windows.servedAfterResult} commands sent again after their Status was answered`,
      );
    for (const u of [...apple.unexpected, ...windows.unexpected].slice(0, 10)) failures.push(u);
    const cron = await checkDatabase(conn.db, appleDeviceList, windowsCommandList, cronIntervals, failures);
    for (const s of servers) {
      const left = s.leftOnDisk();
      if (left.length) failures.push(`${s.name} wrote to its data directory: ${left.join(', ')}`);
    }

    const requests = traffic.ok;
    reportFigure(`${label}.requests_per_second`, requests / seconds, 'requests/s');
    reportFigure(`${label}.apple_round_trips_per_second`, apple.roundTrips / apple.seconds, 'requests/s');
    reportFigure(`${label}.windows_sessions_per_second`, windows.sessions / windows.seconds, 'sessions/s');
    reportFigure(`${label}.server_cpu_per_request`, serverCpuMs / requests, 'ms');
    if (mysqlPid) reportFigure(`${label}.mysql_cpu_per_request`, mysqlCpuMs / requests, 'ms');
    reportFigure(`${label}.retried_requests`, traffic.retried, 'requests');
    reportFigure(`${label}.load_average_1m_before`, loadBefore, 'load');
    reportFigure(`${label}.load_average_1m_after`, loadAfter, 'load');
    process.stderr.write(
      `${label}: ${requests} requests in ${seconds.toFixed(1)} s; per process ${JSON.stringify(Object.fromEntries(traffic.perBackend))}; ` +
        `${apple.devicesOnSeveralProcesses}/${appleDeviceList.length} Macs and ${windows.sessionsOnTwoProcesses}/${windows.sessions} ` +
        `Windows sessions answered by more than one process; ${cron.cronRuns} cron runs (${cron.testTicks} test_tick), ` +
        `per instance ${JSON.stringify(cron.runsPerInstance)}; sent again: ${JSON.stringify(Object.fromEntries(traffic.retryReasons))}\n`,
    );
    if (answeredBeforeRestart !== undefined) {
      const after = (traffic.perBackend.get(servers[0].name) ?? 0) - answeredBeforeRestart;
      process.stderr.write(`${label}: the restarted ${servers[0].name} answered ${after} requests\n`);
      reportFigure(`${label}.answered_by_restarted_process`, after, 'requests');
    }
    for (const s of servers) await s.stop();
    reportFigure(`${label}.server_peak_rss`, Math.max(...servers.map((s) => s.peakRssMb)), 'MiB');
    if (failures.length)
      for (const s of servers) process.stderr.write(`--- ${s.name} log tail ---\n${s.tail()}\n`);
    return failures;
  } finally {
    for (const s of servers) {
      await s.stop().catch(() => {});
      rmSync(s.dataDir, { recursive: true, force: true });
    }
    await balancer?.close();
    await conn.close();
    await database.drop();
  }
}

async function main(): Promise<number> {
  const haproxy = haproxyBinary();
  if (!haproxy) {
    process.stderr.write('multiprocess: haproxy is not installed (apt-get install haproxy); skipping\n');
    return 0;
  }
  if (!(await mysqlReachable())) {
    process.stderr.write('multiprocess: MySQL is unreachable; skipping\n');
    return 0;
  }
  process.stderr.write(`multiprocess: signing ${appleDevices * (appleCommands + 1)} Apple requests...\n`);
  const appleDeviceList = makeAppleDevices(appleKey);
  const runs = processCounts.map((n) => ({ n, kill: false }));
  if (killProcesses >= 2) runs.push({ n: killProcesses, kill: true });
  let failed = false;
  for (const r of runs) {
    const failures = await run(haproxy, r.n, r.kill, appleDeviceList);
    const verdict = failures.length ? 'FAILED' : 'nothing lost, nothing delivered twice, crons once per tick';
    process.stderr.write(`multiprocess.n${r.n}${r.kill ? '_kill' : ''}: ${verdict}\n`);
    for (const f of failures) process.stderr.write(`  - ${f}\n`);
    reportFigure(`multiprocess.n${r.n}${r.kill ? '_kill' : ''}.failed_checks`, failures.length, 'checks');
    failed ||= failures.length > 0;
  }
  agent.destroy();
  return failed ? 1 : 0;
}

process.exitCode = await main();
