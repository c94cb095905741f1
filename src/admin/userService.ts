import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { alreadyExists, conflict, forbidden, invalid, notFound, unauthenticated } from '../http/errors.js';
import type { TeamStore } from '../teams/store.js';
import type { ActivityService } from './activityService.js';
import type { AuthService, Viewer } from './authService.js';
import { hashPassword, passwordProblem, verifyPassword } from './password.js';
import { checkRoles } from './roleChecks.js';
import {
  canAssignRoles,
  canReadUser,
  canWriteUser,
  type Role,
  type TeamRole,
  type UserScope,
} from './roles.js';
import type { UserRow, UserStore } from './userStore.js';
import { loadTeamObjects, type TeamObjects } from './userJson.js';

export interface NewUserInput {
  name: string;
  email?: string;
  password?: string;
  global_role?: Role | null;
  teams?: { id: number; role: Role }[];
  api_only?: boolean;
  sso_enabled?: boolean;
  /** The user must choose a new password at first login (Fleet's `admin_forced_password_reset`). */
  admin_forced_password_reset?: boolean;
}

export interface UserPatch {
  name?: string;
  email?: string;
  password?: string;
  old_password?: string;
  global_role?: Role | null;
  teams?: { id: number; role: Role }[];
  sso_enabled?: boolean;
  mfa_enabled?: boolean;
  position?: string;
  /** Require (or stop requiring) a new password; requiring it ends every session of the user. */
  force_password_reset?: boolean;
}

function scopeOf(u: UserRow): UserScope {
  return { id: u.id, globalRole: u.global_role, teamIds: u.teams.map((t) => t.teamId) };
}

/** Admin user management with Fleet's role rules (global role XOR team roles, last admin kept). */
export class UserService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly users: UserStore,
    private readonly teams: TeamStore,
    private readonly auth: AuthService,
    private readonly activities: ActivityService,
  ) {}

  /** The team objects that these roles (of users or invites) show, in one query. */
  teamObjectsFor(roles: TeamRole[]): Promise<TeamObjects> {
    return loadTeamObjects(this.users, roles);
  }

  async list(
    viewer: Viewer,
    opts: {
      query?: string;
      teamId?: number;
      limit?: number;
      offset?: number;
      orderKey?: string;
      desc?: boolean;
    },
  ) {
    const p = viewer.principal;
    if (p.globalRole === 'gitops') throw forbidden();
    if (p.globalRole) return this.users.list(opts);
    const mine = p.teams.map((t) => t.teamId);
    if (opts.teamId !== undefined && !mine.includes(opts.teamId)) throw forbidden();
    return this.users.list({ ...opts, teamIds: opts.teamId === undefined ? mine : undefined });
  }

  async get(viewer: Viewer, id: number): Promise<UserRow> {
    const user = await this.users.getById(id);
    if (!user) throw notFound('User');
    if (!canReadUser(viewer.principal, scopeOf(user))) throw forbidden();
    return user;
  }

  /** Global role or team roles, exactly one of them; teams must exist. */
  private checkRoles(globalRole: Role | null | undefined, teams: { id: number; role: Role }[] | undefined) {
    return checkRoles(this.teams, globalRole, teams);
  }

  async create(viewer: Viewer, input: NewUserInput): Promise<{ user: UserRow; token?: string }> {
    await this.checkRoles(input.global_role, input.teams);
    const teamRoles: TeamRole[] = input.global_role
      ? []
      : (input.teams ?? []).map((t) => ({ teamId: t.id, role: t.role }));
    if (
      !canAssignRoles(
        viewer.principal,
        input.global_role ?? null,
        teamRoles.map((t) => t.teamId),
      )
    )
      throw forbidden();
    const apiOnly = input.api_only ?? false;
    const email =
      input.email ?? (apiOnly ? `api-only-${randomBytes(6).toString('hex')}@flotilla.invalid` : undefined);
    if (!email) throw invalid('email is required', 'email');
    let password = input.password;
    if (password === undefined) {
      if (!apiOnly) throw invalid('password is required', 'password');
      password = `${randomBytes(24).toString('base64url')}1!`;
    }
    const problem = passwordProblem(password);
    if (problem) throw invalid(problem, 'password');
    if (await this.users.getByEmail(email)) throw alreadyExists(`a user with email ${email} already exists`);
    const passwordHash = await hashPassword(password);
    const id = await this.db.transaction().execute(async (trx) => {
      const newId = await this.users.create(
        {
          email,
          name: input.name,
          passwordHash,
          globalRole: input.global_role ?? null,
          teams: teamRoles,
          apiOnly,
          forcedPasswordReset: !apiOnly && (input.admin_forced_password_reset ?? false),
        },
        trx,
      );
      const who = { user_id: newId, user_name: input.name, user_email: email };
      await this.activities.record(viewer, 'created_user', who, { trx });
      if (input.global_role) {
        await this.activities.record(
          viewer,
          'changed_user_global_role',
          { ...who, role: input.global_role },
          { trx },
        );
      }
      for (const t of teamRoles) {
        await this.activities.record(
          viewer,
          'changed_user_team_role',
          { ...who, role: t.role, team_id: t.teamId },
          { trx },
        );
      }
      return newId;
    });
    const token = apiOnly ? await this.auth.issueToken(id) : undefined;
    return { user: (await this.users.getById(id))!, token };
  }

  async update(viewer: Viewer, id: number, patch: UserPatch): Promise<UserRow> {
    const target = await this.users.getById(id);
    if (!target) throw notFound('User');
    const p = viewer.principal;
    const self = p.userId === id;
    const mayWrite = canWriteUser(p, scopeOf(target));
    if (!mayWrite && !self) throw forbidden();

    const rolesChange = patch.global_role !== undefined || patch.teams !== undefined;
    let nextGlobal: Role | null = target.global_role;
    let nextTeams: TeamRole[] = target.teams.map((t) => ({ teamId: t.teamId, role: t.role }));
    if (rolesChange) {
      if (!mayWrite || (self && p.globalRole !== 'admin')) throw forbidden('you cannot change your own role');
      if (patch.global_role && patch.teams?.length) {
        throw invalid('a user has either a global role or team roles, not both', 'global_role');
      }
      if (patch.global_role !== undefined) nextGlobal = patch.global_role;
      if (patch.teams !== undefined) nextTeams = patch.teams.map((t) => ({ teamId: t.id, role: t.role }));
      if (patch.global_role) nextTeams = [];
      else if (patch.teams?.length) nextGlobal = null;
      await this.checkRoles(
        nextGlobal,
        nextTeams.map((t) => ({ id: t.teamId, role: t.role })),
      );
      if (
        !canAssignRoles(
          p,
          nextGlobal,
          nextTeams.map((t) => t.teamId),
        )
      )
        throw forbidden();
      if (
        target.global_role === 'admin' &&
        nextGlobal !== 'admin' &&
        (await this.users.countGlobalAdmins()) <= 1
      ) {
        throw conflict('cannot demote the last global admin');
      }
    }
    if (
      patch.email !== undefined &&
      patch.email !== target.email &&
      (await this.users.getByEmail(patch.email))
    ) {
      throw alreadyExists(`a user with email ${patch.email} already exists`);
    }
    let passwordHash: string | undefined;
    if (patch.password !== undefined) {
      const problem = passwordProblem(patch.password);
      if (problem) throw invalid(problem, 'password');
      // Changing one's own password needs the old one (unless a global admin edits themselves).
      if (self && !mayWrite) {
        if (!patch.old_password || !(await verifyPassword(patch.old_password, target.password))) {
          throw unauthenticated('old password is wrong');
        }
      }
      passwordHash = await hashPassword(patch.password);
    }

    await this.db.transaction().execute(async (trx) => {
      await this.users.update(
        id,
        {
          name: patch.name,
          email: patch.email,
          passwordHash,
          globalRole: rolesChange ? nextGlobal : undefined,
          teams: rolesChange ? nextTeams : undefined,
          forcedPasswordReset: patch.force_password_reset,
        },
        trx,
      );
      if (patch.force_password_reset) {
        await this.users.deleteUserSessions(id, undefined, trx);
        await this.users.deletePasswordResets(id, trx);
      }
      const who = {
        user_id: id,
        user_name: patch.name ?? target.name,
        user_email: patch.email ?? target.email,
      };
      if (rolesChange && nextGlobal !== target.global_role) {
        if (nextGlobal)
          await this.activities.record(
            viewer,
            'changed_user_global_role',
            { ...who, role: nextGlobal },
            { trx },
          );
        else
          await this.activities.record(
            viewer,
            'deleted_user_global_role',
            { ...who, role: target.global_role },
            { trx },
          );
      }
      if (rolesChange) {
        const before = new Map(target.teams.map((t) => [t.teamId, t.role]));
        const after = new Map(nextTeams.map((t) => [t.teamId, t.role]));
        for (const [teamId, role] of after) {
          if (before.get(teamId) !== role) {
            await this.activities.record(
              viewer,
              'changed_user_team_role',
              { ...who, role, team_id: teamId },
              { trx },
            );
          }
        }
        for (const [teamId, role] of before) {
          if (!after.has(teamId)) {
            await this.activities.record(
              viewer,
              'deleted_user_team_role',
              { ...who, role, team_id: teamId },
              { trx },
            );
          }
        }
      }
      const edited = (
        ['name', 'email', 'password', 'sso_enabled', 'mfa_enabled', 'position'] as const
      ).filter((k) => patch[k] !== undefined);
      if (edited.length)
        await this.activities.record(viewer, 'edited_user', { ...who, fields: edited }, { trx });
    });
    // A changed password ends the user's other sessions.
    if (passwordHash && !patch.force_password_reset) {
      await this.users.deleteUserSessions(id, self ? viewer.sessionId : undefined);
    }
    return (await this.users.getById(id))!;
  }

  async delete(viewer: Viewer, id: number): Promise<void> {
    const target = await this.users.getById(id);
    if (!target) throw notFound('User');
    if (!canWriteUser(viewer.principal, scopeOf(target))) throw forbidden();
    if (target.global_role === 'admin' && (await this.users.countGlobalAdmins()) <= 1) {
      throw conflict('cannot delete the last global admin');
    }
    await this.db.transaction().execute(async (trx) => {
      await this.users.delete(id, trx);
      await this.activities.record(
        viewer,
        'deleted_user',
        { user_id: id, user_name: target.name, user_email: target.email },
        { trx },
      );
    });
  }

  async deleteSessions(viewer: Viewer, id: number): Promise<void> {
    const target = await this.users.getById(id);
    if (!target) throw notFound('User');
    if (viewer.principal.userId !== id && !canWriteUser(viewer.principal, scopeOf(target))) throw forbidden();
    await this.users.deleteUserSessions(id);
    await this.activities.record(viewer, 'deleted_user_sessions', {
      user_id: id,
      user_name: target.name,
      user_email: target.email,
    });
  }
}
