import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'mysql2/promise';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, mysqlAvailable, type TestDatabase } from '../helpers/testServer.js';

/** Conditions are polled, never slept for: a slow machine only makes the wait longer. */
const poll = { timeout: 60_000, interval: 200 };

interface Run {
  id: number;
  instance: string;
  status: string;
  created_at: string;
  updated_at: string;
}

/**
 * What holds for the recorded runs of one job however the processes are scheduled: each run starts
 * no earlier than the one before it ended (the lease row lock orders them, a process runs one at a
 * time), and a process takes the job over from another only once the other's lease (one interval
 * from its last start) has expired, so no tick is ever held by two processes.
 */
function expectOneAtATime(runs: Run[], leaseMs: number): void {
  const ms = (t: string) => Date.parse(t.replace(' ', 'T') + 'Z');
  for (const [i, cur] of runs.entries()) {
    expect(cur.updated_at >= cur.created_at).toBe(true);
    if (i === 0) continue;
    const prev = runs[i - 1];
    expect(prev.status, `run ${prev.id} ended before run ${cur.id}`).not.toBe('pending');
    expect(cur.created_at >= prev.updated_at, `run ${cur.id} starts after run ${prev.id} ended`).toBe(true);
    if (cur.instance !== prev.instance)
      expect(ms(cur.created_at) - ms(prev.created_at)).toBeGreaterThanOrEqual(leaseMs);
  }
}

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

  it('runs the 1-second test job in one process at a time, and the survivor takes over when one stops', async () => {
    // A fresh, migrated database (migrating on MySQL takes seconds; the servers then find nothing pending).
    testDb = await createTestDatabase('mysql');
    const c = await createConnection({ uri: testDb.url, dateStrings: true });
    const runs = async () =>
      (
        (await c.query(
          "SELECT id, instance, status, created_at, updated_at FROM cron_stats WHERE name = 'test_tick' ORDER BY id",
        )) as unknown as [Run[]]
      )[0];
    const leaseRow = async () =>
      (
        (await c.query("SELECT owner, expires_at FROM locks WHERE name = 'test_tick'")) as unknown as [
          { owner: string; expires_at: string }[],
        ]
      )[0];
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
    const pidOf = (instance: string) => Number(instance.split(':').pop());

    // While both tick: a few runs, all by these two processes, never overlapping, the lease
    // changing hands only once it expired.
    await vi.waitFor(async () => expect((await runs()).length).toBeGreaterThanOrEqual(4), poll);
    for (const p of procs) expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
    const phase1 = await runs();
    const pids = procs.map((p) => p.child.pid);
    expect(phase1.every((r) => pids.includes(pidOf(r.instance)))).toBe(true);
    expectOneAtATime(phase1, 1000);
    const [lease] = await leaseRow();
    expect(pids).toContain(pidOf(lease.owner));

    // Stop the process holding the lease; the other one takes over, once the lease has expired.
    const holder = procs.find((p) => p.child.pid === pidOf(lease.owner))!;
    const survivor = procs.find((p) => p !== holder)!;
    holder.child.kill('SIGTERM');
    expect(await holder.exited).toBe(0);
    const [leaseAtExit] = await leaseRow();
    const lastBefore = Math.max(...(await runs()).map((r) => Number(r.id)));
    const later = await vi.waitFor(async () => {
      const rows = (await runs()).filter((r) => Number(r.id) > lastBefore);
      expect(rows.some((r) => r.status === 'completed')).toBe(true);
      return rows;
    }, poll);
    expect(later.every((r) => pidOf(r.instance) === survivor.child.pid)).toBe(true);
    // The survivor waited out the stopped holder's lease (unless it held the lease already).
    if (pidOf(leaseAtExit.owner) === holder.child.pid)
      expect(later[0].created_at >= leaseAtExit.expires_at).toBe(true);

    survivor.child.kill('SIGTERM');
    expect(await survivor.exited).toBe(0);
    expectOneAtATime(await runs(), 1000);
    const [pending] = (await c.query(
      "SELECT COUNT(*) AS n FROM cron_stats WHERE status = 'pending'",
    )) as unknown as [{ n: number }[]];
    expect(Number(pending[0].n)).toBe(0);
    await c.end();
  }, 180_000);
});
