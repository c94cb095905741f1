import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import { buildPlist } from '../src/apple/commands/build.js';
import { parsePlistDict } from '../src/apple/plist/parse.js';
import { newAppleProfileRow } from '../src/apple/profiles/adapter.js';
import { parseAppleProfile } from '../src/apple/profiles/validate.js';

import { createCertificateAuthority } from '../src/crypto/certificateAuthority.js';
import { buildSignedData } from '../src/crypto/cms.js';
import { issueFromSpki, issuingCa } from '../src/crypto/issue.js';
import { encodeName } from '../src/crypto/name.js';
import { openDatabase } from '../src/db/database.js';
import { dbNow } from '../src/db/dialect.js';
import type { DB } from '../src/db/schema.js';
import { processPeakRssMb } from './lib/cpu.js';
import { mysqlReachable } from './lib/database.js';
import { benchMobileconfig, insertAppleEnrollments, storeAppleIdentityCa } from './lib/appleSeed.js';
import { reportFigure } from './lib/load.js';
import { startBenchServer } from './lib/server.js';

/**
 * Memory soak: a bounded run (BENCH_SOAK_MS, default 10 minutes) of one server process with its
 * crons on. BENCH_SOAK_DEVICES enrolled Macs (default 10,000) in a team with BENCH_SOAK_PROFILES
 * profiles (default 20) check in one after another, each answering Acknowledged to the command it
 * got last, so the profile manager's full pass (run by the server's own cron) and the command flow
 * it starts go on for the whole run. The server's RSS is sampled every 10 s.
 *
 * Prints: the server's peak RSS once every device has connected and the full pass has queued every
 * profile (the "under 256 MB" aim), the first / last / peak RSS samples, the growth per minute (a
 * least-squares line over the second half of the run, after start-up and the full pass), and the
 * request rate. Exits non-zero when the growth is above `maxGrowthMibPerMinute` (see there).
 */
const soakMs = Number(process.env.BENCH_SOAK_MS ?? 10 * 60_000);
const deviceCount = Number(process.env.BENCH_SOAK_DEVICES ?? 10_000);
const profileCount = Number(process.env.BENCH_SOAK_PROFILES ?? 20);
const concurrency = Number(process.env.BENCH_SOAK_CONCURRENCY ?? 8);
const sampleEveryMs = 10_000;
/**
 * "Clear growth": 2 MiB per minute over the second half. Below that, a leak cannot be told from
 * garbage-collector noise in five minutes of 10 s samples (RSS swings by ±10-20 MiB between major
 * collections); at it, a process would gain 120 MiB an hour and leave the 256 MB budget within
 * the hour — a leak worth failing on.
 */
const maxGrowthMibPerMinute = 2;
/** Fewer second-half samples than this give a slope too noisy to judge (the run only reports it). */
const minSamplesToJudge = 6;
const memoryAimMib = 256;

const ca = createCertificateAuthority('Bench Soak MDM CA');
const issuer = issuingCa(ca);
// One key for every device (each has its own certificate): signing costs the same per request.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = publicKey.export({ type: 'spki', format: 'der' });

interface SoakDevice {
  udid: string;
  certDer: Buffer;
  /** The command it got last and has not answered yet. */
  pendingCommand?: string;
  connected: boolean;
  busy: boolean;
}

const devices: SoakDevice[] = Array.from({ length: deviceCount }, (_, i) => ({
  udid: `SOAKDEV0-0000-4000-8000-${i.toString(16).padStart(12, '0')}`.toUpperCase(),
  certDer: issueFromSpki({
    spki,
    subjectDer: encodeName({ CN: 'Fleet Identity', O: 'Fleet', OU: 'Fleet Device Enrollment' }),
    days: 365,
    ca: issuer,
    usage: 'client',
  }).certDer,
  connected: false,
  busy: false,
}));

/** The CA the server trusts for device identities, the enrolled devices as hosts, the team's profiles. */
async function seed(db: Kysely<DB>): Promise<void> {
  await storeAppleIdentityCa(db, ca);
  const now = dbNow();
  const team = await db
    .insertInto('teams')
    .values({ name: 'Soak', config: '{}', created_at: now, updated_at: now })
    .executeTakeFirstOrThrow();
  const teamId = Number(team.insertId);
  for (let i = 0; i < devices.length; i += 1000) {
    const batch = devices.slice(i, i + 1000);
    await db.transaction().execute(async (trx) => {
      await insertAppleEnrollments(trx, batch, 'com.apple.mgmt.External.soak', now);
      await trx
        .insertInto('hosts')
        .values(
          batch.map((d, k) => ({
            uuid: d.udid,
            platform: 'darwin',
            hostname: `soak-mac-${i + k}`,
            team_id: teamId,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
    });
  }
  const profiles = Array.from({ length: profileCount }, (_, i) =>
    parseAppleProfile(benchMobileconfig(`com.bench.soak.p${i}`, `Soak ${i}`)),
  );
  await db
    .insertInto('mdm_apple_configuration_profiles')
    .values(profiles.map((p) => newAppleProfileRow(`a${randomUUID()}`, teamId, p, now)))
    .execute();
}

const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

/** One check-in of a device: Acknowledged for its pending command, else Idle; remembers the next. */
async function checkIn(url: string, d: SoakDevice): Promise<boolean> {
  const body = buildPlist(
    d.pendingCommand
      ? { UDID: d.udid, Status: 'Acknowledged', CommandUUID: d.pendingCommand }
      : { UDID: d.udid, Status: 'Idle' },
  );
  const signature = buildSignedData({
    content: body,
    detached: true,
    signerCert: d.certDer,
    signerKey: privateKey,
  }).toString('base64');
  const res = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    const req = http.request(
      `${url}/mdm/apple/mdm`,
      {
        method: 'PUT',
        agent,
        headers: {
          'content-type': 'application/x-apple-aspen-mdm; charset=UTF-8',
          'mdm-signature': signature,
          'content-length': body.length,
        },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(chunks) }));
        r.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  if (res.status !== 200) return false;
  d.connected = true;
  const next = res.body.length ? parsePlistDict(res.body).CommandUUID : undefined;
  d.pendingCommand = typeof next === 'string' ? next : undefined;
  return true;
}

/** Current resident set size of a process in MiB (VmRSS), from /proc. */
function rssMib(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
}

/** Least-squares slope of (minutes, MiB) samples. */
function slopePerMinute(samples: { atMs: number; mib: number }[]): number {
  const n = samples.length;
  const xs = samples.map((s) => s.atMs / 60_000);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = samples.reduce((a, s) => a + s.mib, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (samples[i].mib - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main(): Promise<number> {
  const dialect = (await mysqlReachable()) ? 'mysql' : 'sqlite';
  process.stderr.write(
    `soak: ${deviceCount} devices × ${profileCount} profiles on ${dialect} for ${Math.round(soakMs / 1000)} s\n`,
  );
  const server = await startBenchServer({
    dialect,
    seed,
    name: 'soak',
    env: {
      FLOTILLA_CRON_ENABLED: 'true',
      FLOTILLA_LOG_LEVEL: 'error',
      // No APNs certificate is configured; should a push be tried, it goes to a closed loopback port.
      FLOTILLA_APNS_BASE_URL: 'https://127.0.0.1:9',
    },
  });
  const pid = server.child.pid!;
  const counts = openDatabase({ url: server.database.url, dataDir: server.database.dataDir, poolSize: 1 });
  try {
    const began = performance.now();
    const deadline = began + soakMs;
    const samples: { atMs: number; mib: number }[] = [{ atMs: 0, mib: rssMib(pid) }];
    const sampler = setInterval(() => {
      samples.push({ atMs: performance.now() - began, mib: rssMib(pid) });
    }, sampleEveryMs);

    let requests = 0;
    let errors = 0;
    let cursor = 0;
    const worker = async () => {
      while (performance.now() < deadline) {
        const d = devices[cursor++ % devices.length];
        if (d.busy) continue;
        d.busy = true;
        const ok = await checkIn(server.url, d).catch(() => false);
        d.busy = false;
        requests++;
        if (!ok) errors++;
      }
    };

    // The memory aim: every device has connected and the full pass has queued every profile.
    const wanted = deviceCount * profileCount;
    let aimMib: number | undefined;
    let aimSeconds: number | undefined;
    const watchFullPass = async () => {
      while (performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5000));
        // A pair with a status has been queued to its device (NULL: still to be sent).
        const row = await counts.db
          .selectFrom('host_mdm_apple_profiles')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('status', 'is not', null)
          .executeTakeFirstOrThrow();
        if (Number(row.n) >= wanted && devices.every((d) => d.connected)) {
          aimMib = processPeakRssMb(pid);
          aimSeconds = (performance.now() - began) / 1000;
          process.stderr.write(
            `soak: all devices connected and full pass done after ${aimSeconds.toFixed(0)} s\n`,
          );
          return;
        }
      }
    };

    await Promise.all([...Array.from({ length: concurrency }, worker), watchFullPass()]);
    clearInterval(sampler);
    const seconds = (performance.now() - began) / 1000;
    samples.push({ atMs: performance.now() - began, mib: rssMib(pid) });

    const tag = `${deviceCount}_devices_${dialect}`;
    if (aimMib !== undefined && aimSeconds !== undefined) {
      reportFigure(`soak_peak_rss_connect_and_full_pass_${tag}`, aimMib, 'MiB');
      reportFigure(`soak_connect_and_full_pass_seconds_${tag}`, aimSeconds, 's');
      process.stderr.write(
        `soak: peak RSS through connect + full pass ${aimMib.toFixed(0)} MiB (aim < ${memoryAimMib} MB)\n`,
      );
    } else {
      process.stderr.write('soak: the run ended before every device connected and the full pass finished\n');
    }
    const secondHalf = samples.filter((s) => s.atMs >= soakMs / 2);
    const growth = secondHalf.length >= 2 ? slopePerMinute(secondHalf) : 0;
    reportFigure(`soak_server_rss_first_${dialect}`, samples[0].mib, 'MiB');
    reportFigure(`soak_server_rss_last_${dialect}`, samples[samples.length - 1].mib, 'MiB');
    reportFigure(`soak_server_rss_peak_sampled_${dialect}`, Math.max(...samples.map((s) => s.mib)), 'MiB');
    reportFigure(`soak_server_rss_growth_${dialect}`, growth, 'MiB/min');
    // Not judged, for reading a failure: a step that then stays flat shows here as ≈0.
    const lastQuarter = samples.filter((s) => s.atMs >= (soakMs * 3) / 4);
    if (lastQuarter.length >= 2) {
      reportFigure(`soak_server_rss_growth_last_quarter_${dialect}`, slopePerMinute(lastQuarter), 'MiB/min');
    }
    reportFigure(`soak_round_trips_per_second_${dialect}`, requests / seconds, 'requests/s');
    process.stderr.write(
      `soak: ${requests} check-ins, ${errors} errors; RSS samples (MiB): ${samples.map((s) => s.mib.toFixed(0)).join(' ')}\n`,
    );

    let failed = false;
    if (errors > requests / 1000) {
      process.stderr.write(`soak: FAIL: ${errors} of ${requests} check-ins failed\n`);
      failed = true;
    }
    if (secondHalf.length < minSamplesToJudge) {
      process.stderr.write(
        `soak: ${secondHalf.length} samples in the second half, too few to judge growth (run ≥ ${(2 * minSamplesToJudge * sampleEveryMs) / 60_000} min)\n`,
      );
    } else if (growth > maxGrowthMibPerMinute) {
      process.stderr.write(
        `soak: FAIL: RSS grows ${growth.toFixed(2)} MiB/min over the second half (limit ${maxGrowthMibPerMinute})\n`,
      );
      failed = true;
    }
    return failed ? 1 : 0;
  } finally {
    agent.destroy();
    await counts.close();
    await server.close();
  }
}

process.exitCode = await main();
