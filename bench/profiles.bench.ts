import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { sql, type Kysely } from 'kysely';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { dbNow } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrator.js';
import type { DB } from '../src/db/schema.js';
import { createLogger } from '../src/logger.js';
import { createServices } from '../src/services.js';
import { createApplePlatform } from '../src/apple/platform.js';
import { newAppleProfileRow } from '../src/apple/profiles/adapter.js';
import { createAppleProfiles } from '../src/apple/profiles/index.js';
import { parseAppleProfile } from '../src/apple/profiles/validate.js';
import { createMdm } from '../src/mdm/index.js';
import { createBenchDatabase, mysqlReachable } from './lib/database.js';
import { ownPeakRssMb } from './lib/cpu.js';
import { benchMobileconfig } from './lib/appleSeed.js';
import { reportFigure } from './lib/load.js';

/**
 * The profile manager at fleet size, on MySQL: 100,000 enrolled Macs in one team and 20 profiles.
 *  (a) a full pass from nothing until every (host, profile) pair is pending and queued;
 *  (b) one more profile uploaded: until every host shows it pending (immediate pending), then until
 *      it is queued for all of them;
 *  (c) a tick with nothing to do.
 * APNs is replaced by a no-op (pushing is the push service's cost, measured elsewhere); the command
 * queue, status rows and SQL are the real ones. Seeding is plain SQL in batches.
 */
const hostCount = Number(process.env.BENCH_PROFILE_HOSTS ?? 100_000);
const profileCount = Number(process.env.BENCH_PROFILES ?? 20);
const SEED_BATCH = 5000;

/** Enrolled Macs: hosts, host_mdm, nano_devices and device-channel nano_enrollments, in batches. */
async function seedEnrolledMacs(db: Kysely<DB>, count: number, teamId: number): Promise<void> {
  const now = dbNow();
  for (let start = 0; start < count; start += SEED_BATCH) {
    const n = Math.min(SEED_BATCH, count - start);
    const udids = Array.from({ length: n }, (_, i) =>
      `BENCH000-0000-4000-8000-${(start + i).toString(16).padStart(12, '0')}`.toUpperCase(),
    );
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('nano_devices')
        .values(
          udids.map((id) => ({
            id,
            authenticate: '<plist/>',
            authenticate_at: now,
            platform: 'darwin',
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
      await trx
        .insertInto('nano_enrollments')
        .values(
          udids.map((id) => ({
            id,
            device_id: id,
            type: 'Device',
            topic: 'com.apple.mgmt.External.bench',
            push_magic: id,
            token_hex: id.replace(/-/g, ''),
            last_seen_at: now,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
      await trx
        .insertInto('hosts')
        .values(
          udids.map((uuid, i) => ({
            uuid,
            platform: 'darwin',
            hostname: `bench-mac-${start + i}`,
            team_id: teamId,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
    });
  }
}

async function countRows(
  db: Kysely<DB>,
  table: 'host_mdm_apple_profiles' | 'nano_enrollment_queue',
  where?: { profileUuid?: string; pendingOnly?: boolean },
) {
  let q = db.selectFrom(table as 'host_mdm_apple_profiles').select((eb) => eb.fn.countAll<number>().as('n'));
  if (where?.profileUuid) q = q.where('profile_uuid', '=', where.profileUuid);
  if (where?.pendingOnly) q = q.where('status', '=', 'pending');
  return Number((await q.executeTakeFirstOrThrow()).n);
}

/**
 * The physical limit: how fast this MariaDB takes the same rows the full pass writes (one status
 * row and one queue row per (host, profile) pair, 5,000 hosts per transaction like the manager's
 * windows) into empty copies of the two tables (same columns and indexes, no foreign keys), three
 * ways. Returns the best time in seconds.
 */
async function rawInsertLimit(url: string, profileUuids: string[]): Promise<number> {
  const c = await createConnection({
    uri: url,
    // In chunks: each chunk travels as one packet, which must stay under max_allowed_packet.
    infileStreamFactory: () =>
      Readable.from(
        Array.from({ length: Math.ceil(loadBuffer.length / 1e6) }, (_, i) =>
          loadBuffer.subarray(i * 1e6, (i + 1) * 1e6),
        ),
      ),
  });
  let loadBuffer = Buffer.alloc(0);
  const window = 5000;
  const now = dbNow();
  const udids = (await c.query<RowDataPacket[]>('SELECT uuid FROM hosts ORDER BY id'))[0].map(
    (r) => r.uuid as string,
  );
  const fresh = async () => {
    for (const t of ['raw_hmap', 'raw_queue']) await c.query(`DROP TABLE IF EXISTS ${t}`);
    await c.query('CREATE TABLE raw_hmap LIKE host_mdm_apple_profiles');
    await c.query('CREATE TABLE raw_queue LIKE nano_enrollment_queue');
  };
  const statusRow = (host: string, p: number, cmd: string) => [
    host,
    profileUuids[p],
    `com.bench.p${p}`,
    `Bench ${p}`,
    'pending',
    'install',
    null,
    cmd,
    '0123456789abcdef0123456789abcdef',
    0,
    0,
    'System',
    null,
    null,
    now,
    now,
  ];
  const windows = function* () {
    for (let start = 0; start < udids.length; start += window) {
      const hosts = udids.slice(start, start + window);
      const cmds = profileUuids.map(() => randomUUID().toUpperCase());
      yield { start, hosts, cmds };
    }
  };
  const timed = async (label: string, body: () => Promise<void>) => {
    await fresh();
    const t0 = performance.now();
    await body();
    const s = (performance.now() - t0) / 1000;
    const rows = udids.length * profileUuids.length;
    process.stderr.write(
      `profiles: raw ${label}: ${rows} status rows + ${rows} queue rows in ${s.toFixed(1)} s (${Math.round((2 * rows) / s)} rows/s)\n`,
    );
    reportFigure(`profiles_raw_insert_${label}_${udids.length}x${profileUuids.length}_mysql`, s, 's');
    return s;
  };
  const inTx = async (body: () => Promise<void>) => {
    await c.query('START TRANSACTION');
    await body();
    await c.query('COMMIT');
  };
  const times: number[] = [];
  try {
    // 1. Multi-row INSERTs of 1,000 rows built in JavaScript, in primary-key order.
    times.push(
      await timed('multirow_insert', async () => {
        for (const { hosts, cmds } of windows()) {
          await inTx(async () => {
            const status: unknown[][] = [];
            for (let p = 0; p < profileUuids.length; p++)
              for (const h of hosts) status.push(statusRow(h, p, cmds[p]));
            for (let i = 0; i < status.length; i += 1000)
              await c.query('INSERT INTO raw_hmap VALUES ?', [status.slice(i, i + 1000)]);
            const queue: unknown[][] = [];
            // Primary-key order (hosts come in uuid order).
            for (const h of hosts)
              for (const cmd of [...cmds].sort()) queue.push([h, cmd, 1, 0, 0, now, now]);
            for (let i = 0; i < queue.length; i += 1000)
              await c.query('INSERT INTO raw_queue VALUES ?', [queue.slice(i, i + 1000)]);
          });
        }
      }),
    );
    // 2. LOAD DATA LOCAL INFILE of the same rows, one file per table per window.
    const tsv = (rows: unknown[][]) =>
      Buffer.from(rows.map((r) => r.map((v) => (v === null ? '\\N' : String(v))).join('\t')).join('\n'));
    times.push(
      await timed('load_data', async () => {
        for (const { hosts, cmds } of windows()) {
          await inTx(async () => {
            const status: unknown[][] = [];
            for (let p = 0; p < profileUuids.length; p++)
              for (const h of hosts) status.push(statusRow(h, p, cmds[p]));
            loadBuffer = tsv(status);
            await c.query({ sql: "LOAD DATA LOCAL INFILE 'status' INTO TABLE raw_hmap" });
            const queue: unknown[][] = [];
            for (const h of hosts) for (const cmd of cmds) queue.push([h, cmd, 1, 0, 0, now, now]);
            loadBuffer = tsv(queue);
            await c.query({ sql: "LOAD DATA LOCAL INFILE 'queue' INTO TABLE raw_queue" });
          });
        }
      }),
    );
    // 3. INSERT ... SELECT from hosts x profiles, then the queue rows from the status rows.
    times.push(
      await timed('insert_select', async () => {
        for (const { start, hosts, cmds } of windows()) {
          const lo = start;
          const hi = start + hosts.length;
          const cmdCase = `CASE p.profile_uuid ${profileUuids.map((u, i) => `WHEN '${u}' THEN '${cmds[i]}'`).join(' ')} END`;
          await inTx(async () => {
            await c.query(
              `INSERT INTO raw_hmap SELECT h.uuid, p.profile_uuid, p.identifier, p.name, 'pending', 'install', NULL,
                 ${cmdCase}, p.checksum, 0, 0, p.scope, NULL, NULL, ?, ?
               FROM hosts h JOIN mdm_apple_configuration_profiles p ON p.team_id = h.team_id
               WHERE h.id > ? AND h.id <= ? AND p.profile_uuid IN (?) ORDER BY p.profile_uuid, h.uuid`,
              [now, now, lo, hi, profileUuids],
            );
            await c.query(
              `INSERT INTO raw_queue SELECT h.uuid, cur.command_uuid, 1, 0, 0, ?, ?
               FROM hosts h JOIN raw_hmap cur ON cur.host_uuid = h.uuid
               WHERE h.id > ? AND h.id <= ? AND cur.command_uuid IN (?)`,
              [now, now, lo, hi, cmds],
            );
          });
        }
      }),
    );
  } finally {
    for (const t of ['raw_hmap', 'raw_queue']) await c.query(`DROP TABLE IF EXISTS ${t}`);
    await c.end();
  }
  return Math.min(...times);
}

async function main(): Promise<void> {
  if (!(await mysqlReachable())) {
    process.stderr.write('profiles: MySQL is unreachable; skipping\n');
    return;
  }
  const database = await createBenchDatabase('mysql');
  const conn = openDatabase({ url: database.url, dataDir: database.dataDir, poolSize: 4 });
  const db = conn.db;
  try {
    await migrateToLatest(db);
    const now = dbNow();
    const team = await db
      .insertInto('teams')
      .values({ name: 'Bench', config: '{}', created_at: now, updated_at: now })
      .executeTakeFirstOrThrow();
    const teamId = Number(team.insertId);
    let t0 = performance.now();
    await seedEnrolledMacs(db, hostCount, teamId);
    const profileUuids = Array.from({ length: profileCount }, () => `a${randomUUID()}`);
    const profiles = Array.from({ length: profileCount }, (_, i) =>
      parseAppleProfile(benchMobileconfig(`com.bench.p${i}`, `Bench ${i}`)),
    );
    await db
      .insertInto('mdm_apple_configuration_profiles')
      .values(profiles.map((p, i) => newAppleProfileRow(profileUuids[i], teamId, p, now)))
      .execute();
    // Statistics as a grown fleet has them: InnoDB refreshes them in the background some time after
    // a table grows, and until then MariaDB plans the joins as if the tables just seeded were empty
    // (a block nested loop over all enrollments for every window: minutes instead of seconds).
    for (const table of ['hosts', 'nano_devices', 'nano_enrollments', 'mdm_apple_configuration_profiles'])
      await sql`ANALYZE TABLE ${sql.table(table)}`.execute(db);
    process.stderr.write(
      `profiles: seeded ${hostCount} enrolled Macs and ${profileCount} profiles in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );

    const config = loadConfig({}, { databaseUrl: database.url, dataDir: database.dataDir, logLevel: 'warn' });
    const logger = createLogger(config.logLevel);
    const services = createServices(config, conn, 'bench-server-key-0123456789abcdef0123456789', logger);
    // InstallProfile payloads are signed by the Apple SCEP CA, which the server creates at start.
    await services.assets.ensureBuiltinCertificateAuthorities();
    // The profiles area on its own (Apple's profiles under the MDM core), with APNs replaced by a no-op.
    const noPush = { pushEnrollments: async () => [] };
    const apple = createAppleProfiles({
      config,
      db,
      logger,
      appleMdmEvents: services.appleMdmEvents,
      appleQueue: services.appleQueue,
      applePush: noPush,
      variables: services.profileExpander,
      signer: services.appleProfileSigner,
    });
    const parts = createMdm({
      db,
      platforms: [
        createApplePlatform({
          db,
          queue: services.appleQueue,
          push: noPush,
          certificates: services.apnsCertificates,
          conflicts: services.appleEnrollmentConflicts,
          profiles: apple.profiles,
        }),
      ],
      activities: services.activities,
      hosts: services.hostStore,
      hostEvents: services.hostEvents,
    });
    const manager = apple.manager;

    /** Ticks until a tick finishes its pass with nothing installed or removed. */
    const ticksUntilIdle = async () => {
      let ticks = 0;
      for (;;) {
        const r = await manager.tick();
        ticks++;
        const work =
          r.profiles.installs + r.profiles.removals + r.declarations.installs + r.declarations.removals;
        if (r.profiles.done && r.declarations.done && work === 0) return ticks;
        if (ticks > 200) throw new Error('the manager did not settle in 200 ticks');
      }
    };

    // (a) From nothing to every pair pending and queued.
    t0 = performance.now();
    const ticks = await ticksUntilIdle();
    const fullMs = performance.now() - t0;
    const pairs = await countRows(db, 'host_mdm_apple_profiles', { pendingOnly: true });
    const queued = await countRows(db, 'nano_enrollment_queue');
    if (pairs !== hostCount * profileCount || queued !== hostCount * profileCount) {
      throw new Error(
        `full pass left ${pairs} pending rows and ${queued} queue rows (want ${hostCount * profileCount})`,
      );
    }
    reportFigure(`profiles_full_pass_${hostCount}x${profileCount}_mysql`, fullMs / 1000, 's');
    reportFigure(`profiles_full_pass_ticks_${hostCount}x${profileCount}_mysql`, ticks, 'ticks');

    // (b) One new profile: immediate pending through the service, then queued by the manager.
    t0 = performance.now();
    const uuid = await parts.profiles.create(
      null,
      teamId,
      { filename: 'new.mobileconfig', bytes: benchMobileconfig('com.bench.new', 'Bench new') },
      {},
    );
    const pendingMs = performance.now() - t0;
    const shown = await countRows(db, 'host_mdm_apple_profiles', { profileUuid: uuid });
    if (shown !== hostCount)
      throw new Error(`after upload ${shown} hosts show the new profile (want ${hostCount})`);
    const t1 = performance.now();
    const ticksNew = await ticksUntilIdle();
    const enqueuedMs = performance.now() - t0;
    const sent = await countRows(db, 'host_mdm_apple_profiles', { profileUuid: uuid, pendingOnly: true });
    if (sent !== hostCount)
      throw new Error(`after the manager ${sent} hosts have the new profile queued (want ${hostCount})`);
    reportFigure(`profiles_new_profile_pending_${hostCount}_mysql`, pendingMs / 1000, 's');
    reportFigure(`profiles_new_profile_enqueued_${hostCount}_mysql`, enqueuedMs / 1000, 's');
    process.stderr.write(
      `profiles: new profile queued by ${ticksNew} tick(s) in ${((performance.now() - t1) / 1000).toFixed(2)} s after upload\n`,
    );

    // (c) A tick with nothing to do.
    t0 = performance.now();
    const idle = await manager.tick();
    const idleMs = performance.now() - t0;
    if (idle.profiles.installs + idle.profiles.removals !== 0) throw new Error('the idle tick found work');
    reportFigure(`profiles_idle_tick_${hostCount}x${profileCount + 1}_mysql`, idleMs, 'ms');

    // (d) The physical limit for the rows of (a), and the full pass as a fraction of it.
    if (process.env.BENCH_PROFILES_RAW !== '0') {
      const rawS = await rawInsertLimit(database.url, profileUuids);
      const fraction = rawS / (fullMs / 1000);
      process.stderr.write(
        `profiles: the full pass runs at ${(fraction * 100).toFixed(0)}% of the raw insert rate (best raw ${rawS.toFixed(1)} s, full pass ${(fullMs / 1000).toFixed(1)} s)\n`,
      );
      reportFigure(
        `profiles_full_pass_fraction_of_raw_insert_${hostCount}x${profileCount}_mysql`,
        fraction,
        'ratio',
      );
    }
    await services.stopBackground?.();
  } finally {
    await conn.close();
    if (process.env.BENCH_KEEP_DATABASE) process.stderr.write(`profiles: kept ${database.url}\n`);
    else await database.drop();
  }
}

await main();
// The server runs in this process here, so its peak memory is ours.
reportFigure('profiles.server_peak_rss', ownPeakRssMb(), 'MiB');
