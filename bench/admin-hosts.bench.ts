import type { DialectName } from '../src/db/dialect.js';
import { mysqlReachable } from './lib/database.js';
import { reportFigure, runLoad } from './lib/load.js';
import { seedHosts } from './lib/seed.js';
import { startBenchServer } from './lib/server.js';

/**
 * Admin API: `GET /api/v1/fleet/hosts?page=0&per_page=100` with 10,000 hosts stored, requests per
 * second with 10 concurrent clients for 5 s, on SQLite and on MySQL.
 */
const hostCount = Number(process.env.BENCH_HOSTS ?? 10_000);
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 5000);
const concurrency = 10;

async function measure(dialect: DialectName): Promise<void> {
  const server = await startBenchServer({ dialect, seed: (db) => seedHosts(db, hostCount) });
  try {
    const url = `${server.url}/api/v1/fleet/hosts?page=0&per_page=100`;
    const init = { headers: { authorization: `Bearer ${server.adminToken}` } };
    const probe = await fetch(url, init);
    const body = (await probe.json()) as { hosts?: unknown[] };
    if (
      probe.status !== 200 ||
      !Array.isArray(body.hosts) ||
      body.hosts.length !== Math.min(100, hostCount)
    ) {
      throw new Error(`GET /hosts answered ${probe.status} with ${JSON.stringify(body).slice(0, 200)}`);
    }
    const result = await runLoad({
      request: () => ({ url, init }),
      concurrency,
      durationMs,
      warmupRequests: 50,
    });
    if (result.errors) throw new Error(`${result.errors} of ${result.requests} requests failed`);
    reportFigure(`admin_get_hosts_${dialect}`, result.requestsPerSecond, 'requests/s');
    reportFigure(`admin_get_hosts_${dialect}_p95`, result.p95Ms, 'ms');
  } finally {
    await server.close();
  }
}

await measure('sqlite');
if (await mysqlReachable()) await measure('mysql');
else process.stderr.write('admin-hosts: MySQL is unreachable; skipping the MySQL figure\n');
