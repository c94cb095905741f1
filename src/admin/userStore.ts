import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { dbNow, forUpdate } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { toTeam, type TeamRow } from '../teams/store.js';
import type { Role, TeamRole } from './roles.js';
import { withLifecycleTables } from './tables.js';

export interface UserRow {
  id: number;
  email: string;
  name: string;
  password: string;
  global_role: Role | null;
  api_only: boolean;
  sso_enabled: boolean;
  mfa_enabled: boolean;
  admin_forced_password_reset: boolean;
  created_at: string;
  updated_at: string;
  teams: (TeamRole & { teamName: string })[];
}

export interface NewUser {
  email: string;
  name: string;
  passwordHash: string;
  globalRole: Role | null;
  teams: TeamRole[];
  apiOnly: boolean;
  ssoEnabled?: boolean;
  mfaEnabled?: boolean;
  /** `admin_forced_password_reset`: the user must choose a new password before anything else. */
  forcedPasswordReset?: boolean;
}

/** A team with its user and host counts (`UserStore.teamsWithCounts`). */
export interface TeamWithCounts {
  team: TeamRow;
  userCount: number;
  hostCount: number;
}

/** A session as the admin API shows it (never its token or the token's hash). */
export interface SessionInfo {
  id: number;
  user_id: number;
  accessed_at: string;
  created_at: string;
}

/**
 * What `sessions.key` holds for a session or API token: the SHA-256 of the token, lowercase hex
 * (migration 0012 converted the rows written before). A copy of the table, or a read of it through
 * some other hole, then gives nobody a working token. Tokens are 32 random bytes, so a fast hash is
 * enough: there is nothing to guess.
 */
export function sessionKeyHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** users, user_teams, sessions and password_reset_requests. */
export class UserStore {
  constructor(private readonly db: Kysely<DB>) {}

  async countUsers(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  private async withTeams(rows: any[], db: Kysely<DB> | Transaction<DB> = this.db): Promise<UserRow[]> {
    if (rows.length === 0) return [];
    const teamRows = await db
      .selectFrom('user_teams')
      .innerJoin('teams', 'teams.id', 'user_teams.team_id')
      .select(['user_teams.user_id', 'user_teams.team_id', 'user_teams.role', 'teams.name'])
      .where(
        'user_teams.user_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('user_teams.team_id')
      .execute();
    return rows.map((r) => ({
      ...r,
      api_only: Boolean(r.api_only),
      sso_enabled: Boolean(r.sso_enabled),
      mfa_enabled: Boolean(r.mfa_enabled),
      admin_forced_password_reset: Boolean(r.admin_forced_password_reset),
      teams: teamRows
        .filter((t) => t.user_id === r.id)
        .map((t) => ({ teamId: t.team_id, role: t.role as Role, teamName: t.name })),
    }));
  }

  async getById(id: number): Promise<UserRow | undefined> {
    const rows = await this.db.selectFrom('users').selectAll().where('id', '=', id).execute();
    return (await this.withTeams(rows))[0];
  }

  async getByEmail(email: string): Promise<UserRow | undefined> {
    const rows = await this.db.selectFrom('users').selectAll().where('email', '=', email).execute();
    return (await this.withTeams(rows))[0];
  }

  async list(opts: {
    query?: string;
    teamId?: number;
    /** Only users with a role in one of these teams. */
    teamIds?: number[];
    limit?: number;
    offset?: number;
    orderKey?: string;
    desc?: boolean;
  }) {
    let q = this.db.selectFrom('users').selectAll('users');
    if (opts.query) {
      const like = `%${opts.query}%`;
      q = q.where((eb) => eb.or([eb('users.name', 'like', like), eb('users.email', 'like', like)]));
    }
    if (opts.teamId !== undefined) {
      q = q.where('users.id', 'in', (eb) =>
        eb.selectFrom('user_teams').select('user_id').where('team_id', '=', opts.teamId!),
      );
    }
    if (opts.teamIds !== undefined) {
      if (opts.teamIds.length === 0) return [];
      q = q.where('users.id', 'in', (eb) =>
        eb.selectFrom('user_teams').select('user_id').where('team_id', 'in', opts.teamIds!),
      );
    }
    const key = (
      ['id', 'name', 'email', 'created_at'].includes(opts.orderKey ?? '') ? opts.orderKey : 'id'
    ) as 'id';
    q = q.orderBy(`users.${key}`, opts.desc ? 'desc' : 'asc');
    if (opts.limit !== undefined) q = q.limit(opts.limit).offset(opts.offset ?? 0);
    return this.withTeams(await q.execute());
  }

  /**
   * The teams with these ids and their user and host counts, in one query: the team objects a
   * user's or an invite's roles show (Fleet sends the whole team there).
   */
  async teamsWithCounts(teamIds: number[]): Promise<TeamWithCounts[]> {
    const ids = [...new Set(teamIds)];
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom('teams')
      .selectAll('teams')
      .select((eb) => [
        eb
          .selectFrom('user_teams')
          .select((e) => e.fn.countAll<number>().as('n'))
          .whereRef('user_teams.team_id', '=', 'teams.id')
          .as('user_count'),
        eb
          .selectFrom('hosts')
          .select((e) => e.fn.countAll<number>().as('n'))
          .whereRef('hosts.team_id', '=', 'teams.id')
          .as('host_count'),
      ])
      .where('teams.id', 'in', ids)
      .execute();
    return rows.map(({ user_count, host_count, ...r }) => ({
      team: toTeam(r),
      userCount: Number(user_count ?? 0),
      hostCount: Number(host_count ?? 0),
    }));
  }

  /**
   * Fleet's first-run setup in one transaction: the first user, and the global enroll secret Fleet
   * creates with the settings. Undefined (nothing written) when a user exists already.
   */
  async createInitialAdmin(u: NewUser, globalEnrollSecret: string): Promise<number | undefined> {
    return this.db.transaction().execute(async (t) => {
      const existing = await t
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(existing.n) > 0) return undefined;
      const id = await this.create(u, t);
      await t
        .insertInto('enroll_secrets')
        .values({ secret: globalEnrollSecret, team_id: null, created_at: dbNow() })
        .execute();
      return id;
    });
  }

  async create(u: NewUser, trx?: Transaction<DB>): Promise<number> {
    const run = async (t: Transaction<DB>) => {
      const now = dbNow();
      const res = await t
        .insertInto('users')
        .values({
          email: u.email,
          name: u.name,
          password: u.passwordHash,
          global_role: u.globalRole,
          api_only: u.apiOnly ? 1 : 0,
          sso_enabled: u.ssoEnabled ? 1 : 0,
          mfa_enabled: u.mfaEnabled ? 1 : 0,
          admin_forced_password_reset: u.forcedPasswordReset ? 1 : 0,
          created_at: now,
          updated_at: now,
        })
        .executeTakeFirstOrThrow();
      const id = Number(res.insertId);
      if (u.teams.length) {
        await t
          .insertInto('user_teams')
          .values(u.teams.map((tr) => ({ user_id: id, team_id: tr.teamId, role: tr.role })))
          .execute();
      }
      return id;
    };
    return trx ? run(trx) : this.db.transaction().execute(run);
  }

  async update(
    id: number,
    fields: {
      email?: string;
      name?: string;
      passwordHash?: string;
      globalRole?: Role | null;
      teams?: TeamRole[];
      forcedPasswordReset?: boolean;
    },
    trx?: Transaction<DB>,
  ): Promise<void> {
    const run = async (t: Transaction<DB>) => {
      const set: Record<string, unknown> = { updated_at: dbNow() };
      if (fields.email !== undefined) set.email = fields.email;
      if (fields.name !== undefined) set.name = fields.name;
      if (fields.passwordHash !== undefined) set.password = fields.passwordHash;
      if (fields.globalRole !== undefined) set.global_role = fields.globalRole;
      if (fields.forcedPasswordReset !== undefined)
        set.admin_forced_password_reset = fields.forcedPasswordReset ? 1 : 0;
      await t.updateTable('users').set(set).where('id', '=', id).execute();
      if (fields.teams !== undefined) {
        await t.deleteFrom('user_teams').where('user_id', '=', id).execute();
        if (fields.teams.length) {
          await t
            .insertInto('user_teams')
            .values(fields.teams.map((tr) => ({ user_id: id, team_id: tr.teamId, role: tr.role })))
            .execute();
        }
      }
    };
    await (trx ? run(trx) : this.db.transaction().execute(run));
  }

  async delete(id: number, trx?: Transaction<DB>): Promise<boolean> {
    const res = await (trx ?? this.db).deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async countGlobalAdmins(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('global_role', '=', 'admin')
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Stores a session for `token`; only the token's hash is written (see `sessionKeyHash`). */
  async createSession(userId: number, token: string): Promise<number> {
    const now = dbNow();
    const res = await this.db
      .insertInto('sessions')
      .values({ key: sessionKeyHash(token), user_id: userId, accessed_at: now, created_at: now })
      .executeTakeFirstOrThrow();
    return Number(res.insertId);
  }

  async getSessionByToken(token: string) {
    return this.db
      .selectFrom('sessions')
      .selectAll()
      .where('key', '=', sessionKeyHash(token))
      .executeTakeFirst();
  }

  async touchSession(id: number): Promise<void> {
    await this.db.updateTable('sessions').set({ accessed_at: dbNow() }).where('id', '=', id).execute();
  }

  async deleteSession(id: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', id).execute();
  }

  async deleteUserSessions(userId: number, exceptSessionId?: number, trx?: Transaction<DB>): Promise<void> {
    let q = (trx ?? this.db).deleteFrom('sessions').where('user_id', '=', userId);
    if (exceptSessionId !== undefined) q = q.where('id', '!=', exceptSessionId);
    await q.execute();
  }

  async getSessionById(id: number): Promise<SessionInfo | undefined> {
    return this.db
      .selectFrom('sessions')
      .select(['id', 'user_id', 'accessed_at', 'created_at'])
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async listSessions(userId: number): Promise<SessionInfo[]> {
    return this.db
      .selectFrom('sessions')
      .select(['id', 'user_id', 'accessed_at', 'created_at'])
      .where('user_id', '=', userId)
      .orderBy('id')
      .execute();
  }

  /** Stores a password reset request by the hash of its token; deletes expired requests on the way. */
  async createPasswordReset(userId: number, tokenHash: string, expiresAt: string): Promise<void> {
    const db = withLifecycleTables(this.db);
    const now = dbNow();
    await db.deleteFrom('password_reset_requests').where('expires_at', '<=', now).execute();
    await db
      .insertInto('password_reset_requests')
      .values({ user_id: userId, token_hash: tokenHash, expires_at: expiresAt, created_at: now })
      .execute();
  }

  /** The unexpired reset request for a token hash, locked for update inside `trx`. */
  async findPasswordReset(tokenHash: string, trx?: Transaction<DB>) {
    const db = withLifecycleTables(trx ?? this.db);
    const q = db
      .selectFrom('password_reset_requests')
      .select(['id', 'user_id', 'expires_at'])
      .where('token_hash', '=', tokenHash)
      .where('expires_at', '>', dbNow());
    return (trx ? forUpdate(db, q) : q).executeTakeFirst();
  }

  /** Deletes one reset request; answers whether it was still there (a token is good once). */
  async consumePasswordReset(id: number, trx?: Transaction<DB>): Promise<boolean> {
    const res = await withLifecycleTables(trx ?? this.db)
      .deleteFrom('password_reset_requests')
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async deletePasswordResets(userId: number, trx?: Transaction<DB>): Promise<void> {
    await withLifecycleTables(trx ?? this.db)
      .deleteFrom('password_reset_requests')
      .where('user_id', '=', userId)
      .execute();
  }
}
