import type { Kysely, Transaction } from 'kysely';
import { dbNow } from '../db/dialect.js';
import type { DB } from '../db/schema.js';

export interface TeamRow {
  id: number;
  name: string;
  description: string;
  /** The team's settings document (Fleet's team config: `mdm`, `host_expiry_settings`, ...). */
  config: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

type AnyDb = Kysely<DB> | Transaction<DB>;

/** A teams row with its settings document parsed. */
export function toTeam(r: {
  id: number;
  name: string;
  description: string;
  config: string;
  created_at: string;
  updated_at: string;
}): TeamRow {
  let config: Record<string, unknown> = {};
  try {
    config = r.config ? (JSON.parse(r.config) as Record<string, unknown>) : {};
  } catch {
    config = {};
  }
  return { ...r, config };
}

/** The teams table (Fleet's "fleets"). */
export class TeamStore {
  constructor(private readonly db: Kysely<DB>) {}

  async getById(id: number, db: AnyDb = this.db): Promise<TeamRow | undefined> {
    const r = await db.selectFrom('teams').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toTeam(r) : undefined;
  }

  async getByName(name: string, db: AnyDb = this.db): Promise<TeamRow | undefined> {
    const r = await db.selectFrom('teams').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toTeam(r) : undefined;
  }

  async existingIds(ids: number[]): Promise<number[]> {
    if (ids.length === 0) return [];
    return (await this.db.selectFrom('teams').select('id').where('id', 'in', ids).execute()).map((r) => r.id);
  }

  async list(opts: {
    query?: string;
    ids?: number[];
    limit?: number;
    offset?: number;
    orderKey?: string;
    desc?: boolean;
  }) {
    let q = this.db.selectFrom('teams').selectAll();
    if (opts.ids) {
      if (opts.ids.length === 0) return [];
      q = q.where('id', 'in', opts.ids);
    }
    if (opts.query) q = q.where('name', 'like', `%${opts.query}%`);
    const key = (
      opts.orderKey && ['id', 'name', 'created_at'].includes(opts.orderKey) ? opts.orderKey : 'name'
    ) as 'name';
    q = q.orderBy(key, opts.desc ? 'desc' : 'asc').orderBy('id');
    if (opts.limit !== undefined) q = q.limit(opts.limit).offset(opts.offset ?? 0);
    return (await q.execute()).map(toTeam);
  }

  async create(
    t: { name: string; description: string; config: Record<string, unknown> },
    trx: AnyDb = this.db,
  ): Promise<number> {
    const now = dbNow();
    const res = await trx
      .insertInto('teams')
      .values({
        name: t.name,
        description: t.description,
        config: JSON.stringify(t.config),
        created_at: now,
        updated_at: now,
      })
      .executeTakeFirstOrThrow();
    return Number(res.insertId);
  }

  async update(
    id: number,
    fields: { name?: string; description?: string; config?: Record<string, unknown> },
    trx: AnyDb = this.db,
  ) {
    const set: Record<string, unknown> = { updated_at: dbNow() };
    if (fields.name !== undefined) set.name = fields.name;
    if (fields.description !== undefined) set.description = fields.description;
    if (fields.config !== undefined) set.config = JSON.stringify(fields.config);
    await trx.updateTable('teams').set(set).where('id', '=', id).execute();
  }

  /** Deletes the team row; hosts fall back to No team and user roles go with it (foreign keys). */
  async delete(id: number, trx: AnyDb = this.db): Promise<void> {
    await trx.updateTable('hosts').set({ team_id: null }).where('team_id', '=', id).execute();
    await trx.deleteFrom('user_teams').where('team_id', '=', id).execute();
    await trx.deleteFrom('teams').where('id', '=', id).execute();
  }

  /** User counts per team id. */
  async userCounts(teamIds: number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (teamIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('user_teams')
      .select(['team_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('team_id', 'in', teamIds)
      .groupBy('team_id')
      .execute();
    for (const r of rows) out.set(r.team_id, Number(r.n));
    return out;
  }

  /** Adds or changes team roles of users (one role per user and team). */
  async setTeamUsers(teamId: number, users: { userId: number; role: string }[], trx: AnyDb): Promise<void> {
    if (users.length === 0) return;
    await trx
      .deleteFrom('user_teams')
      .where('team_id', '=', teamId)
      .where(
        'user_id',
        'in',
        users.map((u) => u.userId),
      )
      .execute();
    await trx
      .insertInto('user_teams')
      .values(users.map((u) => ({ user_id: u.userId, team_id: teamId, role: u.role })))
      .execute();
  }

  async removeTeamUsers(teamId: number, userIds: number[], trx: AnyDb): Promise<void> {
    if (userIds.length === 0) return;
    await trx
      .deleteFrom('user_teams')
      .where('team_id', '=', teamId)
      .where('user_id', 'in', userIds)
      .execute();
  }
}
