import { randomBytes, randomUUID } from 'node:crypto';
import { AppConfigService } from '../src/appconfig/service.js';
import { AppConfigStore } from '../src/appconfig/store.js';
import { openDatabase } from '../src/db/database.js';
import { dbNow } from '../src/db/dialect.js';
import { prepareCommand } from '../src/windows/commands.js';
import { SimulatedWindowsDevice } from '../src/windows/sim/device.js';
import { WindowsMdmStore, enrolledState } from '../src/windows/store.js';
import { credentialsHash } from '../src/windows/syncml/digest.js';
import { mysqlReachable } from './lib/database.js';
import { reportFigure } from './lib/load.js';
import { startBenchServer } from './lib/server.js';

/**
 * Windows management: SyncML sessions per second on MySQL with 1,000 enrolled simulated devices.
 * Each measured session is the device's first package (digest credentials, Alert 1201, DevInfo),
 * the server's answer carrying one queued Replace, the device's Status for it, and the server's
 * closing answer. Enrollments are seeded directly (the enrollment path is tested elsewhere).
 */
const deviceCount = Number(process.env.BENCH_WINDOWS_DEVICES ?? 1000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

async function runAll(devices: SimulatedWindowsDevice[]): Promise<number> {
  let next = 0;
  let executed = 0;
  const worker = async () => {
    while (next < devices.length) {
      const d = devices[next++];
      const s = await d.runSession();
      executed += s.commandsExecuted;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return executed;
}

async function main(): Promise<void> {
  if (!(await mysqlReachable())) {
    process.stderr.write('windows-management: MySQL is unreachable; skipping\n');
    return;
  }
  const server = await startBenchServer({ dialect: 'mysql' });
  const conn = openDatabase({ url: server.database.url, dataDir: server.database.dataDir, poolSize: 4 });
  try {
    await new AppConfigService(new AppConfigStore(conn.db), server.url).patch({
      server_settings: { server_url: server.url },
      mdm: { windows_enabled_and_configured: true },
    });
    const store = new WindowsMdmStore(conn.db);
    const devices: SimulatedWindowsDevice[] = [];
    const now = dbNow();
    for (let i = 0; i < deviceCount; i += 500) {
      const rows = [];
      for (let j = i; j < Math.min(deviceCount, i + 500); j++) {
        const d = new SimulatedWindowsDevice({ serverUrl: server.url, enrollSecret: '' });
        d.managementUrl = `${server.url}/api/mdm/microsoft/management`;
        d.password = randomUUID();
        devices.push(d);
        rows.push({
          mdm_device_id: d.deviceId,
          mdm_hardware_id: d.hwDevId,
          device_state: enrolledState,
          device_type: 'CIMClient_Windows',
          device_name: `BENCH-${j}`,
          enroll_type: 'Full',
          enroll_user_id: randomBytes(8).toString('hex'),
          enroll_proto_version: '5.0',
          enroll_client_version: '10.0',
          host_uuid: d.hardwareUuid,
          credentials_hash: credentialsHash(d.deviceId, d.password),
          created_at: now,
          updated_at: now,
        });
      }
      await conn.db.insertInto('mdm_windows_enrollments').values(rows).execute();
    }
    const ids = (await conn.db.selectFrom('mdm_windows_enrollments').select('id').execute()).map((r) => r.id);
    // Warm-up: every device gets its digest nonce (one 407 challenge each).
    await runAll(devices);

    let sessions = 0;
    let elapsedMs = 0;
    for (let r = 0; r < rounds; r++) {
      const cmd = prepareCommand(
        `<Replace><Item><Target><LocURI>./Device/Vendor/MSFT/Policy/Config/Bench/Round</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>${r}</Data></Item></Replace>`,
      );
      await store.enqueue(ids, cmd);
      const t0 = performance.now();
      const executed = await runAll(devices);
      elapsedMs += performance.now() - t0;
      const left = await conn.db.selectFrom('windows_mdm_command_queue').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
      if (Number(left?.n) !== 0) throw new Error(`round ${r}: ${left?.n} queue rows left unanswered`);
      if (executed !== devices.length) throw new Error(`round ${r}: ${executed} commands executed for ${devices.length} devices`);
      sessions += devices.length;
    }
    reportFigure('windows_management_sessions_mysql', (sessions * 1000) / elapsedMs, 'sessions/s');
  } finally {
    await conn.close();
    await server.close();
  }
}

await main();
