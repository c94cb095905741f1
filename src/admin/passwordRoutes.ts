import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { viewerOf } from '../http/adminApi.js';
import { addressRateLimit } from '../http/rateLimit.js';
import type { Services } from '../services.js';
import { idParam } from './routeParams.js';
import { userJson } from './userJson.js';

// As in Fleet, body keys these endpoints do not know are ignored; the known ones are checked.
// Missing fields are read as empty strings, so they get Fleet's "cannot be empty" answers.
const changePasswordBody = z.object({
  old_password: z.string().default(''),
  new_password: z.string().default(''),
});
const forgotPasswordBody = z.object({ email: z.string().max(255).default('') });
const resetPasswordBody = z.object({
  password_reset_token: z.string().max(1024).default(''),
  new_password: z.string().default(''),
  new_password_confirmation: z.string().optional(),
});
const performResetBody = z.object({ new_password: z.string().default(''), id: z.number().int().optional() });
const requireResetBody = z.object({ require: z.boolean() });

/**
 * Passwords: change your own, forgot / reset by e-mail (unauthenticated, limited per client
 * address), require a reset of a user and perform a required reset.
 */
export function registerPasswordRoutes(
  scope: FastifyInstance,
  { passwords, rateLimits }: Pick<Services, 'passwords' | 'rateLimits'>,
) {
  const limited = addressRateLimit(rateLimits, 'userTokenAddress');

  scope.post('/change_password', async (req) => {
    const b = changePasswordBody.parse(req.body ?? {});
    await passwords.changePassword(viewerOf(req), b.old_password, b.new_password);
    return {};
  });

  // 202 Accepted, as Fleet answers it, whether or not the e-mail belongs to anyone.
  scope.post('/forgot_password', { config: { public: true }, onRequest: limited }, async (req, reply) => {
    const b = forgotPasswordBody.parse(req.body ?? {});
    await passwords.forgotPassword(b.email, req.ip);
    return reply.code(202).send({});
  });

  scope.post('/reset_password', { config: { public: true }, onRequest: limited }, async (req) => {
    const b = resetPasswordBody.parse(req.body ?? {});
    await passwords.resetPassword(b.password_reset_token, b.new_password, b.new_password_confirmation);
    return {};
  });

  scope.post(
    '/perform_required_password_reset',
    { config: { allowForcedPasswordReset: true } },
    async (req) => {
      const b = performResetBody.parse(req.body ?? {});
      const user = await passwords.performRequiredReset(viewerOf(req), b.new_password);
      return { user: userJson(user, await passwords.teamObjectsFor(user.teams)) };
    },
  );

  scope.post('/users/:id/require_password_reset', async (req) => {
    const b = requireResetBody.parse(req.body);
    const user = await passwords.requirePasswordReset(viewerOf(req), idParam(req), b.require);
    return { user: userJson(user, await passwords.teamObjectsFor(user.teams)) };
  });
}
