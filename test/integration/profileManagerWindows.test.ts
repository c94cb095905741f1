import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { newAppleProfileRow } from '../../src/apple/profiles/adapter.js';
import { parseAppleProfile } from '../../src/apple/profiles/validate.js';
import { dbNow } from '../../src/db/dialect.js';
import { mobileconfig } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

/**
 * The profile manager over many windows of hosts (three hosts per window here), which on MySQL
 * run two at a time: every (host, profile) pair ends pending with exactly one queue row for its
 * command, whether it came from the sweep or from rows marked pending, and nothing is queued twice.
 */
const HOSTS = 10;

async function seedTeamOfMacs(srv: TestServer): Promise<{ teamId: number; udids: string[] }> {
  const db = srv.app.services.database.db;
  const now = dbNow();
  const team = await db
    .insertInto('teams')
    .values({ name: `Windows ${randomUUID()}`, config: '{}', created_at: now, updated_at: now })
    .executeTakeFirstOrThrow();
  const teamId = Number(team.insertId);
  const udids = Array.from({ length: HOSTS }, () => randomUUID().toUpperCase());
  for (const id of udids) {
    await db
      .insertInto('nano_devices')
      .values({
        id,
        authenticate: '<plist/>',
        authenticate_at: now,
        platform: 'darwin',
        created_at: now,
        updated_at: now,
      })
      .execute();
    await db
      .insertInto('nano_enrollments')
      .values({
        id,
        device_id: id,
        type: 'Device',
        topic: 'com.apple.mgmt.External.test',
        push_magic: id,
        token_hex: id.replace(/-/g, ''),
        last_seen_at: now,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await db
      .insertInto('hosts')
      .values({
        uuid: id,
        platform: 'darwin',
        hostname: id,
        team_id: teamId,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }
  return { teamId, udids };
}

async function addProfiles(srv: TestServer, teamId: number, count: number): Promise<string[]> {
  const now = dbNow();
  const uuids = Array.from({ length: count }, () => `a${randomUUID()}`);
  await srv.app.services.database.db
    .insertInto('mdm_apple_configuration_profiles')
    .values(
      uuids.map((uuid, i) =>
        newAppleProfileRow(
          uuid,
          teamId,
          parseAppleProfile(mobileconfig(`com.windows.${uuid}`, `W ${i} ${uuid}`)),
          now,
        ),
      ),
    )
    .execute();
  return uuids;
}

/** Status rows of the hosts, with the queue rows of their commands for the host's enrollment. */
async function deliveryOf(srv: TestServer, udids: string[]) {
  const db = srv.app.services.database.db;
  const rows = await db
    .selectFrom('host_mdm_apple_profiles')
    .select(['host_uuid', 'profile_uuid', 'status', 'command_uuid'])
    .where('host_uuid', 'in', udids)
    .execute();
  const queue = await db
    .selectFrom('nano_enrollment_queue')
    .select(['id', 'command_uuid', 'active'])
    .where('id', 'in', udids)
    .execute();
  return { rows, queue };
}

describeEachDialect(
  'profile manager: many windows of hosts',
  (server) => {
    it('a sweep over several windows queues every pair once; marked rows go the same way', async () => {
      const srv = server();
      const manager = srv.app.services.profileManager;
      const { teamId, udids } = await seedTeamOfMacs(srv);
      const first = await addProfiles(srv, teamId, 3);

      await manager.runUntilIdle();
      let d = await deliveryOf(srv, udids);
      expect(d.rows).toHaveLength(HOSTS * first.length);
      expect(d.rows.every((r) => r.status === 'pending' && r.command_uuid !== '')).toBe(true);
      expect(d.queue).toHaveLength(HOSTS * first.length);
      const queued = new Set(d.queue.map((q) => `${q.id} ${q.command_uuid}`));
      expect(queued.size).toBe(d.queue.length);
      for (const r of d.rows) expect(queued.has(`${r.host_uuid} ${r.command_uuid}`)).toBe(true);
      // One command per profile per window: 10 hosts in windows of 3 are 4 windows.
      expect(new Set(d.rows.map((r) => r.command_uuid)).size).toBe(4 * first.length);

      // A new profile: rows marked pending at once (status NULL), then queued in batches of hosts.
      const [added] = await addProfiles(srv, teamId, 1);
      await manager.markPending({ profileUuids: [added], newDefinitions: true });
      d = await deliveryOf(srv, udids);
      const marked = d.rows.filter((r) => r.profile_uuid === added);
      expect(marked).toHaveLength(HOSTS);
      expect(marked.every((r) => r.status === null)).toBe(true);
      const tick = await manager.tick();
      expect(tick.profiles.installs).toBe(HOSTS);
      d = await deliveryOf(srv, udids);
      const sent = d.rows.filter((r) => r.profile_uuid === added);
      expect(sent.every((r) => r.status === 'pending' && r.command_uuid !== '')).toBe(true);
      expect(d.queue).toHaveLength(HOSTS * (first.length + 1));
      const after = new Set(d.queue.map((q) => `${q.id} ${q.command_uuid}`));
      for (const r of sent) expect(after.has(`${r.host_uuid} ${r.command_uuid}`)).toBe(true);

      // Nothing left: another sweep queues nothing.
      await manager.runUntilIdle();
      const again = await deliveryOf(srv, udids);
      expect(again.queue).toHaveLength(d.queue.length);
      expect(again.rows.map((r) => r.command_uuid).sort()).toEqual(d.rows.map((r) => r.command_uuid).sort());
    });
  },
  { profileManagerBatchHosts: 3 },
);
