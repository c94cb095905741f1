import { sql, type Kysely, type Transaction } from 'kysely';
import type { SecretBox } from '../../crypto/secretbox.js';
import type { DB } from '../../db/schema.js';
import type { SecretValues } from './secretValues.js';

type Db = Kysely<DB> | Transaction<DB>;

/** A secret as the API shows it: never its value. */
export interface SecretIdentifier {
  id: number;
  name: string;
  created_at: string;
  updated_at: string;
}

/**
 * `secret_variables`: values sealed with the server key (AES-GCM, SecretBox) on the way in and
 * opened only for delivery and for comparing an upsert against what is stored.
 */
export class SecretVariableStore implements SecretValues {
  constructor(
    readonly db: Kysely<DB>,
    private readonly box: SecretBox,
  ) {}

  async values(names: string[], db: Db = this.db): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (!names.length) return out;
    const rows = await db
      .selectFrom('secret_variables')
      .select(['name', 'value'])
      .where('name', 'in', [...new Set(names)])
      .execute();
    for (const r of rows) out.set(r.name, this.box.open(r.value).toString('utf8'));
    return out;
  }

  /** A page of secrets by name, and how many there are. */
  async list(page: {
    limit?: number;
    offset?: number;
  }): Promise<{ rows: SecretIdentifier[]; count: number }> {
    let q = this.db
      .selectFrom('secret_variables')
      .select(['id', 'name', 'created_at', 'updated_at'])
      .orderBy('name')
      .orderBy('id');
    if (page.limit !== undefined) q = q.limit(page.limit).offset(page.offset ?? 0);
    else if (page.offset) q = q.limit(Number.MAX_SAFE_INTEGER).offset(page.offset);
    const rows = await q.execute();
    const total = await this.db
      .selectFrom('secret_variables')
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    return { rows: rows.map((r) => ({ ...r, id: Number(r.id) })), count: Number(total.n) };
  }

  async nameOf(id: number, db: Db = this.db): Promise<string | undefined> {
    const r = await db.selectFrom('secret_variables').select('name').where('id', '=', id).executeTakeFirst();
    return r?.name;
  }

  async idOf(name: string, db: Db = this.db): Promise<number | undefined> {
    const r = await db
      .selectFrom('secret_variables')
      .select('id')
      .where('name', '=', name)
      .executeTakeFirst();
    return r ? Number(r.id) : undefined;
  }

  async insert(db: Db, name: string, value: string, now: string): Promise<number> {
    const res = await db
      .insertInto('secret_variables')
      .values({ name, value: this.box.seal(value), created_at: now, updated_at: now })
      .executeTakeFirstOrThrow();
    return Number(res.insertId);
  }

  async update(db: Db, name: string, value: string, now: string): Promise<void> {
    await db
      .updateTable('secret_variables')
      .set({ value: this.box.seal(value), updated_at: now })
      .where('name', '=', name)
      .execute();
  }

  async delete(db: Db, id: number): Promise<void> {
    await db.deleteFrom('secret_variables').where('id', '=', id).execute();
  }
}
