import { spawn, type ChildProcess } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import { openDatabase } from '../../src/db/database.js';
import type { DialectName } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import type { DB } from '../../src/db/schema.js';
import { createBenchDatabase, type BenchDatabase } from './database.js';
import { processPeakRssMb } from './cpu.js';
import { reportFigure } from './load.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const benchServerKey = 'bench-server-key-0123456789abcdef0123456789';
export const benchAdminPassword = 'bench-admin-password-1!';

export interface BenchServer {
  url: string;
  /** Bearer token of the admin created through /api/v1/setup. */
  adminToken: string;
  database: BenchDatabase;
  child: ChildProcess;
  close(): Promise<void>;
}

export interface StartBenchServerOptions {
  dialect: DialectName;
  /** Fills the migrated database before the server starts. */
  seed?: (db: Kysely<DB>) => Promise<void>;
  /** Extra FLOTILLA_* environment for the server. */
  env?: Record<string, string>;
  /** Prefix of the figures this server reports (default: the bench file's name). */
  name?: string;
}

/** The running bench file's name without `.bench.ts`. */
export function benchName(): string {
  return basename(process.argv[1] ?? 'bench').replace(/\.bench\.ts$/, '');
}

/**
 * Creates and migrates a fresh database, seeds it, then starts the real server in its own process
 * (so the load generator does not share its event loop) on a loopback port, and creates an admin.
 */
export async function startBenchServer(opts: StartBenchServerOptions): Promise<BenchServer> {
  const database = await createBenchDatabase(opts.dialect);
  const conn = openDatabase({ url: database.url, dataDir: database.dataDir, poolSize: 4 });
  try {
    await migrateToLatest(conn.db);
    await opts.seed?.(conn.db);
  } finally {
    await conn.close();
  }
  // BENCH_SERVER_NODE_ARGS adds node flags to the server process (e.g. `--cpu-prof` to profile it).
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', join(repoRoot, 'src', 'main.ts'), 'serve'],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        FLOTILLA_DATABASE_URL: database.url,
        FLOTILLA_DATA_DIR: database.dataDir,
        FLOTILLA_SERVER_PRIVATE_KEY: benchServerKey,
        FLOTILLA_LISTEN_HOST: '127.0.0.1',
        FLOTILLA_LISTEN_PORT: '0',
        FLOTILLA_LOG_LEVEL: 'warn',
        FLOTILLA_CRON_ENABLED: 'false',
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench server did not start:\n${output}`)), 30_000);
    child.stdout!.on('data', (c: Buffer) => {
      output += c.toString();
      // BENCH_SERVER_LOG=1 passes the server's log through (errors under load, say).
      if (process.env.BENCH_SERVER_LOG === '1') process.stderr.write(c);
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.stderr!.on('data', (c: Buffer) => {
      output += c.toString();
      process.stderr.write(c);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`bench server exited before listening:\n${output}`));
    });
  });
  const close = async () => {
    // Every bench reports the server's peak memory, read just before it stops.
    const peak = processPeakRssMb(child.pid);
    if (peak !== undefined) reportFigure(`${opts.name ?? benchName()}.server_peak_rss`, peak, 'MiB');
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await database.drop();
  };
  try {
    const res = await fetch(`${url}/api/v1/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        admin: { email: 'bench@example.com', name: 'Bench', password: benchAdminPassword },
        org_info: { org_name: 'Bench' },
      }),
    });
    if (res.status !== 200) throw new Error(`setup failed: ${res.status} ${await res.text()}`);
    const { token } = (await res.json()) as { token: string };
    return { url, adminToken: token, database, child, close };
  } catch (err) {
    await close();
    throw err;
  }
}
