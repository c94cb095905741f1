import type { Kysely, Transaction } from 'kysely';
import { dbNow, forUpdate } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import type { Role, TeamRole } from './roles.js';
import { withLifecycleTables, type AdminDB } from './tables.js';

export interface InviteRow {
  id: number;
  invited_by: number;
  email: string;
  name: string;
  position: string;
  sso_enabled: boolean;
  mfa_enabled: boolean;
  global_role: Role | null;
  created_at: string;
  updated_at: string;
  teams: (TeamRole & { teamName: string })[];
}

export interface NewInvite {
  invitedBy: number;
  email: string;
  name: string;
  position: string;
  ssoEnabled: boolean;
  mfaEnabled: boolean;
  globalRole: Role | null;
  teams: TeamRole[];
  tokenHash: string;
}

type AnyDb = Kysely<AdminDB> | Transaction<AdminDB>;

const inviteColumns = [
  'invites.id',
  'invites.invited_by',
  'invites.email',
  'invites.name',
  'invites.position',
  'invites.sso_enabled',
  'invites.mfa_enabled',
  'invites.global_role',
  'invites.created_at',
  'invites.updated_at',
] as const;

/** invites and invite_teams. Tokens are looked up by their hash; the token itself is never stored. */
export class InviteStore {
  private readonly db: Kysely<AdminDB>;

  constructor(db: Kysely<DB>) {
    this.db = withLifecycleTables(db);
  }

  private async withTeams(rows: any[], db: AnyDb = this.db): Promise<InviteRow[]> {
    if (rows.length === 0) return [];
    const teamRows = await db
      .selectFrom('invite_teams')
      .innerJoin('teams', 'teams.id', 'invite_teams.team_id')
      .select(['invite_teams.invite_id', 'invite_teams.team_id', 'invite_teams.role', 'teams.name'])
      .where(
        'invite_teams.invite_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('invite_teams.team_id')
      .execute();
    return rows.map((r) => ({
      ...r,
      sso_enabled: Boolean(r.sso_enabled),
      mfa_enabled: Boolean(r.mfa_enabled),
      teams: teamRows
        .filter((t) => t.invite_id === r.id)
        .map((t) => ({ teamId: t.team_id, role: t.role as Role, teamName: t.name })),
    }));
  }

  async getById(id: number): Promise<InviteRow | undefined> {
    const rows = await this.db.selectFrom('invites').select(inviteColumns).where('id', '=', id).execute();
    return (await this.withTeams(rows))[0];
  }

  async getByEmail(email: string): Promise<InviteRow | undefined> {
    const rows = await this.db
      .selectFrom('invites')
      .select(inviteColumns)
      .where('email', '=', email)
      .execute();
    return (await this.withTeams(rows))[0];
  }

  /** The invite for a token hash; inside a transaction the row is locked until it ends. */
  async getByTokenHash(tokenHash: string, trx?: Transaction<DB>): Promise<InviteRow | undefined> {
    const db = trx ? withLifecycleTables(trx) : this.db;
    const q = db.selectFrom('invites').select(inviteColumns).where('token_hash', '=', tokenHash);
    const rows = await (trx ? forUpdate(db, q) : q).execute();
    return (await this.withTeams(rows, db))[0];
  }

  async list(opts: {
    query?: string;
    /** Only invites whose every team role is in one of these teams (and that grant no global role). */
    withinTeams?: number[];
    limit?: number;
    offset?: number;
    orderKey?: string;
    desc?: boolean;
  }): Promise<InviteRow[]> {
    let q = this.db.selectFrom('invites').select(inviteColumns);
    if (opts.query) {
      const like = `%${opts.query}%`;
      q = q.where((eb) => eb.or([eb('invites.name', 'like', like), eb('invites.email', 'like', like)]));
    }
    if (opts.withinTeams !== undefined) {
      if (opts.withinTeams.length === 0) return [];
      const teams = opts.withinTeams;
      q = q
        .where('invites.global_role', 'is', null)
        .where((eb) =>
          eb.exists(
            eb.selectFrom('invite_teams').select('invite_id').whereRef('invite_id', '=', 'invites.id'),
          ),
        )
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('invite_teams')
                .select('invite_id')
                .whereRef('invite_id', '=', 'invites.id')
                .where('team_id', 'not in', teams),
            ),
          ),
        );
    }
    const key = (
      ['id', 'name', 'email', 'created_at'].includes(opts.orderKey ?? '') ? opts.orderKey : 'id'
    ) as 'id';
    q = q.orderBy(`invites.${key}`, opts.desc ? 'desc' : 'asc').orderBy('invites.id');
    if (opts.limit !== undefined) q = q.limit(opts.limit).offset(opts.offset ?? 0);
    return this.withTeams(await q.execute());
  }

  async create(i: NewInvite): Promise<number> {
    return this.db.transaction().execute(async (t) => {
      const now = dbNow();
      const res = await t
        .insertInto('invites')
        .values({
          invited_by: i.invitedBy,
          email: i.email,
          name: i.name,
          position: i.position,
          sso_enabled: i.ssoEnabled ? 1 : 0,
          mfa_enabled: i.mfaEnabled ? 1 : 0,
          global_role: i.globalRole,
          token_hash: i.tokenHash,
          created_at: now,
          updated_at: now,
        })
        .executeTakeFirstOrThrow();
      const id = Number(res.insertId);
      if (i.teams.length) {
        await t
          .insertInto('invite_teams')
          .values(i.teams.map((tr) => ({ invite_id: id, team_id: tr.teamId, role: tr.role })))
          .execute();
      }
      return id;
    });
  }

  async update(
    id: number,
    fields: {
      email?: string;
      name?: string;
      position?: string;
      ssoEnabled?: boolean;
      mfaEnabled?: boolean;
      /** Given together: the invite's roles are replaced. */
      roles?: { globalRole: Role | null; teams: TeamRole[] };
    },
  ): Promise<void> {
    await this.db.transaction().execute(async (t) => {
      const set: Record<string, unknown> = { updated_at: dbNow() };
      if (fields.email !== undefined) set.email = fields.email;
      if (fields.name !== undefined) set.name = fields.name;
      if (fields.position !== undefined) set.position = fields.position;
      if (fields.ssoEnabled !== undefined) set.sso_enabled = fields.ssoEnabled ? 1 : 0;
      if (fields.mfaEnabled !== undefined) set.mfa_enabled = fields.mfaEnabled ? 1 : 0;
      if (fields.roles) set.global_role = fields.roles.globalRole;
      await t.updateTable('invites').set(set).where('id', '=', id).execute();
      if (fields.roles) {
        await t.deleteFrom('invite_teams').where('invite_id', '=', id).execute();
        if (fields.roles.teams.length) {
          await t
            .insertInto('invite_teams')
            .values(fields.roles.teams.map((tr) => ({ invite_id: id, team_id: tr.teamId, role: tr.role })))
            .execute();
        }
      }
    });
  }

  async delete(id: number, trx?: Transaction<DB>): Promise<boolean> {
    const db = trx ? withLifecycleTables(trx) : this.db;
    await db.deleteFrom('invite_teams').where('invite_id', '=', id).execute();
    const res = await db.deleteFrom('invites').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
