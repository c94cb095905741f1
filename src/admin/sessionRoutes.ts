import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { adminQuery, viewerOf } from '../http/adminApi.js';
import { addressRateLimit } from '../http/rateLimit.js';
import { toApiTime } from '../db/dialect.js';
import type { Services } from '../services.js';
import { mustResetPassword } from './passwordService.js';
import { idParam, queryFlag } from './routeParams.js';
import { passwordResetRequired } from './userErrors.js';
import { availableTeamsJson, userJson } from './userJson.js';
import type { SessionInfo } from './userStore.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route stays open to a user whose password reset an admin required (me, logout, the reset). */
    allowForcedPasswordReset?: boolean;
  }
}

/** Fleet's session object: never the token nor its hash. */
function sessionJson(s: SessionInfo) {
  return { session_id: s.id, user_id: s.user_id, created_at: toApiTime(s.created_at) };
}

// Like Fleet's JSON decoding, the bodies here ignore keys they do not know (the setup example in
// Fleet's docs sends `admin.admin`); the keys they know are still checked.
const setupBody = z.object({
  admin: z.object({
    email: z.email(),
    name: z.string().min(1),
    password: z.string(),
    password_confirmation: z.string().optional(),
  }),
  org_info: z.object({ org_name: z.string().optional(), org_logo_url: z.string().optional() }).optional(),
  server_url: z.url().optional(),
});

const loginBody = z.object({ email: z.string().min(1), password: z.string().min(1) });

const meQuery = adminQuery({ include_ui_settings: z.string().optional() });

async function setupHandler(services: Pick<Services, 'sessions'>, body: unknown) {
  const res = await services.sessions.setup(setupBody.parse(body));
  return {
    admin: userJson(res.user, new Map()),
    org_info: res.orgInfo,
    server_url: res.serverUrl,
    // Fleet's setup answer has this key but never fills it: the global enroll secret setup creates
    // is read with `GET /spec/enroll_secret`.
    osquery_enroll_secret: null,
    token: res.token,
  };
}

/** First-time setup at its unversioned paths (no Bearer token). */
export function registerSetupRoutes(app: FastifyInstance, services: Pick<Services, 'sessions'>) {
  app.post('/api/setup', async (req) => setupHandler(services, req.body));
  app.post('/api/v1/setup', async (req) => setupHandler(services, req.body));
}

/** Login, logout, me and sessions (admin API), and the forced-password-reset gate. */
export function registerSessionRoutes(
  scope: FastifyInstance,
  services: Pick<Services, 'sessions' | 'rateLimits'>,
) {
  // A user whose password reset was required may only read /me, log out and set the new
  // password; every other admin route answers 401 "password reset required", as Fleet does. The
  // hook is on the shared admin scope, after the authentication hook, so it covers every module.
  scope.addHook('onRequest', async (req) => {
    if (
      req.viewer &&
      mustResetPassword(req.viewer.user) &&
      !req.routeOptions.config?.allowForcedPasswordReset
    ) {
      throw passwordResetRequired();
    }
  });

  // Every attempt counts against the client address; failed ones also against the account.
  const onRequest = addressRateLimit(services.rateLimits, 'loginAddress');
  scope.post('/login', { config: { public: true }, onRequest }, async (req) => {
    const { email, password } = loginBody.parse(req.body);
    const { user, token } = await services.sessions.login(email, password, req.ip);
    const teams = await services.sessions.teamObjectsFor(user.teams);
    return { user: userJson(user, teams), available_teams: availableTeamsJson(user, teams), token };
  });
  const resetAllowed = { config: { allowForcedPasswordReset: true } };
  scope.post('/logout', resetAllowed, async (req) => {
    await services.sessions.logout(viewerOf(req));
    return {};
  });
  scope.get('/me', resetAllowed, async (req) => {
    const q = meQuery.parse(req.query);
    const v = viewerOf(req);
    const teams = await services.sessions.teamObjectsFor(v.user.teams);
    return {
      user: userJson(v.user, teams),
      available_teams: availableTeamsJson(v.user, teams),
      // Fleet sends the UI settings only when asked (`settings` is omitempty); Flotilla stores none.
      ...(queryFlag(q.include_ui_settings, 'include_ui_settings')
        ? { settings: { hidden_host_columns: [] as string[] } }
        : {}),
    };
  });

  // Sessions: their owner or a global admin may look at them and end them.
  scope.get('/sessions/:id', async (req) =>
    sessionJson(await services.sessions.getSession(viewerOf(req), idParam(req))),
  );
  scope.delete('/sessions/:id', async (req) => {
    await services.sessions.deleteSession(viewerOf(req), idParam(req));
    return {};
  });
  scope.get('/users/:id/sessions', async (req) => ({
    sessions: (await services.sessions.listUserSessions(viewerOf(req), idParam(req))).map(sessionJson),
  }));
}
