import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfigService } from '../appconfig/service.js';
import { MailNotConfiguredError, type MailSender } from '../clients/smtp/client.js';
import { fromDbTime } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { alreadyExists, conflict, forbidden, HttpError, invalid, notFound } from '../http/errors.js';
import type { TeamStore } from '../teams/store.js';
import type { ActivityService } from './activityService.js';
import type { Viewer } from './authService.js';
import { inviteEmail } from './emails.js';
import type { InviteRow, InviteStore } from './inviteStore.js';
import { hashPassword, passwordProblem } from './password.js';
import { checkRoles } from './roleChecks.js';
import { adminTeamIds, canAssignRoles, type Principal, type Role, type TeamRole } from './roles.js';
import { linkTokenHash, newLinkToken } from './tokens.js';
import { emailFailed, emailNotConfigured } from './userErrors.js';
import type { UserRow, UserStore } from './userStore.js';
import { loadTeamObjects, type TeamObjects } from './userJson.js';

export interface InviteInput {
  email: string;
  name?: string;
  position?: string;
  sso_enabled?: boolean;
  mfa_enabled?: boolean;
  global_role?: Role | null;
  teams?: { id: number; role: Role }[];
}

export type InvitePatch = Partial<InviteInput>;

/** What `POST /users` takes: the invitee's own details and the token from the e-mail. */
export interface InviteAcceptance {
  invite_token?: string;
  name?: string;
  email?: string;
  password?: string;
  password_confirmation?: string;
  /** Either says the invitee signs in with SSO, so no password is asked for (as in Fleet). */
  sso_enabled?: boolean;
  sso_invite?: boolean;
}

const ssoMfaConflict = () => conflict('Fleet MFA is not applicable to SSO users');

/** Global admins manage every invite; team admins manage invites that grant roles only in their teams. */
function mayManageInvites(p: Principal): boolean {
  return p.globalRole === 'admin' || adminTeamIds(p).length > 0;
}

function mayTouch(p: Principal, invite: InviteRow): boolean {
  return canAssignRoles(
    p,
    invite.global_role,
    invite.teams.map((t) => t.teamId),
  );
}

/**
 * Invites (Fleet's `/invites`): an admin invites an e-mail address with roles; the invitee gets a
 * link with a one-time token (stored only as its SHA-256) and creates their account with it
 * (`POST /users`), which uses the invite up. Invites expire `validityDays` after they were made.
 */
export class InviteService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly invites: InviteStore,
    private readonly users: UserStore,
    private readonly teams: TeamStore,
    private readonly activities: ActivityService,
    private readonly mail: MailSender,
    private readonly appConfig: AppConfigService,
    private readonly validityDays: number,
    private readonly log: Logger,
  ) {}

  /** The team objects that these roles (of users or invites) show, in one query. */
  teamObjectsFor(roles: TeamRole[]): Promise<TeamObjects> {
    return loadTeamObjects(this.users, roles);
  }

  private expired(invite: InviteRow): boolean {
    const created = fromDbTime(invite.created_at)!.getTime();
    return created + this.validityDays * 86_400_000 < Date.now();
  }

  async create(viewer: Viewer, input: InviteInput): Promise<InviteRow> {
    const p = viewer.principal;
    if (!mayManageInvites(p)) throw forbidden();
    const email = input.email.trim().toLowerCase();
    const globalRole = input.global_role ?? null;
    await checkRoles(this.teams, globalRole, input.teams);
    const teamRoles: TeamRole[] = globalRole
      ? []
      : (input.teams ?? []).map((t) => ({ teamId: t.id, role: t.role }));
    if (
      !canAssignRoles(
        p,
        globalRole,
        teamRoles.map((t) => t.teamId),
      )
    )
      throw forbidden();
    if (input.sso_enabled && input.mfa_enabled) throw ssoMfaConflict();
    if (await this.users.getByEmail(email)) throw invalid('a user with this account already exists', 'email');
    if (await this.invites.getByEmail(email)) throw alreadyExists('an invite for this email already exists');
    // Without mail the invitee could never learn the token (only its hash is kept): refuse up front.
    if (!(await this.mail.enabled())) throw emailNotConfigured();

    const token = newLinkToken();
    const id = await this.invites.create({
      invitedBy: viewer.user.id,
      email,
      name: input.name ?? '',
      position: input.position ?? '',
      ssoEnabled: input.sso_enabled ?? false,
      mfaEnabled: input.mfa_enabled ?? false,
      globalRole,
      teams: teamRoles,
      tokenHash: linkTokenHash(token),
    });
    const cfg = await this.appConfig.get();
    const message = inviteEmail({
      to: email,
      serverUrl: await this.appConfig.serverUrl(),
      token,
      orgName: cfg.org_info.org_name,
      invitedBy: viewer.user.name || viewer.user.email,
      validMinutes: this.validityDays * 1440,
    });
    try {
      await this.mail.send(message);
    } catch (err) {
      // An invite whose e-mail never left is of no use to anyone: take it back.
      await this.invites.delete(id);
      this.log.warn({ event: 'invite_mail_failed', invite_id: id, err }, 'invite e-mail not sent');
      if (err instanceof MailNotConfiguredError) throw emailNotConfigured();
      throw emailFailed((err as Error).message);
    }
    this.log.info({ event: 'invite_created', invite_id: id, invited_by: viewer.user.id }, 'invite sent');
    return (await this.invites.getById(id))!;
  }

  async list(
    viewer: Viewer,
    opts: { query?: string; limit?: number; offset?: number; orderKey?: string; desc?: boolean },
  ): Promise<InviteRow[]> {
    const p = viewer.principal;
    if (!mayManageInvites(p)) throw forbidden();
    return this.invites.list({
      ...opts,
      withinTeams: p.globalRole === 'admin' ? undefined : adminTeamIds(p),
    });
  }

  private async touchable(viewer: Viewer, id: number): Promise<InviteRow> {
    if (!mayManageInvites(viewer.principal)) throw forbidden();
    const invite = await this.invites.getById(id);
    if (!invite) throw notFound('Invite');
    if (!mayTouch(viewer.principal, invite)) throw forbidden();
    return invite;
  }

  async update(viewer: Viewer, id: number, patch: InvitePatch): Promise<InviteRow> {
    const invite = await this.touchable(viewer, id);
    let email: string | undefined;
    if (patch.email !== undefined && patch.email.trim().toLowerCase() !== invite.email) {
      email = patch.email.trim().toLowerCase();
      if (await this.users.getByEmail(email)) throw alreadyExists('a user with this email already exists');
      if (await this.invites.getByEmail(email))
        throw alreadyExists('an invite for this email already exists');
    }
    // As Fleet: roles are replaced when a global role or at least one team role is given.
    let roles: { globalRole: Role | null; teams: TeamRole[] } | undefined;
    if (patch.global_role || (patch.teams?.length ?? 0) > 0) {
      await checkRoles(this.teams, patch.global_role, patch.teams);
      roles = {
        globalRole: patch.global_role ?? null,
        teams: patch.global_role ? [] : (patch.teams ?? []).map((t) => ({ teamId: t.id, role: t.role })),
      };
      if (
        !canAssignRoles(
          viewer.principal,
          roles.globalRole,
          roles.teams.map((t) => t.teamId),
        )
      )
        throw forbidden();
    }
    const sso = patch.sso_enabled ?? invite.sso_enabled;
    const mfa = patch.mfa_enabled ?? invite.mfa_enabled;
    if (sso && mfa) throw ssoMfaConflict();
    await this.invites.update(id, {
      email,
      name: patch.name,
      position: patch.position,
      ssoEnabled: patch.sso_enabled,
      mfaEnabled: patch.mfa_enabled,
      roles,
    });
    return (await this.invites.getById(id))!;
  }

  async delete(viewer: Viewer, id: number): Promise<void> {
    await this.touchable(viewer, id);
    await this.invites.delete(id);
  }

  /** The invite a token belongs to (no authentication: the token is the proof). */
  async verify(token: string): Promise<InviteRow> {
    const invite = await this.invites.getByTokenHash(linkTokenHash(token));
    // The reason never repeats the token: error reasons are logged.
    if (!invite) throw notFound('Invite');
    if (this.expired(invite)) throw invalid('Invite token has expired.', 'invite_token');
    return invite;
  }

  /**
   * Creates the invited user and deletes the invite, in one transaction that holds the invite's row:
   * a token works once, however many requests race for it. (Inside the transaction every query goes
   * through `trx`: SQLite has one connection, and a query outside would wait for it forever.)
   */
  async createUser(input: InviteAcceptance): Promise<UserRow> {
    const problems: { name: string; reason: string }[] = [];
    const required = (value: string | undefined, field: string, label: string) => {
      if (value === undefined) problems.push({ name: field, reason: `${label} missing required argument` });
      else if (value === '') problems.push({ name: field, reason: `${label} cannot be empty` });
    };
    required(input.name, 'name', 'Full name');
    required(input.email, 'email', 'Email');
    if (!input.sso_enabled && !input.sso_invite) {
      required(input.password, 'password', 'Password');
      const problem = input.password ? passwordProblem(input.password) : null;
      if (problem) problems.push({ name: 'password', reason: problem });
      if (
        input.password &&
        input.password_confirmation !== undefined &&
        input.password_confirmation !== input.password
      ) {
        problems.push({ name: 'password_confirmation', reason: 'Passwords do not match' });
      }
    }
    required(input.invite_token, 'invite_token', 'Invite token');
    if (problems.length) throw new HttpError(422, 'Validation Failed', problems);

    const tokenHash = linkTokenHash(input.invite_token!);
    // Cheap checks first, so a wrong token costs no password hash; repeated inside the transaction.
    const seen = await this.invites.getByTokenHash(tokenHash);
    if (!seen) throw notFound('Invite');
    // (A user created meanwhile with this e-mail still fails on the unique index: 409 as well.)
    if (await this.users.getByEmail(seen.email)) throw alreadyExists('a user with this email already exists');
    const passwordHash = await hashPassword(seen.sso_enabled ? newLinkToken() : (input.password ?? ''));

    const id = await this.db.transaction().execute(async (trx) => {
      const invite = await this.invites.getByTokenHash(tokenHash, trx);
      if (!invite) throw notFound('Invite');
      if (this.expired(invite)) throw invalid('Invite token has expired.', 'invite_token');
      if (input.email!.trim().toLowerCase() !== invite.email) {
        throw invalid('Invite Token does not match Email Address.', 'invite_token');
      }
      if (invite.sso_enabled && input.password !== undefined) {
        throw invalid('not allowed for SSO invitations', 'password');
      }
      if (!invite.global_role && invite.teams.length === 0) {
        // Its teams were deleted since it was sent.
        throw invalid('the invite no longer grants any role', 'invite_token');
      }
      const userId = await this.users.create(
        {
          email: invite.email,
          name: input.name!,
          passwordHash,
          globalRole: invite.global_role,
          teams: invite.teams.map((t) => ({ teamId: t.teamId, role: t.role })),
          apiOnly: false,
          ssoEnabled: invite.sso_enabled,
          mfaEnabled: invite.mfa_enabled,
        },
        trx,
      );
      await this.invites.delete(invite.id, trx);
      // No one is logged in: as in Fleet, the server is the actor of these activities.
      const who = { user_id: userId, user_name: input.name!, user_email: invite.email };
      await this.activities.record(null, 'created_user', who, { trx });
      if (invite.global_role) {
        await this.activities.record(
          null,
          'changed_user_global_role',
          { ...who, role: invite.global_role },
          { trx },
        );
      }
      for (const t of invite.teams) {
        await this.activities.record(
          null,
          'changed_user_team_role',
          { ...who, role: t.role, team_id: t.teamId, team_name: t.teamName },
          { trx },
        );
      }
      return userId;
    });
    this.log.info({ event: 'invite_accepted', user_id: id }, 'user created from invite');
    return (await this.users.getById(id))!;
  }
}
