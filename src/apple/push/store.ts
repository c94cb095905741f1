import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

/** APNs answers that mean the token is dead: stop pushing until the device sends a new TokenUpdate. */
export const deadTokenReasons = ['Unregistered', 'BadDeviceToken'] as const;

export interface PushTarget {
  id: string;
  topic: string;
  push_magic: string;
  token_hex: string;
  enabled: boolean;
  last_push_error: string | null;
  /** The token was reported dead and no TokenUpdate arrived since. */
  token_dead: boolean;
}

export interface PushOutcomeUpdate {
  ids: string[];
  lastPushAt: string;
  lastPushError: string | null;
  pushFailures: number;
  nextPushAt: string | null;
}

const chunkSize = 500;

function chunks<T>(items: T[], size = chunkSize): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** SQL for the push bookkeeping columns of nano_enrollments (the table itself belongs to check-in). */
export class ApplePushStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Push details of these enrollments. A token marked dead counts as alive again once the
   * enrollment row changed after the failed push (a TokenUpdate rewrites it).
   */
  async pushTargets(ids: string[]): Promise<PushTarget[]> {
    const out: PushTarget[] = [];
    for (const part of chunks([...new Set(ids)])) {
      const rows = await this.db
        .selectFrom('nano_enrollments')
        .select([
          'id',
          'topic',
          'push_magic',
          'token_hex',
          'enabled',
          'last_push_error',
          'last_push_at',
          'updated_at',
        ])
        .where('id', 'in', part)
        .execute();
      for (const r of rows) {
        const dead =
          r.last_push_error !== null &&
          (deadTokenReasons as readonly string[]).includes(r.last_push_error) &&
          (r.last_push_at === null || r.updated_at <= r.last_push_at);
        out.push({
          id: r.id,
          topic: r.topic,
          push_magic: r.push_magic,
          token_hex: r.token_hex,
          enabled: Boolean(Number(r.enabled)),
          last_push_error: r.last_push_error,
          token_dead: dead,
        });
      }
    }
    return out;
  }

  /** Writes push outcomes; each update is one statement over a group of enrollments. */
  async recordOutcomes(updates: PushOutcomeUpdate[]): Promise<void> {
    if (updates.every((u) => u.ids.length === 0)) return;
    await this.db.transaction().execute(async (trx) => {
      for (const u of updates) {
        for (const part of chunks(u.ids)) {
          await trx
            .updateTable('nano_enrollments')
            .set({
              last_push_at: u.lastPushAt,
              last_push_error: u.lastPushError,
              push_failures: u.pushFailures,
              next_push_at: u.nextPushAt,
            })
            .where('id', 'in', part)
            .execute();
        }
      }
    });
  }

  /**
   * Enabled enrollments with a live push token that still have commands waiting (never answered,
   * or answered NotNow) and whose next push time has come; in id order after `afterId`.
   */
  async dueForRepush(
    now: string,
    limit: number,
    afterId = '',
  ): Promise<{ id: string; push_failures: number }[]> {
    const rows = await this.db
      .selectFrom('nano_enrollments as e')
      .select(['e.id', 'e.push_failures'])
      .where('e.enabled', '=', 1)
      .where('e.token_hex', '<>', '')
      .where('e.push_magic', '<>', '')
      .where('e.id', '>', afterId)
      .where((eb) => eb.or([eb('e.next_push_at', 'is', null), eb('e.next_push_at', '<=', now)]))
      .where((eb) =>
        eb.or([
          eb('e.last_push_error', 'is', null),
          eb('e.last_push_error', 'not in', [...deadTokenReasons]),
          eb('e.last_push_at', 'is', null),
          eb('e.updated_at', '>', eb.ref('e.last_push_at')),
        ]),
      )
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('nano_enrollment_queue as q')
            .leftJoin('nano_command_results as r', (j) =>
              j.onRef('r.id', '=', 'q.id').onRef('r.command_uuid', '=', 'q.command_uuid'),
            )
            .select(sql`1`.as('one'))
            .whereRef('q.id', '=', 'e.id')
            .where('q.active', '=', 1)
            .where((eb) => eb.or([eb('r.status', 'is', null), eb('r.status', '=', 'NotNow')])),
        ),
      )
      .orderBy('e.id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ id: r.id, push_failures: Number(r.push_failures) }));
  }

  /** How many enabled enrollments are bound to a push topic other than `topic`. */
  async countEnrolledWithOtherTopic(topic: string): Promise<number> {
    const row = await this.db
      .selectFrom('nano_enrollments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('enabled', '=', 1)
      .where('topic', '<>', '')
      .where('topic', '<>', topic)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** How many enabled enrollments there are at all. */
  async countEnabledEnrollments(): Promise<number> {
    const row = await this.db
      .selectFrom('nano_enrollments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('enabled', '=', 1)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}
