import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

/** The team and label lookups behind profile scoping (the profiles themselves are the adapters'). */
export class ProfileScopeStore {
  constructor(readonly db: Kysely<DB>) {}

  async teamName(teamId: number): Promise<string | undefined> {
    const row = await this.db.selectFrom('teams').select('name').where('id', '=', teamId).executeTakeFirst();
    return row?.name;
  }

  async teamIdByName(name: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('teams').select('id').where('name', '=', name).executeTakeFirst();
    return row ? Number(row.id) : undefined;
  }

  async labelsByName(names: string[]): Promise<{ id: number; name: string }[]> {
    if (names.length === 0) return [];
    const rows = await this.db
      .selectFrom('labels')
      .select(['id', 'name'])
      .where('name', 'in', names)
      .execute();
    return rows.map((r) => ({ id: Number(r.id), name: r.name }));
  }
}
