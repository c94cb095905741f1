import type { Logger } from 'pino';
import type { AppConfigService } from '../appconfig/service.js';
import { conflict, HttpError, invalid, tooManyRequests } from '../http/errors.js';
import { accountKey, accountLogId, type RateLimitService } from '../ratelimit/service.js';
import type { ActivityService } from './activityService.js';
import type { AuthService, Viewer } from './authService.js';
import { hashPassword, passwordProblem } from './password.js';
import type { UserRow, UserStore } from './userStore.js';

export interface SetupInput {
  admin: { email: string; name: string; password: string; password_confirmation?: string };
  org_info?: { org_name?: string };
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

  /** Creates the first admin; refused once any user exists. */
  async setup(
    input: SetupInput,
  ): Promise<{ user: UserRow; token: string; orgName: string; serverUrl: string }> {
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
    const id = await this.users.create({
      email: input.admin.email,
      name: input.admin.name,
      passwordHash,
      globalRole: 'admin',
      teams: [],
      apiOnly: false,
    });
    const patch: Record<string, unknown> = {};
    if (input.org_info?.org_name) patch.org_info = { org_name: input.org_info.org_name };
    if (input.server_url) patch.server_settings = { server_url: input.server_url };
    const cfg = await this.appConfig.patch(patch);
    const user = (await this.users.getById(id))!;
    const token = await this.auth.issueToken(id);
    return { user, token, orgName: cfg.org_info.org_name, serverUrl: cfg.server_settings.server_url };
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
}
