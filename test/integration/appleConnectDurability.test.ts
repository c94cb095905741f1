import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildCommandPlist, buildPlist } from '../../src/apple/commands/build.js';
import { microNow } from '../../src/apple/commands/store.js';
import { AssetName, ConfigAssetService } from '../../src/configassets/service.js';
import { ConfigAssetStore } from '../../src/configassets/store.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { buildSignedData } from '../../src/crypto/cms.js';
import { issueFromSpki, issuingCa } from '../../src/crypto/issue.js';
import { encodeName } from '../../src/crypto/name.js';
import { SecretBox } from '../../src/crypto/secretbox.js';
import { dbNow } from '../../src/db/dialect.js';
import {
  createTestDatabase,
  dialects,
  mysqlAvailable,
  testServerKey,
  type TestDatabase,
} from '../helpers/testServer.js';

/**
 * The connect path's promises, checked against the real server in its own process: a report the
 * device got 200 for survives `kill -9`, an acknowledged command is never served again (after a
 * restart, or by another process on the same database), and every command is delivered.
 */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const deviceCount = 12;
const commandsPerDevice = 8;

const ca = createCertificateAuthority('Durability Test CA');
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = publicKey.export({ type: 'spki', format: 'der' });

interface Device {
  udid: string;
  certDer: Buffer;
}

function newDevices(): Device[] {
  return Array.from({ length: deviceCount }, () => ({
    udid: randomUUID().toUpperCase(),
    certDer: issueFromSpki({
      spki,
      subjectDer: encodeName({ CN: 'Fleet Identity', O: 'Fleet', OU: 'Fleet Device Enrollment' }),
      days: 30,
      ca: issuingCa(ca),
      usage: 'client',
    }).certDer,
  }));
}

/** Enrolled devices (as the bench seeds them), each with its own commands queued in order. */
async function seed(testDb: TestDatabase, devices: Device[]): Promise<Map<string, string[]>> {
  const db = testDb.database.db;
  const assets = new ConfigAssetService(new ConfigAssetStore(db), new SecretBox(testServerKey));
  await assets.set({ [AssetName.appleScepCaCert]: ca.certPem, [AssetName.appleScepCaKey]: ca.keyPem });
  const now = dbNow();
  const queued = new Map<string, string[]>();
  for (const d of devices) {
    await db
      .insertInto('nano_devices')
      .values({
        id: d.udid,
        authenticate: '<plist/>',
        authenticate_at: now,
        platform: 'darwin',
        created_at: now,
        updated_at: now,
      })
      .execute();
    await db
      .insertInto('nano_enrollments')
      .values({
        id: d.udid,
        device_id: d.udid,
        type: 'Device',
        topic: 'com.apple.mgmt.External.test',
        push_magic: randomUUID(),
        token_hex: createHash('sha256').update(d.udid).digest('hex'),
        last_seen_at: now,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await db
      .insertInto('nano_cert_auth_associations')
      .values({
        id: d.udid,
        sha256: createHash('sha256').update(d.certDer).digest('hex'),
        created_at: now,
        updated_at: now,
      })
      .execute();
    const uuids: string[] = [];
    for (let i = 0; i < commandsPerDevice; i++) {
      const c = buildCommandPlist('SecurityInfo', {});
      const at = microNow();
      await db
        .insertInto('nano_commands')
        .values({
          command_uuid: c.commandUuid,
          request_type: 'SecurityInfo',
          command: c.plist,
          created_at: at,
          updated_at: now,
        })
        .execute();
      await db
        .insertInto('nano_enrollment_queue')
        .values({ id: d.udid, command_uuid: c.commandUuid, created_at: at, updated_at: at })
        .execute();
      uuids.push(c.commandUuid);
    }
    queued.set(d.udid, uuids);
  }
  return queued;
}

interface ServerProcess {
  url: string;
  child: ChildProcess;
  stop(signal: NodeJS.Signals): Promise<void>;
}

/** `tsx src/main.ts serve` on the test database, in its own process. */
async function startServer(testDb: TestDatabase): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src', 'main.ts'), 'serve'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      FLOTILLA_DATABASE_URL: testDb.url,
      FLOTILLA_DATA_DIR: testDb.dataDir,
      FLOTILLA_SERVER_PRIVATE_KEY: testServerKey,
      FLOTILLA_LISTEN_HOST: '127.0.0.1',
      FLOTILLA_LISTEN_PORT: '0',
      FLOTILLA_LOG_LEVEL: 'warn',
      FLOTILLA_CRON_ENABLED: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (c: Buffer) => {
      output += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) resolve(m[1]);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`server exited before listening:\n${output}`)));
  });
  return {
    url,
    child,
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

function sign(d: Device, body: Buffer): string {
  return buildSignedData({
    content: body,
    detached: true,
    signerCert: d.certDer,
    signerKey: privateKey,
  }).toString('base64');
}

/** One connect request; the UUID of the command in the answer, if any. */
async function connect(
  url: string,
  d: Device,
  report: { status: 'Idle' } | { status: 'Acknowledged'; commandUuid: string },
): Promise<{ status: number; next?: string }> {
  const body = buildPlist(
    report.status === 'Idle'
      ? { UDID: d.udid, Status: 'Idle' }
      : { UDID: d.udid, Status: 'Acknowledged', CommandUUID: report.commandUuid },
  );
  const res = await fetch(`${url}/mdm/apple/mdm`, {
    method: 'PUT',
    headers: { 'content-type': 'application/x-apple-aspen-mdm', 'mdm-signature': sign(d, body) },
    body: new Uint8Array(body),
  });
  const text = await res.text();
  return { status: res.status, next: /<key>CommandUUID<\/key>\s*<string>([^<]+)<\/string>/.exec(text)?.[1] };
}

/** What the devices saw: commands served to them, and reports answered 200. */
class Ledger {
  readonly served = new Map<string, string[]>();
  readonly acked200 = new Map<string, Set<string>>();

  serve(udid: string, uuid: string | undefined): void {
    if (!uuid) return;
    const list = this.served.get(udid) ?? [];
    list.push(uuid);
    this.served.set(udid, list);
    // Never again once its acknowledgement was answered 200.
    expect(
      this.acked200.get(udid)?.has(uuid) ?? false,
      `${uuid} served to ${udid} after it was acknowledged`,
    ).toBe(false);
  }

  acknowledged(udid: string, uuid: string): void {
    const set = this.acked200.get(udid) ?? new Set<string>();
    set.add(uuid);
    this.acked200.set(udid, set);
  }
}

/**
 * One device working through its queue: Idle, then an Acknowledged for each command it gets,
 * until the queue is empty or `stop()` says so. Requests go to `urls()` in turn. A failed
 * request (the server went away) ends the session; the caller starts a new one.
 */
async function session(d: Device, urls: () => string, ledger: Ledger, stop: () => boolean): Promise<void> {
  let res: { status: number; next?: string };
  try {
    res = await connect(urls(), d, { status: 'Idle' });
  } catch {
    return;
  }
  if (res.status !== 200) return;
  ledger.serve(d.udid, res.next);
  while (res.next && !stop()) {
    const uuid: string = res.next;
    try {
      res = await connect(urls(), d, { status: 'Acknowledged', commandUuid: uuid });
    } catch {
      return; // the answer never came: the device reports again in its next session
    }
    if (res.status !== 200) return;
    ledger.acknowledged(d.udid, uuid);
    ledger.serve(d.udid, res.next);
  }
}

async function storedAcknowledgements(testDb: TestDatabase): Promise<Set<string>> {
  const rows = await testDb.database.db
    .selectFrom('nano_command_results')
    .select(['id', 'command_uuid'])
    .where('status', '=', 'Acknowledged')
    .execute();
  return new Set(rows.map((r) => `${r.id}\n${r.command_uuid}`));
}

/** Every report answered 200 is stored, and every queued command has its Acknowledged result. */
async function expectAllDone(
  testDb: TestDatabase,
  ledger: Ledger,
  queued: Map<string, string[]>,
  everyAckAnswered: boolean,
): Promise<void> {
  const stored = await storedAcknowledgements(testDb);
  for (const [udid, uuids] of ledger.acked200)
    for (const uuid of uuids) expect(stored.has(`${udid}\n${uuid}`), `${uuid} of ${udid} lost`).toBe(true);
  for (const [udid, uuids] of queued) {
    // A report in flight at the kill may be stored without its answer reaching the device: then the
    // device is never asked again, so only without a kill does every acknowledgement get its 200.
    if (everyAckAnswered) expect([...(ledger.acked200.get(udid) ?? [])].sort()).toEqual([...uuids].sort());
    for (const uuid of uuids) expect(stored.has(`${udid}\n${uuid}`)).toBe(true);
  }
  expect(stored.size).toBe(deviceCount * commandsPerDevice);
}

for (const dialect of dialects) {
  const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;
  d(`Apple connect durability [${dialect}]`, () => {
    let testDb: TestDatabase;
    let devices: Device[];
    let queued: Map<string, string[]>;
    const servers: ServerProcess[] = [];

    beforeEach(async () => {
      testDb = await createTestDatabase(dialect);
      devices = newDevices();
      queued = await seed(testDb, devices);
    });

    afterEach(async () => {
      for (const s of servers.splice(0)) await s.stop('SIGKILL');
      await testDb.drop();
    });

    it('kill -9 mid-load loses no answered report and serves no acknowledged command again', async () => {
      const ledger = new Ledger();
      const first = await startServer(testDb);
      servers.push(first);
      let acks = 0;
      const target = Math.floor((deviceCount * commandsPerDevice) / 2);
      // Kill the server while every device has a request in flight, half-way through the queues.
      const killed = new Promise<void>((resolve) => {
        const check = setInterval(() => {
          acks = [...ledger.acked200.values()].reduce((n, s) => n + s.size, 0);
          if (acks >= target) {
            clearInterval(check);
            first.child.kill('SIGKILL');
            resolve();
          }
        }, 1);
      });
      await Promise.all([
        killed,
        ...devices.map(async (dev) => {
          // Sessions go on until the server is gone.
          while (first.child.exitCode === null && first.child.signalCode === null) {
            await session(
              dev,
              () => first.url,
              ledger,
              () => false,
            );
            if ((ledger.served.get(dev.udid)?.length ?? 0) >= commandsPerDevice * 2) break;
          }
        }),
      ]);
      await first.stop('SIGKILL');
      expect(acks).toBeGreaterThanOrEqual(target);
      expect(acks).toBeLessThan(deviceCount * commandsPerDevice);
      // Every report answered 200 before the kill is in the database.
      const stored = await storedAcknowledgements(testDb);
      for (const [udid, uuids] of ledger.acked200)
        for (const uuid of uuids)
          expect(stored.has(`${udid}\n${uuid}`), `${uuid} of ${udid} lost`).toBe(true);

      const second = await startServer(testDb);
      servers.push(second);
      await Promise.all(
        devices.map((dev) =>
          session(
            dev,
            () => second.url,
            ledger,
            () => false,
          ),
        ),
      );
      await expectAllDone(testDb, ledger, queued, false);
    });

    it('two server processes on one database serve the same queues, each command once', async () => {
      const ledger = new Ledger();
      // One after the other: two SQLite processes migrating at the same moment contend for the lock.
      const a = await startServer(testDb);
      servers.push(a);
      const b = await startServer(testDb);
      servers.push(b);
      let turn = 0;
      // Each request goes to the other process than the one before.
      const alternate = () => (turn++ % 2 === 0 ? a.url : b.url);
      await Promise.all(devices.map((dev) => session(dev, alternate, ledger, () => false)));
      await expectAllDone(testDb, ledger, queued, true);
      for (const [udid, served] of ledger.served) {
        expect(served).toEqual(queued.get(udid));
      }
    });
  });
}
