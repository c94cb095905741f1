import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { hashPassword } from '../../src/admin/password.js';
import type { Role, TeamRole } from '../../src/admin/roles.js';
import { dbNow } from '../../src/db/dialect.js';
import type { DB } from '../../src/db/schema.js';
import type { Services } from '../../src/services.js';

/** A user with the given role(s) and a session token for it. */
export async function tokenForRole(
  services: Services,
  role: Role | null,
  teams: TeamRole[] = [],
): Promise<string> {
  const id = await services.userStore.create({
    email: `${role ?? 'team'}-${randomUUID()}@example.com`,
    name: role ?? 'team user',
    passwordHash: await hashPassword('unused-password-1!'),
    globalRole: role,
    teams,
    apiOnly: true,
  });
  const token = randomBytes(24).toString('base64');
  await services.userStore.createSession(id, token);
  return token;
}

/**
 * A device-channel enrollment as check-in leaves it after Authenticate + TokenUpdate (rows written
 * directly, so push and command tests do not depend on the check-in protocol).
 */
export async function seedEnrollment(
  db: Kysely<DB>,
  opts: {
    udid?: string;
    topic: string;
    tokenHex?: string;
    pushMagic?: string;
    hostTeamId?: number | null;
    platform?: string;
    hostname?: string;
  },
): Promise<{ udid: string; tokenHex: string; pushMagic: string; hostId: number }> {
  const udid = opts.udid ?? randomUUID().toUpperCase();
  const tokenHex = opts.tokenHex ?? randomBytes(32).toString('hex');
  const pushMagic = opts.pushMagic ?? randomUUID();
  const now = dbNow();
  await db
    .insertInto('nano_devices')
    .values({
      id: udid,
      authenticate: '<plist/>',
      authenticate_at: now,
      platform: opts.platform ?? 'darwin',
      created_at: now,
      updated_at: now,
    })
    .execute();
  await db
    .insertInto('nano_enrollments')
    .values({
      id: udid,
      device_id: udid,
      type: 'Device',
      topic: opts.topic,
      push_magic: pushMagic,
      token_hex: tokenHex,
      last_seen_at: now,
      created_at: now,
      updated_at: now,
    })
    .execute();
  const res = await db
    .insertInto('hosts')
    .values({
      uuid: udid,
      platform: opts.platform ?? 'darwin',
      hostname: opts.hostname ?? `mac-${udid.slice(0, 8)}`,
      team_id: opts.hostTeamId ?? null,
      created_at: now,
      updated_at: now,
    })
    .executeTakeFirstOrThrow();
  const hostId = Number(res.insertId);
  await db
    .insertInto('host_mdm')
    .values({ host_id: hostId, enrolled: 1, server_url: 'https://x', mdm_name: 'Fleet' })
    .execute();
  return { udid, tokenHex, pushMagic, hostId };
}

/** Queues a command for enrollments directly (for push tests), optionally with a result status. */
export async function seedPendingCommand(
  db: Kysely<DB>,
  enrollmentIds: string[],
  resultStatus?: string,
): Promise<string> {
  const uuid = randomUUID();
  const now = dbNow();
  await db
    .insertInto('nano_commands')
    .values({
      command_uuid: uuid,
      request_type: 'ProfileList',
      command: Buffer.from('<plist/>'),
      created_at: now,
      updated_at: now,
    })
    .execute();
  for (const id of enrollmentIds) {
    await db
      .insertInto('nano_enrollment_queue')
      .values({ id, command_uuid: uuid, created_at: now, updated_at: now })
      .execute();
    if (resultStatus) {
      await db
        .insertInto('nano_command_results')
        .values({
          id,
          command_uuid: uuid,
          status: resultStatus,
          result: Buffer.from('<plist/>'),
          created_at: now,
          updated_at: now,
        })
        .execute();
    }
  }
  return uuid;
}
