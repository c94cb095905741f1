import type { Kysely, Transaction } from 'kysely';
import { dbNow, upsert } from '../db/dialect.js';
import type { DB } from '../db/schema.js';

export interface LabelRow {
  id: number;
  name: string;
  description: string;
  query: string;
  platform: string;
  /** 0 = regular, 1 = builtin. */
  label_type: number;
  /** 0 = dynamic (osquery query), 1 = manual (host list), 2 = host vitals (criteria). */
  label_membership_type: number;
  criteria: string | null;
  author_id: number | null;
  created_at: string;
  updated_at: string;
}

/** A host's standing in one label: true member, false evaluated and not a member, null not yet known. */
export interface MembershipState {
  labelId: number;
  name: string;
  labelType: number;
  membershipType: number;
  labelCreatedAt: string;
  isMember: boolean | null;
}

type AnyDb = Kysely<DB> | Transaction<DB>;

/** labels and label_membership. */
export class LabelStore {
  constructor(private readonly db: Kysely<DB>) {}

  async getById(id: number, db: AnyDb = this.db): Promise<LabelRow | undefined> {
    return db.selectFrom('labels').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async getByName(name: string, db: AnyDb = this.db): Promise<LabelRow | undefined> {
    return db.selectFrom('labels').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async getByNames(names: string[], db: AnyDb = this.db): Promise<LabelRow[]> {
    if (names.length === 0) return [];
    return db.selectFrom('labels').selectAll().where('name', 'in', names).execute();
  }

  async getByIds(ids: number[], db: AnyDb = this.db): Promise<LabelRow[]> {
    if (ids.length === 0) return [];
    return db.selectFrom('labels').selectAll().where('id', 'in', ids).orderBy('id').execute();
  }

  async list(
    opts: { limit?: number; offset?: number; orderKey?: string; desc?: boolean; query?: string } = {},
  ): Promise<LabelRow[]> {
    let q = this.db.selectFrom('labels').selectAll();
    if (opts.query) q = q.where('name', 'like', `%${opts.query}%`);
    const key = (
      opts.orderKey && ['id', 'name', 'created_at', 'updated_at'].includes(opts.orderKey)
        ? opts.orderKey
        : 'id'
    ) as 'id';
    q = q.orderBy(key, opts.desc ? 'desc' : 'asc');
    if (key !== 'id') q = q.orderBy('id');
    if (opts.limit !== undefined) q = q.limit(opts.limit).offset(opts.offset ?? 0);
    return q.execute();
  }

  /** Member counts per label, optionally only over hosts in the given teams. */
  async hostCounts(labelIds: number[], visibleTeams: 'all' | number[] = 'all'): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (labelIds.length === 0) return out;
    let q = this.db
      .selectFrom('label_membership')
      .select(['label_membership.label_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('label_membership.label_id', 'in', labelIds)
      .where('label_membership.is_member', '=', 1)
      .groupBy('label_membership.label_id');
    if (visibleTeams !== 'all') {
      if (visibleTeams.length === 0) return out;
      q = q
        .innerJoin('hosts', 'hosts.id', 'label_membership.host_id')
        .where('hosts.team_id', 'in', visibleTeams);
    }
    for (const r of await q.execute()) out.set(r.label_id, Number(r.n));
    return out;
  }

  async memberHostIds(labelId: number, db: AnyDb = this.db): Promise<number[]> {
    const rows = await db
      .selectFrom('label_membership')
      .select('host_id')
      .where('label_id', '=', labelId)
      .where('is_member', '=', 1)
      .orderBy('host_id')
      .execute();
    return rows.map((r) => r.host_id);
  }

  async create(
    l: {
      name: string;
      description: string;
      query: string;
      platform: string;
      membershipType: number;
      authorId: number | null;
    },
    trx: AnyDb = this.db,
  ): Promise<number> {
    const now = dbNow();
    const res = await trx
      .insertInto('labels')
      .values({
        name: l.name,
        description: l.description,
        query: l.query,
        platform: l.platform,
        label_type: 0,
        label_membership_type: l.membershipType,
        author_id: l.authorId,
        created_at: now,
        updated_at: now,
      })
      .executeTakeFirstOrThrow();
    return Number(res.insertId);
  }

  async update(
    id: number,
    fields: { name?: string; description?: string },
    trx: AnyDb = this.db,
  ): Promise<void> {
    const set: Record<string, unknown> = { updated_at: dbNow() };
    if (fields.name !== undefined) set.name = fields.name;
    if (fields.description !== undefined) set.description = fields.description;
    await trx.updateTable('labels').set(set).where('id', '=', id).execute();
  }

  async delete(id: number, trx: AnyDb = this.db): Promise<void> {
    await trx.deleteFrom('label_membership').where('label_id', '=', id).execute();
    await trx.deleteFrom('labels').where('id', '=', id).execute();
  }

  /** Records that these hosts were evaluated for the label: member (true) or not (false). */
  async setMembership(
    labelId: number,
    hostIds: number[],
    isMember: boolean,
    trx: AnyDb = this.db,
  ): Promise<void> {
    if (hostIds.length === 0) return;
    const now = dbNow();
    const rows = hostIds.map((h) => ({
      host_id: h,
      label_id: labelId,
      is_member: isMember ? 1 : 0,
      created_at: now,
      updated_at: now,
    }));
    for (let i = 0; i < rows.length; i += 500) {
      await upsert(
        trx,
        'label_membership',
        rows.slice(i, i + 500),
        ['host_id', 'label_id'],
        ['is_member', 'updated_at'],
      );
    }
  }

  /**
   * Makes a manual label's members exactly `hostIds` (rows for others are removed: for a manual
   * label no row means "not a member"). Returns the hosts whose membership changed.
   */
  async replaceManualMembers(labelId: number, hostIds: number[], trx: Transaction<DB>): Promise<number[]> {
    const before = new Set(await this.memberHostIds(labelId, trx));
    const after = new Set(hostIds);
    const removed = [...before].filter((h) => !after.has(h));
    const added = [...after].filter((h) => !before.has(h));
    await trx
      .deleteFrom('label_membership')
      .where('label_id', '=', labelId)
      .where('is_member', '=', 0)
      .execute();
    if (removed.length) {
      await trx
        .deleteFrom('label_membership')
        .where('label_id', '=', labelId)
        .where('host_id', 'in', removed)
        .execute();
    }
    await this.setMembership(labelId, added, true, trx);
    return [...removed, ...added].sort((a, b) => a - b);
  }

  async removeMembership(labelIds: number[], hostId: number, trx: AnyDb = this.db): Promise<void> {
    if (labelIds.length === 0) return;
    await trx
      .deleteFrom('label_membership')
      .where('host_id', '=', hostId)
      .where('label_id', 'in', labelIds)
      .execute();
  }

  /** Labels the host is a member of. */
  async labelsForHost(hostId: number): Promise<LabelRow[]> {
    return this.db
      .selectFrom('labels')
      .innerJoin('label_membership', 'label_membership.label_id', 'labels.id')
      .selectAll('labels')
      .where('label_membership.host_id', '=', hostId)
      .where('label_membership.is_member', '=', 1)
      .orderBy('labels.id')
      .execute();
  }

  /**
   * The host's state in every label. Dynamic labels without a row are "not yet known" (null);
   * manual labels without a row are "not a member" (false).
   */
  async membershipStates(hostId: number): Promise<MembershipState[]> {
    const rows = await this.db
      .selectFrom('labels')
      .leftJoin('label_membership', (j) =>
        j.onRef('label_membership.label_id', '=', 'labels.id').on('label_membership.host_id', '=', hostId),
      )
      .select([
        'labels.id',
        'labels.name',
        'labels.label_type',
        'labels.label_membership_type',
        'labels.created_at',
        'label_membership.is_member',
      ])
      .orderBy('labels.id')
      .execute();
    return rows.map((r) => ({
      labelId: r.id,
      name: r.name,
      labelType: r.label_type,
      membershipType: r.label_membership_type,
      labelCreatedAt: r.created_at,
      isMember:
        r.is_member === null || r.is_member === undefined
          ? r.label_membership_type === 1
            ? false
            : null
          : Boolean(r.is_member),
    }));
  }
}
