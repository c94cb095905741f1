import { SimAndroidDevice } from '../src/android/sim/device.js';
import { startAmapiStandIn, type AmapiStandIn } from '../src/clients/amapi/fakeServer.js';
import { openDatabase } from '../src/db/database.js';
import { startCpuMeter, type CpuSpent } from './lib/cpu.js';
import { mysqlReachable } from './lib/database.js';
import { reportFigure } from './lib/load.js';
import { startBenchServer, type BenchServer } from './lib/server.js';

/**
 * Android on MySQL, against the Google stand-in (which runs in this process, as the load generator):
 *
 * - `enroll`: 10,000 simulated phones each get an enrollment token from Flotilla (which asks
 *   "Google"), enroll at the stand-in, and the stand-in pushes the ENROLLMENT notification.
 * - `status_report`: the enrolled phones report status again and again (each a STATUS_REPORT Pub/Sub
 *   push carrying the whole Device: vitals, applied policy, apps). Measured with 8 and 32 pushes in
 *   flight (Pub/Sub pushes concurrently).
 * - `profile_manager`: two profiles for every host, then the `mdm_android_profile_manager` job is run
 *   until every host's own policy is patched at the stand-in and every phone is moved to it.
 *
 * Prints rates, and CPU per message for the server process and for the local MySQL/MariaDB.
 */
const deviceCount = Number(process.env.BENCH_ANDROID_DEVICES ?? 10_000);
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 10_000);
const enrollConcurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const reportConcurrencies = (process.env.BENCH_STEADY_CONCURRENCY ?? '8,32')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const secret = 'android-bench-secret';

async function adminCall(server: BenchServer, method: string, path: string, body?: unknown, raw?: string) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${server.adminToken}`,
      ...(body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** Binds the enterprise as an admin would: service account, signup URL, Google's callback. */
async function bind(server: BenchServer, standIn: AmapiStandIn): Promise<string> {
  standIn.setPushTarget(server.url);
  await adminCall(
    server,
    'PUT',
    '/api/v1/fleet/android_enterprise/service_account',
    undefined,
    JSON.stringify(standIn.serviceAccount),
  );
  await adminCall(server, 'GET', '/api/v1/fleet/android_enterprise/signup_url');
  const conn = openDatabase({ url: server.database.url, dataDir: server.database.dataDir, poolSize: 1 });
  try {
    const row = await conn.db
      .selectFrom('android_enterprises')
      .select('signup_name')
      .where('enterprise_id', '=', '')
      .executeTakeFirstOrThrow();
    const call = standIn.requests.find((r) => r.method === 'POST' && r.path.endsWith('/signupUrls'));
    const callback = new URL(call!.query.callbackUrl);
    const enterpriseToken = standIn.completeSignup(row.signup_name);
    const res = await fetch(`${server.url}${callback.pathname}?enterpriseToken=${enterpriseToken}`);
    if (res.status !== 200) throw new Error(`connect callback: ${res.status} ${await res.text()}`);
    await adminCall(server, 'POST', '/api/latest/fleet/spec/enroll_secret', {
      spec: { secrets: [{ secret }] },
    });
    const bound = await conn.db
      .selectFrom('android_enterprises')
      .select('enterprise_id')
      .where('enterprise_id', '!=', '')
      .executeTakeFirstOrThrow();
    return `enterprises/${bound.enterprise_id}`;
  } finally {
    await conn.close();
  }
}

interface Phase {
  done: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
  cpu: CpuSpent;
}

/** `workers` loops calling `step` on devices (each once, or round-robin until `durationMs`). */
async function runPhase(
  devices: SimAndroidDevice[],
  serverPid: number | undefined,
  workers: number,
  step: (d: SimAndroidDevice) => Promise<number>,
  durationMs?: number,
): Promise<Phase> {
  const phase: Phase = { done: 0, errors: 0, seconds: 0, latenciesMs: [], cpu: { serverMs: 0, clientMs: 0 } };
  const cpu = startCpuMeter(serverPid);
  const began = performance.now();
  const deadline = durationMs === undefined ? Infinity : began + durationMs;
  let next = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      if (durationMs === undefined && next >= devices.length) return;
      const device = devices[next++ % devices.length];
      const t0 = performance.now();
      try {
        const status = await step(device);
        if (status !== 200) throw new Error(`push answered ${status}`);
        phase.latenciesMs.push(performance.now() - t0);
        phase.done++;
      } catch (err) {
        if (phase.errors++ === 0) process.stderr.write(`android: first error: ${(err as Error).message}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  phase.seconds = (performance.now() - began) / 1000;
  phase.cpu = cpu();
  return phase;
}

function report(name: string, p: Phase, unit: string): void {
  const sorted = [...p.latenciesMs].sort((a, b) => a - b);
  const pct = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  reportFigure(`android_${name}_per_s`, p.done / p.seconds, `${unit}/s`);
  reportFigure(`android_${name}_p50`, pct(0.5), 'ms');
  reportFigure(`android_${name}_p95`, pct(0.95), 'ms');
  reportFigure(`android_${name}_server_cpu_per_message`, p.cpu.serverMs / Math.max(1, p.done), 'ms');
  if (p.cpu.mysqlMs !== undefined)
    reportFigure(`android_${name}_mysql_cpu_per_message`, p.cpu.mysqlMs / Math.max(1, p.done), 'ms');
  reportFigure(`android_${name}_errors`, p.errors, 'messages');
}

async function main(): Promise<void> {
  if (!(await mysqlReachable())) {
    process.stderr.write('android: MySQL is unreachable; skipping\n');
    return;
  }
  const standIn = await startAmapiStandIn();
  const server = await startBenchServer({
    dialect: 'mysql',
    env: {
      FLOTILLA_SERVER_URL: 'https://mdm.example.test',
      FLOTILLA_ANDROID_API_URL: standIn.url,
      FLOTILLA_ANDROID_PUBSUB_API_URL: standIn.url,
      FLOTILLA_ANDROID_OIDC_CERTS_URL: standIn.certsUrl,
      // One load generator address enrolls every phone.
      FLOTILLA_ENROLL_REQUESTS_PER_ADDRESS: '0',
    },
  });
  const conn = openDatabase({ url: server.database.url, dataDir: server.database.dataDir, poolSize: 2 });
  try {
    const enterpriseName = await bind(server, standIn);
    const devices = Array.from(
      { length: deviceCount },
      (_, i) =>
        new SimAndroidDevice(standIn, {
          ownership: i % 4 === 0 ? 'PERSONALLY_OWNED' : 'COMPANY_OWNED',
          serial: `BAND${i.toString().padStart(8, '0')}`,
          applications: [
            { packageName: 'com.example.crm', displayName: 'CRM', versionName: '4.2.0' },
            { packageName: 'com.example.mail', displayName: 'Mail', versionName: `1.${i % 7}.0` },
          ],
        }),
    );
    const enroll = await runPhase(devices, server.child.pid, enrollConcurrency, async (d) => {
      const res = await fetch(
        `${server.url}/api/v1/fleet/android_enterprise/enrollment_token?enroll_secret=${secret}`,
      );
      if (res.status !== 200) throw new Error(`enrollment_token: ${res.status} ${await res.text()}`);
      const { android_enrollment_token: token } = (await res.json()) as { android_enrollment_token: string };
      return (await d.enroll(token)).status;
    });
    report(`enroll_${deviceCount}`, enroll, 'devices');
    const enrolled = devices.filter((d) => {
      try {
        return Boolean(d.name);
      } catch {
        return false;
      }
    });
    const hosts = await conn.db
      .selectFrom('android_devices')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    reportFigure('android_hosts', Number(hosts.n), 'hosts');

    for (const inFlight of reportConcurrencies) {
      const phase = await runPhase(
        enrolled,
        server.child.pid,
        inFlight,
        async (d) => (await d.sync()).status,
        durationMs,
      );
      report(`status_report_${inFlight}_in_flight`, phase, 'messages');
    }

    // Two profiles for every host (the phones enrolled with a secret of no team).
    for (const [name, json] of [
      ['Passcode', { passwordPolicies: [{ passwordMinimumLength: 8, passwordQuality: 'NUMERIC' }] }],
      ['Camera', { cameraAccess: 'CAMERA_ACCESS_DISABLED' }],
    ] as const) {
      const form = new FormData();
      form.append('profile', new Blob([JSON.stringify(json)]), `${name}.json`);
      const res = await fetch(`${server.url}/api/latest/fleet/configuration_profiles`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.adminToken}` },
        body: form,
      });
      if (res.status !== 200) throw new Error(`profile upload: ${res.status} ${await res.text()}`);
    }
    const cpu = startCpuMeter(server.child.pid);
    const began = performance.now();
    const unsettled = async () => {
      const row = await conn.db
        .selectFrom('host_mdm_android_profiles')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where((eb) => eb.or([eb('status', 'is', null), eb('status', '=', 'pending')]))
        .executeTakeFirstOrThrow();
      const rows = await conn.db
        .selectFrom('host_mdm_android_profiles')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(rows.n) < enrolled.length * 2 ? Infinity : Number(row.n);
    };
    let runs = 0;
    while ((await unsettled()) > 0) {
      const lastRun = await conn.db
        .selectFrom('cron_stats')
        .select((eb) => eb.fn.max('id').as('id'))
        .where('name', '=', 'mdm_android_profile_manager')
        .executeTakeFirst();
      await adminCall(server, 'POST', '/api/latest/fleet/trigger?name=mdm_android_profile_manager');
      runs++;
      // The trigger starts the job; wait for that run to finish.
      for (;;) {
        const run = await conn.db
          .selectFrom('cron_stats')
          .select(['id', 'status'])
          .where('name', '=', 'mdm_android_profile_manager')
          .where('id', '>', Number(lastRun?.id ?? 0))
          .orderBy('id', 'desc')
          .executeTakeFirst();
        if (run && run.status !== 'pending') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (runs > 200) throw new Error('the profile manager did not settle in 200 runs');
    }
    const seconds = (performance.now() - began) / 1000;
    const spent = cpu();
    const policies = [...standIn.policies.keys()].filter(
      (name) => name.startsWith(`${enterpriseName}/policies/`) && !name.endsWith('/policies/1'),
    ).length;
    const moved = enrolled.filter((d) =>
      standIn.devices.get(d.name)?.policyName?.endsWith(d.enterpriseSpecificId),
    ).length;
    reportFigure(`android_profile_manager_${policies}_policies`, seconds, 's');
    reportFigure('android_profile_manager_policies_per_s', policies / seconds, 'policies/s');
    reportFigure('android_profile_manager_devices_moved', moved, 'devices');
    reportFigure('android_profile_manager_runs', runs, 'runs');
    reportFigure(
      'android_profile_manager_server_cpu_per_policy',
      spent.serverMs / Math.max(1, policies),
      'ms',
    );
    if (spent.mysqlMs !== undefined)
      reportFigure(
        'android_profile_manager_mysql_cpu_per_policy',
        spent.mysqlMs / Math.max(1, policies),
        'ms',
      );
  } finally {
    await conn.close();
    await server.close();
    await standIn.close();
  }
}

await main();
