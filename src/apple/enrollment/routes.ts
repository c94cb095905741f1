import type { FastifyInstance, FastifyReply } from 'fastify';
import { authorize } from '../../http/adminApi.js';
import { attachmentDisposition } from '../../http/contentDisposition.js';
import { HttpError } from '../../http/errors.js';
import { addressRateLimit } from '../../http/rateLimit.js';
import type { Services } from '../../services.js';

const profileFileName = 'fleet-mdm-enrollment-profile.mobileconfig';

function sendProfile(reply: FastifyReply, profile: Buffer) {
  return reply
    .header('content-type', 'application/x-apple-aspen-config')
    .header('content-disposition', attachmentDisposition(profileFileName))
    .send(profile);
}

/** Admin API: `GET /enrollment_profiles/manual` (anyone who may read the app config). */
export function registerAppleEnrollmentAdminRoutes(
  scope: FastifyInstance,
  services: Pick<Services, 'appleEnrollment' | 'rateLimits'>,
) {
  const onRequest = addressRateLimit(services.rateLimits, 'enrollAddress');
  // `/mdm/manual_enrollment_profile` is the older path Fleet's clients still call.
  for (const path of ['/enrollment_profiles/manual', '/mdm/manual_enrollment_profile']) {
    scope.get(path, { onRequest }, async (req, reply) => {
      authorize(req, 'app_config', 'read');
      return sendProfile(reply, await services.appleEnrollment.manualProfile());
    });
  }
}

/** Device-facing `GET /api/mdm/apple/enroll?token=<enroll secret>` (no Bearer token). */
export async function registerAppleEnrollRoutes(
  app: FastifyInstance,
  services: Pick<Services, 'appleEnrollment' | 'enrollSecrets' | 'rateLimits'>,
): Promise<void> {
  await app.register(async (scope) => {
    // Limits enroll-secret guessing per client address.
    const onRequest = addressRateLimit(services.rateLimits, 'enrollAddress');
    scope.get('/api/mdm/apple/enroll', { onRequest }, async (req, reply) => {
      const token = (req.query as Record<string, unknown>).token;
      if (typeof token !== 'string' || token === '') {
        throw new HttpError(401, 'Authentication Failed', [
          { name: 'token', reason: 'an enroll secret is required in token' },
        ]);
      }
      const team = await services.enrollSecrets.teamForSecret(token);
      if (!team)
        throw new HttpError(401, 'Authentication Failed', [
          { name: 'token', reason: 'invalid enroll secret' },
        ]);
      return sendProfile(reply, await services.appleEnrollment.manualProfile());
    });
  });
}
