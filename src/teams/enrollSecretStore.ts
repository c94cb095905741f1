import type { Kysely, Transaction } from 'kysely';
import { dbNow } from '../db/dialect.js';
import type { DB } from '../db/schema.js';

export interface EnrollSecretRow {
  secret: string;
  team_id: number | null;
  created_at: string;
}

type AnyDb = Kysely<DB> | Transaction<DB>;

/** enroll_secrets: the secrets agents and enrollment profiles present; team_id null = global. */
export class EnrollSecretStore {
  constructor(private readonly db: Kysely<DB>) {}

  async find(secret: string): Promise<EnrollSecretRow | undefined> {
    return this.db.selectFrom('enroll_secrets').selectAll().where('secret', '=', secret).executeTakeFirst();
  }

  /** The secrets of one scope (team id, or null for global), oldest first. */
  async list(teamId: number | null, db: AnyDb = this.db): Promise<EnrollSecretRow[]> {
    let q = db.selectFrom('enroll_secrets').selectAll();
    q = teamId === null ? q.where('team_id', 'is', null) : q.where('team_id', '=', teamId);
    return q.orderBy('created_at').orderBy('secret').execute();
  }

  async listForTeams(teamIds: number[]): Promise<EnrollSecretRow[]> {
    if (teamIds.length === 0) return [];
    return this.db
      .selectFrom('enroll_secrets')
      .selectAll()
      .where('team_id', 'in', teamIds)
      .orderBy('created_at')
      .orderBy('secret')
      .execute();
  }

  /** Which of these secrets already belong to a scope other than `teamId`. */
  async takenElsewhere(secrets: string[], teamId: number | null, db: AnyDb = this.db): Promise<string[]> {
    if (secrets.length === 0) return [];
    let q = db.selectFrom('enroll_secrets').select('secret').where('secret', 'in', secrets);
    q =
      teamId === null
        ? q.where('team_id', 'is not', null)
        : q.where((eb) => eb.or([eb('team_id', 'is', null), eb('team_id', '!=', teamId)]));
    return (await q.execute()).map((r) => r.secret);
  }

  /** Makes the scope's set exactly `secrets`, keeping the created_at of secrets that stay. */
  async replace(teamId: number | null, secrets: string[], trx: Transaction<DB>): Promise<void> {
    const current = await this.list(teamId, trx);
    const keep = new Set(secrets);
    const gone = current.filter((c) => !keep.has(c.secret)).map((c) => c.secret);
    if (gone.length) await trx.deleteFrom('enroll_secrets').where('secret', 'in', gone).execute();
    const have = new Set(current.map((c) => c.secret));
    const now = dbNow();
    const add = [...keep]
      .filter((s) => !have.has(s))
      .map((secret) => ({ secret, team_id: teamId, created_at: now }));
    if (add.length) await trx.insertInto('enroll_secrets').values(add).execute();
  }

  async deleteForTeam(teamId: number, trx: AnyDb): Promise<void> {
    await trx.deleteFrom('enroll_secrets').where('team_id', '=', teamId).execute();
  }
}
