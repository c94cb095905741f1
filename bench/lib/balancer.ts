import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const templateFile = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'deploy',
  'haproxy',
  'bench.cfg.template',
);

/** The haproxy binary, or undefined when it is not installed (`apt-get install haproxy`). */
export function haproxyBinary(): string | undefined {
  for (const candidate of [process.env.BENCH_HAPROXY ?? 'haproxy', '/usr/sbin/haproxy']) {
    if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

/** A loopback port nobody listens on now (so a restarted process can take the same one again). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** deploy/haproxy/bench.cfg.template with the listening port and one server line per backend. */
export function renderBenchConfig(listenPort: number, backends: { name: string; port: number }[]): string {
  const servers = backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port}`).join('\n');
  return readFileSync(templateFile, 'utf8')
    .replaceAll('{{LISTEN_PORT}}', String(listenPort))
    .replaceAll('{{SERVERS}}', servers);
}

export interface Balancer {
  url: string;
  close(): Promise<void>;
}

/** Waits until something accepts connections on the port (haproxy has bound it). */
async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`haproxy exited:\n${output()}`);
    const open = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      () => true,
      () => false,
    );
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`haproxy did not listen on ${port}:\n${output()}`);
}

/**
 * Starts haproxy in the foreground on a loopback port in front of the given backends (which may
 * not be listening yet: its health checks add each one once /healthz answers).
 */
export async function startBalancer(
  binary: string,
  listenPort: number,
  backends: { name: string; port: number }[],
): Promise<Balancer> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-haproxy-'));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, renderBenchConfig(listenPort, backends));
  const check = spawnSync(binary, ['-c', '-f', cfg], { encoding: 'utf8' });
  if (check.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `haproxy refuses the bench config (${check.signal ?? check.error?.message ?? check.status}):\n${check.stderr}${check.stdout}`,
    );
  }
  const child = spawn(binary, ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitForPort(listenPort, child, () => output);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `http://127.0.0.1:${listenPort}`,
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
