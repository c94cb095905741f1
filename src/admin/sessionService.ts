import type { Logger } from 'pino';
import type { AppConfig } from '../appconfig/defaults.js';
import type { AppConfigService } from '../appconfig/service.js';
import { conflict, forbidden, HttpError, invalid, notFound, tooManyRequests } from '../http/errors.js';
import { accountKey, accountLogId, type RateLimitService } from '../ratelimit/service.js';
import { newEnrollSecret } from '../teams/enrollSecretService.js';
import type { ActivityService } from './activityService.js';
import type { AuthService, Viewer } from './authService.js';
import { hashPassword, passwordProblem } from './password.js';
import type { Principal, TeamRole } from './roles.js';
import type { SessionInfo, UserRow, UserStore } from './userStore.js';
import { loadTeamObjects, type TeamObjects } from './userJson.js';

export interface SetupInput {
  admin: { email: string; name: string; password: string; password_confirmation?: string };
  org_info?: { org_name?: string; org_logo_url?: string };
  server_url?: string;
}

/** First-run setup, login and logout. */
export class SessionService {
  constructor(
    private readonly users: UserStore,
    private readonly auth: AuthService,
    private readonly appConfig: AppConfigService,
    private readonly activities: ActivityService,
    private readonly limits: RateLimitService,
    private readonly log: Logger,
  ) {}

  /** The team objects that these roles (of users or invites) show, in one query. */
  teamObjectsFor(roles: TeamRole[]): Promise<TeamObjects> {
    return loadTeamObjects(this.users, roles);
  }

  /** True until the first user exists (the console then opens on setup). */
  async setupRequired(): Promise<boolean> {
    return (await this.users.countUsers()) === 0;
  }

  /**
   * Creates the first admin and, as Fleet's setup does, a global enroll secret (random); refused
   * once any user exists.
   */
  async setup(input: SetupInput): Promise<{
    user: UserRow;
    token: string;
    orgInfo: AppConfig['org_info'];
    serverUrl: string;
  }> {
    if ((await this.users.countUsers()) > 0) throw conflict('setup has already been completed');
    const problem = passwordProblem(input.admin.password);
    if (problem) throw invalid(problem, 'password');
    if (
      input.admin.password_confirmation !== undefined &&
      input.admin.password_confirmation !== input.admin.password
    ) {
      throw invalid('Passwords do not match', 'password_confirmation');
    }
    const passwordHash = await hashPassword(input.admin.password);
    const id = await this.users.createInitialAdmin(
      {
        email: input.admin.email,
        name: input.admin.name,
        passwordHash,
        globalRole: 'admin',
        teams: [],
        apiOnly: false,
      },
      newEnrollSecret(),
    );
    if (id === undefined) throw conflict('setup has already been completed');
    const patch: Record<string, unknown> = {};
    const { org_name, org_logo_url } = input.org_info ?? {};
    if (org_name || org_logo_url) {
      patch.org_info = { ...(org_name ? { org_name } : {}), ...(org_logo_url ? { org_logo_url } : {}) };
    }
    if (input.server_url) patch.server_settings = { server_url: input.server_url };
    const cfg = await this.appConfig.patch(patch);
    const user = (await this.users.getById(id))!;
    const token = await this.auth.issueToken(id);
    return { user, token, orgInfo: cfg.org_info, serverUrl: cfg.server_settings.server_url };
  }

  /**
   * Password login. Failed attempts count against the account (the e-mail, whether or not such a
   * user exists) for the `loginAccount` limit; past it every attempt, the right password too, gets
   * 429 until the window ends. The attempt is counted before the password is checked and given back
   * when it was right, so parallel guesses cannot overshoot the limit. (The per-address limit is a
   * hook on the route.) Each failure is logged at warn with the account's pseudonym, never the
   * e-mail or the password.
   */
  async login(email: string, password: string, clientAddress = '') {
    const reserved = await this.limits.hit('loginAccount', accountKey(email));
    const failed = (reason: string) =>
      this.log.warn(
        { event: 'login_failed', account: accountLogId(email), address: clientAddress, reason },
        'login failed',
      );
    if (reserved?.limited) {
      failed('too many failed attempts for this account');
      throw tooManyRequests(reserved.retryAfterSeconds);
    }
    let res: Awaited<ReturnType<AuthService['login']>>;
    try {
      res = await this.auth.login(email, password);
    } catch (err) {
      failed(err instanceof HttpError ? (err.errors[0]?.reason ?? err.message) : 'error');
      throw err;
    }
    if (reserved) await this.limits.release(reserved);
    await this.activities.record({ user: res.user }, 'user_logged_in', { public_ip: clientAddress });
    return res;
  }

  async logout(viewer: Viewer) {
    await this.auth.logout(viewer);
  }

  /** Fleet's session rule: a session is read or deleted by its owner or a global admin. */
  private mayAccess(p: Principal, ownerId: number): boolean {
    return p.userId === ownerId || p.globalRole === 'admin';
  }

  /** A live session by id (an expired one counts as gone). */
  private async liveSession(viewer: Viewer, id: number): Promise<SessionInfo> {
    const session = await this.users.getSessionById(id);
    const owner = session ? await this.users.getById(session.user_id) : undefined;
    if (!session || !owner) throw notFound('Session');
    if (!this.mayAccess(viewer.principal, session.user_id)) throw forbidden();
    if (this.auth.expired(session, owner)) throw notFound('Session');
    return session;
  }

  /** `GET /sessions/:id`. */
  getSession(viewer: Viewer, id: number): Promise<SessionInfo> {
    return this.liveSession(viewer, id);
  }

  /** `DELETE /sessions/:id`: logs that session out (its token stops working). */
  async deleteSession(viewer: Viewer, id: number): Promise<void> {
    const session = await this.liveSession(viewer, id);
    await this.users.deleteSession(session.id);
  }

  /** `GET /users/:id/sessions`: the user's live sessions, oldest first. */
  async listUserSessions(viewer: Viewer, userId: number): Promise<SessionInfo[]> {
    const user = await this.users.getById(userId);
    if (!user) throw notFound('User');
    if (!this.mayAccess(viewer.principal, userId)) throw forbidden();
    const sessions = await this.users.listSessions(userId);
    return sessions.filter((s) => !this.auth.expired(s, user));
  }
}
