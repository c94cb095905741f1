import { AbmTokenStore } from '../src/apple/dep/tokenStore.js';
import { FakeDepServer } from '../src/clients/dep/fakeServer.js';
import type { DepDevice } from '../src/clients/dep/types.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { dbNow, type DialectName } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { createLogger } from '../src/logger.js';
import { createServices } from '../src/services.js';
import { createBenchDatabase, mysqlReachable } from './lib/database.js';
import { ownPeakRssMb } from './lib/cpu.js';
import { reportFigure } from './lib/load.js';

/**
 * The DEP syncer at fleet size: an ABM organisation with 100,000 devices in the local DEP stand-in
 * (pages of 1,000), on MySQL (and SQLite):
 *  (a) the first run: a full fetch that creates every pending host, its host_mdm row, built-in
 *      labels and assignment, and assigns the default profile to every serial;
 *  (b) an idle run: nothing changed in ABM.
 * The stand-in runs in this process (its JSON work is counted in the figures).
 */
const deviceCount = Number(process.env.BENCH_DEP_DEVICES ?? 100_000);
const serverKey = 'bench-server-key-0123456789abcdef0123456789';

function devices(n: number): DepDevice[] {
  return Array.from({ length: n }, (_, i) => {
    const family = i % 20 === 0 ? 'iPhone' : i % 20 === 1 ? 'iPad' : 'Mac';
    return {
      serial_number: `BENCH${i.toString(36).toUpperCase().padStart(7, '0')}`,
      model: family === 'Mac' ? 'MacBook Pro' : family,
      os: family === 'Mac' ? 'OSX' : family === 'iPad' ? 'iPadOS' : 'iOS',
      device_family: family,
      color: 'SPACE GRAY',
      description: 'bench device',
    };
  });
}

async function measure(dialect: DialectName): Promise<void> {
  const database = await createBenchDatabase(dialect);
  const conn = openDatabase({ url: database.url, dataDir: database.dataDir, poolSize: 4 });
  const fake = await FakeDepServer.start();
  try {
    await migrateToLatest(conn.db);
    const config = loadConfig(
      {},
      {
        databaseUrl: database.url,
        dataDir: database.dataDir,
        logLevel: 'warn',
        cronEnabled: false,
        appleDepBaseUrl: fake.url,
      },
    );
    const services = createServices(config, conn, serverKey, createLogger(config.logLevel));
    const creds = fake.addAccount('Bench Org');
    fake.addDevices(creds.consumer_key, devices(deviceCount));
    const tokenId = await new AbmTokenStore(conn.db).insert({
      organization_name: 'Bench Org',
      apple_id: 'bench@example.com',
      renew_at: dbNow(365 * 24 * 3600_000),
      token: services.box.seal(JSON.stringify(creds)),
    });

    let t0 = performance.now();
    const full = await services.appleDep.sync.syncToken(tokenId);
    const fullMs = performance.now() - t0;
    if (!full.ok || full.hostsCreated !== deviceCount || (full.assigned.SUCCESS ?? 0) !== deviceCount) {
      throw new Error(`full sync: ${JSON.stringify({ ...full, assigned: full.assigned })}`);
    }
    reportFigure(`dep_full_sync_${deviceCount}_${dialect}`, fullMs / 1000, 's');

    t0 = performance.now();
    const idle = await services.appleDep.sync.syncToken(tokenId);
    const idleMs = performance.now() - t0;
    if (!idle.ok || idle.hostsCreated !== 0 || Object.keys(idle.assigned).length) {
      throw new Error(`idle sync did work: ${JSON.stringify(idle)}`);
    }
    reportFigure(`dep_idle_sync_${dialect}`, idleMs, 'ms');
  } finally {
    await fake.close();
    await conn.close();
    await database.drop();
  }
}

if (await mysqlReachable()) await measure('mysql');
else process.stderr.write('dep-sync: MySQL is unreachable; skipping the MySQL figures\n');
await measure('sqlite');
// The server runs in this process here, so its peak memory is ours.
reportFigure('dep-sync.server_peak_rss', ownPeakRssMb(), 'MiB');
