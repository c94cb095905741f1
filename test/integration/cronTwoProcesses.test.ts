import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, mysqlAvailable, type TestDatabase } from '../helpers/testServer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: string[];
  exited: Promise<number | null>;
}

/** Every child started here, so a failed start still gets cleaned up. */
const spawned: ChildProcess[] = [];

/** Starts `flotilla serve --auto-migrate` from source in its own process; resolves once it listens. */
function spawnServer(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve', '--auto-migrate'], {
    cwd: process.cwd(),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.push(child);
  const output: string[] = [];
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output.join('')}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      const m = /listening on (http:\/\/\S+)/.exec(output.join(''));
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], output, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output.join('')}`));
    });
  });
}

const d = mysqlAvailable ? describe : describe.skip;

d('two server processes against one MySQL database', () => {
  const procs: ServerProcess[] = [];
  let testDb: TestDatabase | undefined;

  afterAll(async () => {
    for (const child of spawned) if (child.exitCode === null) child.kill('SIGKILL');
    await testDb?.drop();
  });

  it('runs the 1-second test job exactly once per tick, and the survivor takes over when one stops', async () => {
    // A fresh, migrated database (migrating on MySQL takes seconds; the servers then find nothing pending).
    testDb = await createTestDatabase('mysql');
    const c = await createConnection({ uri: testDb.url, dateStrings: true });
    const env = {
      FLOTILLA_DATABASE_URL: testDb.url,
      FLOTILLA_SERVER_PRIVATE_KEY: 'two-process-test-key-0123456789abcdef',
      FLOTILLA_LISTEN_HOST: '127.0.0.1',
      FLOTILLA_LISTEN_PORT: '0',
      FLOTILLA_DATA_DIR: testDb.dataDir,
      FLOTILLA_LOG_LEVEL: 'warn',
      FLOTILLA_CRON_ENABLED: 'true',
      FLOTILLA_CRON_TEST_JOB_INTERVAL_SECONDS: '1',
    };
    // Both start at once: creating the built-in CAs races too.
    procs.push(...(await Promise.all([spawnServer(env), spawnServer(env)])));
    for (const p of procs) expect((await fetch(`${p.url}/healthz`)).status).toBe(200);

    await sleep(5500);
    for (const p of procs) expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
    const [phase1] = (await c.query(
      "SELECT instance, status, created_at FROM cron_stats WHERE name = 'test_tick' ORDER BY id",
    )) as unknown as [{ instance: string; status: string; created_at: string }[]];

    // Exactly one run per second while both processes tick.
    const perSecond = new Map<string, number>();
    for (const r of phase1)
      perSecond.set(
        String(r.created_at).slice(0, 19),
        (perSecond.get(String(r.created_at).slice(0, 19)) ?? 0) + 1,
      );
    const seconds = [...perSecond.keys()].sort();
    expect(seconds.length).toBeGreaterThanOrEqual(4);
    expect([...perSecond.values()].every((n) => n === 1)).toBe(true);
    const first = Date.parse(seconds[0].replace(' ', 'T') + 'Z');
    const last = Date.parse(seconds[seconds.length - 1].replace(' ', 'T') + 'Z');
    expect(seconds.length).toBe((last - first) / 1000 + 1); // no tick skipped

    // Stop the process holding the lease; the other one takes over once the lease expires.
    const [lease] = (await c.query("SELECT owner FROM locks WHERE name = 'test_tick'")) as unknown as [
      { owner: string }[],
    ];
    const holderPid = Number(lease[0].owner.split(':').pop());
    const holder = procs.find((p) => p.child.pid === holderPid)!;
    const survivor = procs.find((p) => p !== holder)!;
    expect(holder).toBeDefined();
    const stoppedAt = Date.now();
    holder.child.kill('SIGTERM');
    expect(await holder.exited).toBe(0);
    await sleep(2500);
    const [phase2] = (await c.query(
      "SELECT instance, created_at FROM cron_stats WHERE name = 'test_tick' AND created_at > ? ORDER BY id",
      [new Date(stoppedAt + 100).toISOString().replace('T', ' ').replace('Z', '')],
    )) as unknown as [{ instance: string }[]];
    expect(phase2.length).toBeGreaterThanOrEqual(1);
    expect(phase2.every((r) => r.instance.endsWith(`:${survivor.child.pid}`))).toBe(true);

    survivor.child.kill('SIGTERM');
    expect(await survivor.exited).toBe(0);
    const [pending] = (await c.query(
      "SELECT COUNT(*) AS n FROM cron_stats WHERE status = 'pending'",
    )) as unknown as [{ n: number }[]];
    expect(Number(pending[0].n)).toBe(0);
    await c.end();
  }, 120_000);
});
