import type { AppConfigService } from '../appconfig/service.js';
import { conflict, invalid } from '../http/errors.js';
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

  async login(email: string, password: string) {
    const res = await this.auth.login(email, password);
    await this.activities.record({ user: res.user }, 'user_logged_in', { public_ip: '' });
    return res;
  }

  async logout(viewer: Viewer) {
    await this.auth.logout(viewer);
  }
}
