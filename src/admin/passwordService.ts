import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfigService } from '../appconfig/service.js';
import type { MailSender } from '../clients/smtp/client.js';
import { dbNow } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { forbidden, invalid, notFound } from '../http/errors.js';
import { accountLogId } from '../ratelimit/service.js';
import type { Viewer } from './authService.js';
import { passwordResetEmail } from './emails.js';
import { hashPassword, passwordProblem, verifyPassword } from './password.js';
import { canWriteUser, type TeamRole } from './roles.js';
import { linkTokenHash, newLinkToken } from './tokens.js';
import { authFailed, emailNotConfigured, permissionDenied } from './userErrors.js';
import type { UserRow, UserStore } from './userStore.js';
import { loadTeamObjects, type TeamObjects } from './userJson.js';

/** Whether the user must choose a new password before doing anything else (never for SSO users). */
export function mustResetPassword(user: UserRow): boolean {
  return user.admin_forced_password_reset && !user.sso_enabled;
}

/**
 * Passwords: change your own (`/change_password`), forgot / reset by a mailed one-time link, and the
 * reset an admin can require (`/users/:id/require_password_reset`, then
 * `/perform_required_password_reset`). Fleet's rules and answers throughout.
 */
export class PasswordService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly users: UserStore,
    private readonly mail: MailSender,
    private readonly appConfig: AppConfigService,
    private readonly log: Logger,
    private readonly resetValidityMinutes: number,
    /** forgot_password takes at least this long whatever happens, so its timing tells nothing. */
    private readonly forgotMinMs = 1000,
  ) {}

  /** The team objects that these roles (of users or invites) show, in one query. */
  teamObjectsFor(roles: TeamRole[]): Promise<TeamObjects> {
    return loadTeamObjects(this.users, roles);
  }

  /** `POST /change_password`: the old password must be right; every session of the user ends. */
  async changePassword(viewer: Viewer, oldPassword: string, newPassword: string): Promise<void> {
    if (oldPassword === '') throw invalid('Old password cannot be empty', 'old_password');
    if (newPassword === '') throw invalid('New password cannot be empty', 'new_password');
    const problem = passwordProblem(newPassword);
    if (problem) throw invalid(problem, 'new_password');
    const user = (await this.users.getById(viewer.user.id))!;
    if (user.sso_enabled) throw invalid('change password for single sign on user not allowed', 'base');
    if (await verifyPassword(newPassword, user.password)) {
      throw invalid('Cannot reuse old password', 'new_password');
    }
    if (!(await verifyPassword(oldPassword, user.password))) {
      throw invalid('old password does not match', 'old_password');
    }
    await this.setPassword(user.id, await hashPassword(newPassword), { endSessions: 'all' });
    this.log.info({ event: 'password_changed', user_id: user.id }, 'password changed');
  }

  /**
   * `POST /forgot_password`: when `email` is a user's (not SSO, not API-only), stores a reset request
   * and mails the link. The answer is the same whether or not the account exists, and takes at least
   * `forgotMinMs`. Only when mail is off does it fail (as in Fleet), whatever the e-mail.
   */
  async forgotPassword(email: string, clientAddress: string): Promise<void> {
    const started = Date.now();
    try {
      if (!(await this.mail.enabled())) {
        this.log.warn(
          { event: 'password_reset_not_sent', address: clientAddress, reason: 'smtp not enabled' },
          'password reset requested but no mail could be sent: SMTP is not enabled',
        );
        throw emailNotConfigured();
      }
      const account = accountLogId(email);
      const user = email.trim() ? await this.users.getByEmail(email.trim()) : undefined;
      if (!user || user.sso_enabled || user.api_only) {
        this.log.info(
          { event: 'password_reset_requested', account, address: clientAddress, sent: false },
          'password reset requested for no such account',
        );
        return;
      }
      const token = newLinkToken();
      await this.users.createPasswordReset(
        user.id,
        linkTokenHash(token),
        dbNow(this.resetValidityMinutes * 60_000),
      );
      try {
        await this.mail.send(
          passwordResetEmail({
            to: user.email,
            serverUrl: await this.appConfig.serverUrl(),
            token,
            validMinutes: this.resetValidityMinutes,
          }),
        );
        this.log.info(
          { event: 'password_reset_requested', account, address: clientAddress, sent: true },
          'password reset e-mail sent',
        );
      } catch (err) {
        // Not told to the caller (that would tell the account exists); the link is never used.
        this.log.error(
          { event: 'password_reset_mail_failed', account, err },
          'failed to send password reset e-mail',
        );
      }
    } finally {
      const left = this.forgotMinMs - (Date.now() - started);
      if (left > 0) await sleep(left);
    }
  }

  /**
   * `POST /reset_password`: sets the password of the token's user. The token is consumed in the same
   * transaction, with the user's other reset links and every session of theirs.
   */
  async resetPassword(token: string, newPassword: string, confirmation?: string): Promise<void> {
    if (token === '') throw invalid('Token cannot be empty field', 'token');
    if (newPassword === '') throw invalid('New password cannot be empty field', 'new_password');
    const problem = passwordProblem(newPassword);
    if (problem) throw invalid(problem, 'new_password');
    if (confirmation !== undefined && confirmation !== newPassword) {
      throw invalid('Passwords do not match', 'new_password_confirmation');
    }
    const tokenHash = linkTokenHash(token);
    const request = await this.users.findPasswordReset(tokenHash);
    if (!request) throw authFailed();
    const user = await this.users.getById(request.user_id);
    if (!user) throw authFailed();
    if (user.sso_enabled) throw invalid('password reset for single sign on user not allowed', 'base');
    if (await verifyPassword(newPassword, user.password)) {
      throw invalid('Cannot reuse old password', 'new_password');
    }
    const passwordHash = await hashPassword(newPassword);
    await this.db.transaction().execute(async (trx) => {
      const locked = await this.users.findPasswordReset(tokenHash, trx);
      if (!locked || !(await this.users.consumePasswordReset(locked.id, trx))) throw authFailed();
      await this.users.update(user.id, { passwordHash }, trx);
      await this.users.deletePasswordResets(user.id, trx);
      await this.users.deleteUserSessions(user.id, undefined, trx);
    });
    this.log.info({ event: 'password_reset', user_id: user.id }, 'password reset with a mailed link');
  }

  /**
   * `POST /users/:id/require_password_reset`: sets or clears the flag. Setting it logs the user out
   * everywhere (API tokens too) and voids their reset links. Allowed on oneself and by whoever may
   * edit the user.
   */
  async requirePasswordReset(viewer: Viewer, userId: number, require: boolean): Promise<UserRow> {
    const target = await this.users.getById(userId);
    if (!target) throw notFound('User');
    const self = viewer.principal.userId === userId;
    const scope = {
      id: target.id,
      globalRole: target.global_role,
      teamIds: target.teams.map((t) => t.teamId),
    };
    if (!self && !canWriteUser(viewer.principal, scope)) throw forbidden();
    if (target.sso_enabled) throw invalid('password reset for single sign on user not allowed', 'base');
    await this.db.transaction().execute(async (trx) => {
      await this.users.update(userId, { forcedPasswordReset: require }, trx);
      if (require) {
        await this.users.deleteUserSessions(userId, undefined, trx);
        await this.users.deletePasswordResets(userId, trx);
      }
    });
    return (await this.users.getById(userId))!;
  }

  /**
   * `POST /perform_required_password_reset`: the caller, whose reset was required, sets a new
   * password; the flag is cleared and every other session of theirs ends (this one stays).
   */
  async performRequiredReset(viewer: Viewer, newPassword: string): Promise<UserRow> {
    const user = (await this.users.getById(viewer.user.id))!;
    if (!mustResetPassword(user)) throw permissionDenied('cannot reset password');
    if (await verifyPassword(newPassword, user.password)) {
      throw invalid('Cannot reuse old password', 'new_password');
    }
    const problem = passwordProblem(newPassword);
    if (problem) throw invalid(problem, 'new_password');
    await this.setPassword(user.id, await hashPassword(newPassword), {
      endSessions: 'others',
      keepSessionId: viewer.sessionId,
      clearForcedReset: true,
    });
    this.log.info(
      { event: 'required_password_reset_done', user_id: user.id },
      'required password reset done',
    );
    return (await this.users.getById(user.id))!;
  }

  private async setPassword(
    userId: number,
    passwordHash: string,
    opts: { endSessions: 'all' | 'others'; keepSessionId?: number; clearForcedReset?: boolean },
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.users.update(
        userId,
        { passwordHash, ...(opts.clearForcedReset ? { forcedPasswordReset: false } : {}) },
        trx,
      );
      // Links mailed before no longer work once the password changed.
      await this.users.deletePasswordResets(userId, trx);
      await this.users.deleteUserSessions(
        userId,
        opts.endSessions === 'others' ? opts.keepSessionId : undefined,
        trx,
      );
    });
  }
}
