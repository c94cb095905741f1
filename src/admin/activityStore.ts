import type { Kysely, Transaction } from 'kysely';
import { dbNow } from '../db/dialect.js';
import type { DB } from '../db/schema.js';

export interface NewActivity {
  userId: number | null;
  userName: string | null;
  userEmail: string | null;
  type: string;
  details: Record<string, unknown>;
  hostIds?: number[];
}

/** activities and host_activities: the audit log. */
export class ActivityStore {
  constructor(private readonly db: Kysely<DB>) {}

  async insert(a: NewActivity, trx?: Transaction<DB>): Promise<number> {
    const db = trx ?? this.db;
    const res = await db
      .insertInto('activities')
      .values({
        user_id: a.userId,
        user_name: a.userName,
        user_email: a.userEmail,
        activity_type: a.type,
        details: JSON.stringify(a.details),
        created_at: dbNow(),
      })
      .executeTakeFirstOrThrow();
    const id = Number(res.insertId);
    if (a.hostIds?.length) {
      await db
        .insertInto('host_activities')
        .values(a.hostIds.map((h) => ({ host_id: h, activity_id: id })))
        .execute();
    }
    return id;
  }

  async list(opts: { limit?: number; offset?: number; desc?: boolean; hostId?: number; type?: string }) {
    let q = this.db.selectFrom('activities').selectAll('activities');
    if (opts.hostId !== undefined) {
      q = q
        .innerJoin('host_activities', 'host_activities.activity_id', 'activities.id')
        .where('host_activities.host_id', '=', opts.hostId);
    }
    if (opts.type) q = q.where('activities.activity_type', '=', opts.type);
    q = q.orderBy('activities.id', opts.desc === false ? 'asc' : 'desc');
    if (opts.limit !== undefined) q = q.limit(opts.limit + 1).offset(opts.offset ?? 0);
    return q.execute();
  }
}
