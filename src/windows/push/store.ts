import { sql, type Kysely } from 'kysely';
import { dbNow, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { enrolledState } from '../store.js';

/** What a PC last told us about its push channel. */
export interface PushChannelState {
  enrollmentCreatedAt: string;
  pfn: string;
  channelUri: string | null;
  askedAt: string | null;
  checkedAt: string | null;
}

/** The PC's answer to Replace Push/PFN and Get Push/ChannelURI, Push/Status. */
export interface PushChannelAnswer {
  /** The PFN it accepted, when the Replace was in this answer and succeeded. */
  pfn?: string;
  channelUri: string | null;
  channelStatus: string | null;
}

/** An enrollment the push service may wake: its channel, if it has a usable one. */
export interface PushTarget {
  enrollmentId: number;
  channelUri: string | null;
  pushFailures: number;
}

export interface PushOutcomeUpdate {
  ids: number[];
  lastPushAt: string;
  lastPushError: string | null;
  pushFailures: number;
  nextPushAt: string | null;
  /** WNS said the channel is gone: forget it until the PC reports a new one. */
  clearChannel: boolean;
}

const chunkSize = 500;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += chunkSize) out.push(items.slice(i, i + chunkSize));
  return out;
}

/**
 * SQL for `windows_mdm_push_channels`. A row counts only while its `enrollment_created_at` equals
 * the enrollment's `created_at`: a PC that re-enrolls (same row, new created_at) starts over.
 */
export class WindowsPushStore {
  constructor(private readonly db: Kysely<DB>) {}

  async channel(enrollmentId: number, enrollmentCreatedAt: string): Promise<PushChannelState | undefined> {
    const r = await this.db
      .selectFrom('windows_mdm_push_channels')
      .select(['enrollment_created_at', 'pfn', 'channel_uri', 'asked_at', 'checked_at'])
      .where('enrollment_id', '=', enrollmentId)
      .executeTakeFirst();
    if (!r || r.enrollment_created_at !== enrollmentCreatedAt) return undefined;
    return {
      enrollmentCreatedAt: r.enrollment_created_at,
      pfn: r.pfn,
      channelUri: r.channel_uri,
      askedAt: r.asked_at,
      checkedAt: r.checked_at,
    };
  }

  /** The session asked the PC for its channel now (a new incarnation starts from scratch). */
  async recordAsked(enrollmentId: number, enrollmentCreatedAt: string): Promise<void> {
    const now = dbNow();
    const res = await this.db
      .updateTable('windows_mdm_push_channels')
      .set({ asked_at: now, updated_at: now })
      .where('enrollment_id', '=', enrollmentId)
      .where('enrollment_created_at', '=', enrollmentCreatedAt)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) > 0) return;
    await upsert(
      this.db,
      'windows_mdm_push_channels',
      this.freshRow(enrollmentId, enrollmentCreatedAt, { asked_at: now }),
      ['enrollment_id'],
      Object.keys(this.freshRow(enrollmentId, enrollmentCreatedAt, {})).filter((c) => c !== 'enrollment_id'),
    );
  }

  /** Stores the PC's answer; a new answer also resets the push back-off. */
  async recordAnswer(
    enrollmentId: number,
    enrollmentCreatedAt: string,
    answer: PushChannelAnswer,
  ): Promise<void> {
    const now = dbNow();
    const current = await this.channel(enrollmentId, enrollmentCreatedAt);
    await upsert(
      this.db,
      'windows_mdm_push_channels',
      this.freshRow(enrollmentId, enrollmentCreatedAt, {
        pfn: answer.pfn ?? current?.pfn ?? '',
        channel_uri: answer.channelUri,
        channel_status: answer.channelStatus,
        asked_at: current?.askedAt ?? now,
        checked_at: now,
      }),
      ['enrollment_id'],
      [
        'enrollment_created_at',
        'pfn',
        'channel_uri',
        'channel_status',
        'asked_at',
        'checked_at',
        'last_push_at',
        'last_push_error',
        'push_failures',
        'next_push_at',
        'updated_at',
      ],
    );
  }

  private freshRow(enrollmentId: number, enrollmentCreatedAt: string, values: Record<string, unknown>) {
    return {
      enrollment_id: enrollmentId,
      enrollment_created_at: enrollmentCreatedAt,
      pfn: '',
      channel_uri: null,
      channel_status: null,
      asked_at: null,
      checked_at: null,
      last_push_at: null,
      last_push_error: null,
      push_failures: 0,
      next_push_at: null,
      updated_at: dbNow(),
      ...values,
    };
  }

  /** Enrolled enrollments among `ids` with their current channel (null when none is known). */
  async pushTargets(ids: number[]): Promise<PushTarget[]> {
    const out: PushTarget[] = [];
    for (const part of chunks([...new Set(ids)].sort((a, b) => a - b))) {
      const rows = await this.db
        .selectFrom('mdm_windows_enrollments as e')
        .leftJoin('windows_mdm_push_channels as c', (j) =>
          j.onRef('c.enrollment_id', '=', 'e.id').onRef('c.enrollment_created_at', '=', 'e.created_at'),
        )
        .select(['e.id', 'c.channel_uri', 'c.push_failures'])
        .where('e.id', 'in', part)
        .where('e.device_state', '=', enrolledState)
        .execute();
      for (const r of rows)
        out.push({
          enrollmentId: r.id,
          channelUri: r.channel_uri ?? null,
          pushFailures: Number(r.push_failures ?? 0),
        });
    }
    return out;
  }

  /** Writes push outcomes; each update is one statement over a group of enrollments. */
  async recordOutcomes(updates: PushOutcomeUpdate[]): Promise<void> {
    for (const u of updates) {
      for (const part of chunks([...u.ids].sort((a, b) => a - b))) {
        await this.db
          .updateTable('windows_mdm_push_channels')
          .set({
            last_push_at: u.lastPushAt,
            last_push_error: u.lastPushError,
            push_failures: u.pushFailures,
            next_push_at: u.nextPushAt,
            updated_at: u.lastPushAt,
            // Unknown again: the next session asks the PC for its (renewed) channel.
            ...(u.clearChannel ? { channel_uri: null, checked_at: null } : {}),
          })
          .where('enrollment_id', 'in', part)
          .execute();
      }
    }
  }

  /**
   * Enrolled enrollments with a channel that still have commands waiting and whose next push
   * time has come (or that were never pushed), in id order after `afterId`.
   */
  async dueForRepush(
    now: string,
    limit: number,
    afterId = 0,
  ): Promise<{ id: number; push_failures: number }[]> {
    const rows = await this.db
      .selectFrom('windows_mdm_push_channels as c')
      .innerJoin('mdm_windows_enrollments as e', (j) =>
        j.onRef('e.id', '=', 'c.enrollment_id').onRef('e.created_at', '=', 'c.enrollment_created_at'),
      )
      .select(['c.enrollment_id as id', 'c.push_failures'])
      .where('c.channel_uri', 'is not', null)
      .where('e.device_state', '=', enrolledState)
      .where('c.enrollment_id', '>', afterId)
      .where((eb) => eb.or([eb('c.next_push_at', 'is', null), eb('c.next_push_at', '<=', now)]))
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('windows_mdm_command_queue as q')
            .select(sql`1`.as('one'))
            .whereRef('q.enrollment_id', '=', 'c.enrollment_id'),
        ),
      )
      .orderBy('c.enrollment_id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ id: Number(r.id), push_failures: Number(r.push_failures) }));
  }
}
