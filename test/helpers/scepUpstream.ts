import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A free loopback port (bound and released; scepserver takes it right after). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ScepUpstream {
  /** The SCEP URL (`http://127.0.0.1:<port>/scep`). */
  url: string;
  /** The upstream CA certificate (PEM), to verify what it issued. */
  caPem: string;
  caFile: string;
  close(): Promise<void>;
}

/**
 * Debian's `scepserver` (micromdm/scep) on a loopback port with its own new CA and a static
 * challenge: the upstream SCEP server a custom SCEP or NDES certificate authority points at.
 */
export async function startScepUpstream(challenge: string): Promise<ScepUpstream> {
  const dir = mkdtempSync(join(tmpdir(), 'scep-upstream-'));
  const depot = join(dir, 'depot');
  await run('scepserver', ['ca', '-init', '-depot', depot, '-keySize', '2048'], { timeout: 60_000 });
  let child: ChildProcess | undefined;
  let url = '';
  for (let attempt = 0; attempt < 3 && !url; attempt++) {
    const port = await freePort();
    child = spawn('scepserver', ['-depot', depot, '-port', String(port), '-challenge', challenge], {
      stdio: 'ignore',
    });
    const candidate = `http://127.0.0.1:${port}/scep`;
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) break;
      const up = await fetch(`${candidate}?operation=GetCACaps`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) {
        url = candidate;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!url) child.kill();
  }
  if (!url || !child) throw new Error('scepserver did not start');
  const proc = child;
  const caFile = join(depot, 'ca.pem');
  return {
    url,
    caPem: readFileSync(caFile, 'utf8'),
    caFile,
    async close() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill();
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
