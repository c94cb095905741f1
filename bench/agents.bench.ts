import { randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { SimulatedFleetd } from '../src/agents/sim/fleetd.js';
import type { AgentPlatform } from '../src/agents/sim/machine.js';
import { keepAliveTransport } from '../src/agents/sim/transport.js';
import { openDatabase } from '../src/db/database.js';
import { dbNow } from '../src/db/dialect.js';
import type { DB } from '../src/db/schema.js';
import { startCpuMeter, type CpuSpent } from './lib/cpu.js';
import { mysqlReachable } from './lib/database.js';
import { reportFigure } from './lib/load.js';
import { startBenchServer } from './lib/server.js';

/**
 * fleetd agents on MySQL: 10,000 enrolled hosts (half Macs, half PCs), each driven by a simulated
 * fleetd over real HTTP with keep-alive connections.
 *
 * - `due`: every host's detail queries are due (just enrolled, then again after a refetch): one
 *   distributed/read that returns them and one distributed/write with the machine's answers.
 * - `steady`: nothing is due. A round trip is what osquery does every distributed_interval: a
 *   distributed/read, and a distributed/write only when the read returned queries. Measured with
 *   8 and with 32 requests in flight (BENCH_STEADY_CONCURRENCY).
 * - `orbit/config`: orbit's 30-second poll.
 *
 * Hosts are seeded with node keys by batch INSERT (the enroll endpoints are tested elsewhere);
 * everything measured is HTTP. Prints rate, latency and CPU per request for the server process, the
 * local MySQL/MariaDB server and the load generator (which shares the machine's cores).
 */
const agentCount = Number(process.env.BENCH_AGENTS ?? 10_000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 10_000);
// The steady state is measured at each of these numbers of requests in flight: it is the phase
// where the server's queueing (not its CPU) decides the rate.
const steadyConcurrencies = (process.env.BENCH_STEADY_CONCURRENCY ?? '8,32')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);

interface SeededAgent {
  uuid: string;
  serial: string;
  hostname: string;
  platform: AgentPlatform;
  nodeKey: string;
  orbitNodeKey: string;
}

function seededAgents(): SeededAgent[] {
  return Array.from({ length: agentCount }, (_, i) => {
    const platform: AgentPlatform = i % 2 ? 'windows' : 'darwin';
    const serial = `BAG${i.toString().padStart(9, '0')}`;
    return {
      uuid: randomUUID().toUpperCase(),
      serial,
      hostname: platform === 'darwin' ? `bench-mac-${i}.local` : `BENCH-PC-${i}`,
      platform,
      nodeKey: randomBytes(18).toString('base64url'),
      orbitNodeKey: randomBytes(18).toString('base64url'),
    };
  });
}

async function seed(db: Kysely<DB>, agents: SeededAgent[]): Promise<void> {
  const now = dbNow();
  for (let i = 0; i < agents.length; i += 1000) {
    await db
      .insertInto('hosts')
      .values(
        agents.slice(i, i + 1000).map((a) => ({
          uuid: a.uuid,
          osquery_host_id: a.uuid,
          hardware_serial: a.serial,
          platform: a.platform,
          // Seeded under another name: the first due pass must replace it with system_info's.
          hostname: `seeded-${a.serial}`,
          node_key: a.nodeKey,
          orbit_node_key: a.orbitNodeKey,
          created_at: now,
          updated_at: now,
        })),
      )
      .execute();
  }
}

interface Phase {
  rounds: number;
  /** Rounds that failed (an HTTP error): osquery would try again at its next interval. */
  errors: number;
  failedAgents: SimulatedFleetd[];
  requests: number;
  /** Rounds whose read returned queries. */
  withQueries: number;
  seconds: number;
  latenciesMs: number[];
  cpu: CpuSpent;
}

/**
 * Runs `round` for agents with `concurrency` workers: each agent once (`durationMs` undefined), or
 * round-robin until the deadline. A round returns how many HTTP requests it made and whether the
 * read carried queries.
 */
async function runPhase(
  fleet: SimulatedFleetd[],
  serverPid: number | undefined,
  round: (a: SimulatedFleetd) => Promise<{ requests: number; queries: boolean }>,
  durationMs?: number,
  workers = concurrency,
): Promise<Phase> {
  const phase: Phase = {
    rounds: 0,
    errors: 0,
    failedAgents: [],
    requests: 0,
    withQueries: 0,
    seconds: 0,
    latenciesMs: [],
    cpu: { serverMs: 0, clientMs: 0 },
  };
  const cpu = startCpuMeter(serverPid);
  const began = performance.now();
  const deadline = durationMs === undefined ? Infinity : began + durationMs;
  let next = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      if (durationMs === undefined && next >= fleet.length) return;
      const agent = fleet[next++ % fleet.length];
      const t0 = performance.now();
      try {
        const r = await round(agent);
        phase.latenciesMs.push(performance.now() - t0);
        phase.rounds++;
        phase.requests += r.requests;
        if (r.queries) phase.withQueries++;
      } catch (err) {
        if (phase.errors++ === 0) process.stderr.write(`agents: first error: ${(err as Error).message}\n`);
        phase.failedAgents.push(agent);
        phase.requests++;
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  phase.seconds = (performance.now() - began) / 1000;
  phase.cpu = cpu();
  return phase;
}

const distributedRound = async (a: SimulatedFleetd) => {
  const r = await a.distributedRound();
  return { requests: r.written ? 2 : 1, queries: r.sent.length > 0 };
};

const orbitConfig = async (a: SimulatedFleetd) => {
  await a.orbit.config();
  return { requests: 1, queries: false };
};

function report(name: string, p: Phase, unit: string): void {
  const sorted = [...p.latenciesMs].sort((a, b) => a - b);
  const pct = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  reportFigure(`agents_${name}_per_s`, p.rounds / p.seconds, `${unit}/s`);
  reportFigure(`agents_${name}_p50`, pct(0.5), 'ms');
  reportFigure(`agents_${name}_p95`, pct(0.95), 'ms');
  reportFigure(`agents_${name}_server_cpu_per_request`, p.cpu.serverMs / p.requests, 'ms');
  if (p.cpu.mysqlMs !== undefined)
    reportFigure(`agents_${name}_mysql_cpu_per_request`, p.cpu.mysqlMs / p.requests, 'ms');
  reportFigure(`agents_${name}_client_cpu_per_request`, p.cpu.clientMs / p.requests, 'ms');
  reportFigure(`agents_${name}_errors`, p.errors, 'rounds');
}

/** What osquery does after a failed check-in: the agents that failed try again (up to 3 times). */
async function retryFailed(p: Phase, serverPid: number | undefined): Promise<number> {
  let failed = p.failedAgents;
  let withQueries = p.withQueries;
  for (let attempt = 0; attempt < 3 && failed.length; attempt++) {
    const again = await runPhase(failed, serverPid, distributedRound);
    withQueries += again.withQueries;
    failed = again.failedAgents;
  }
  if (failed.length) throw new Error(`${failed.length} agents still failing after 3 retries`);
  return withQueries;
}

async function main(): Promise<void> {
  if (!(await mysqlReachable())) {
    process.stderr.write('agents: MySQL is unreachable; skipping\n');
    return;
  }
  const agents = seededAgents();
  const server = await startBenchServer({ dialect: 'mysql', seed: (db) => seed(db, agents) });
  const conn = openDatabase({ url: server.database.url, dataDir: server.database.dataDir, poolSize: 2 });
  const transport = keepAliveTransport(Math.max(concurrency, ...steadyConcurrencies));
  try {
    const fleet = agents.map(
      (a) =>
        new SimulatedFleetd({
          serverUrl: server.url,
          enrollSecret: 'unused-hosts-are-seeded',
          platform: a.platform,
          uuid: a.uuid,
          serial: a.serial,
          hostname: a.hostname,
          nodeKey: a.nodeKey,
          orbitNodeKey: a.orbitNodeKey,
          transport,
        }),
    );
    const pid = server.child.pid;

    // First check-in of every host: all detail queries due, first-time ingestion.
    const first = await runPhase(fleet, pid, distributedRound);
    if ((await retryFailed(first, pid)) !== fleet.length)
      throw new Error(
        `${fleet.length - first.withQueries} hosts got no detail queries on their first check-in`,
      );
    const renamed = await conn.db
      .selectFrom('hosts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('hostname', 'like', 'seeded-%')
      .executeTakeFirstOrThrow();
    if (Number(renamed.n) !== 0)
      throw new Error(`${renamed.n} hosts kept their seeded hostname: system_info was not ingested`);
    report('first_checkin', first, 'round trips');

    // Steady state: nothing due.
    for (const c of steadyConcurrencies) {
      const steady = await runPhase(fleet, pid, distributedRound, durationMs, c);
      report(`steady_c${c}`, steady, 'round trips');
      reportFigure(`agents_steady_c${c}_rounds_with_queries`, steady.withQueries, 'rounds');
    }

    // Detail queries due again (a refetch for every host): ingestion over existing rows.
    await sql`update hosts set refetch_requested = 1`.execute(conn.db);
    const due = await runPhase(fleet, pid, distributedRound);
    if ((await retryFailed(due, pid)) !== fleet.length)
      throw new Error(`${fleet.length - due.withQueries} hosts got no queries after a refetch`);
    report('due', due, 'round trips');

    const config = await runPhase(fleet, pid, orbitConfig, durationMs);
    report('orbit_config', config, 'requests');
  } finally {
    transport.close();
    await conn.close();
    await server.close();
  }
}

await main();
