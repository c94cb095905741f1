import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { viewerOf } from '../http/adminApi.js';
import { addressRateLimit } from '../http/rateLimit.js';
import type { Services } from '../services.js';
import { availableTeamsJson, userJson } from './userJson.js';

const setupBody = z
  .object({
    admin: z
      .object({
        email: z.email(),
        name: z.string().min(1),
        password: z.string(),
        password_confirmation: z.string().optional(),
      })
      .strict(),
    org_info: z.object({ org_name: z.string().optional(), org_logo_url: z.string().optional() }).optional(),
    server_url: z.url().optional(),
  })
  .strict();

const loginBody = z.object({ email: z.string().min(1), password: z.string().min(1) }).strict();

async function setupHandler(services: Services, body: unknown) {
  const res = await services.sessions.setup(setupBody.parse(body));
  return {
    admin: userJson(res.user),
    org_info: { org_name: res.orgName },
    server_url: res.serverUrl,
    token: res.token,
  };
}

/** Setup (unversioned and versioned), login, logout and me. */
export const registerSessionRoutes = {
  unversioned(app: FastifyInstance, services: Services) {
    app.post('/api/setup', async (req) => setupHandler(services, req.body));
    app.post('/api/v1/setup', async (req) => setupHandler(services, req.body));
  },

  versioned(scope: FastifyInstance, services: Services) {
    // Every attempt counts against the client address; failed ones also against the account.
    const onRequest = addressRateLimit(services.rateLimits, 'loginAddress');
    scope.post('/login', { config: { public: true }, onRequest }, async (req) => {
      const { email, password } = loginBody.parse(req.body);
      const { user, token } = await services.sessions.login(email, password, req.ip);
      return { user: userJson(user), available_teams: availableTeamsJson(user), token };
    });
    scope.post('/logout', async (req) => {
      await services.sessions.logout(viewerOf(req));
      return {};
    });
    scope.get('/me', async (req) => {
      const v = viewerOf(req);
      return { user: userJson(v.user), available_teams: availableTeamsJson(v.user), settings: {} };
    });
  },
};
