import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
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

export function benchMobileconfig(identifier: string, name: string): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>PayloadType</key><string>com.apple.dock</string>
<key>PayloadIdentifier</key><string>${identifier}.p</string>
<key>PayloadUUID</key><string>${randomUUID()}</string>
<key>PayloadVersion</key><integer>1</integer>
<key>orientation</key><string>bottom</string>
</dict></array>
<key>PayloadDisplayName</key><string>${name}</string>
<key>PayloadIdentifier</key><string>${identifier}</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>${randomUUID()}</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>`);
}

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
    const profiles = Array.from({ length: profileCount }, (_, i) =>
      parseAppleProfile(benchMobileconfig(`com.bench.p${i}`, `Bench ${i}`)),
    );
    await db
      .insertInto('mdm_apple_configuration_profiles')
      .values(profiles.map((p) => newAppleProfileRow(`a${randomUUID()}`, teamId, p, now)))
      .execute();
    process.stderr.write(
      `profiles: seeded ${hostCount} enrolled Macs and ${profileCount} profiles in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );

    const config = loadConfig({}, { databaseUrl: database.url, dataDir: database.dataDir, logLevel: 'warn' });
    const logger = createLogger(config.logLevel);
    const services = createServices(config, conn, 'bench-server-key-0123456789abcdef0123456789', logger);
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
