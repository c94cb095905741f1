import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authorize } from '../../http/adminApi.js';
import { attachmentDisposition } from '../../http/contentDisposition.js';
import { HttpError } from '../../http/errors.js';
import { addressRateLimit } from '../../http/rateLimit.js';
import type { Services } from '../../services.js';
import type { AdeEnrollmentService } from '../ade/enrollService.js';
import { answerAdeEnroll, machineInfoContentType } from '../ade/routes.js';
import { maxMachineInfoBytes } from '../ade/machineInfo.js';

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

/**
 * Device-facing `GET|POST /api/mdm/apple/enroll?token=` (no Bearer token): with the automatic (ADE)
 * profile's token, the ADE enrollment profile (machine info, minimum OS, end-user reference; see
 * src/apple/ade); with an enroll secret, the manual enrollment profile.
 */
export async function registerAppleEnrollRoutes(
  app: FastifyInstance,
  services: Pick<Services, 'appleEnrollment' | 'enrollSecrets' | 'rateLimits'> & {
    appleAdeEnrollment?: Pick<AdeEnrollmentService, 'isAutomaticToken' | 'enroll'>;
  },
): Promise<void> {
  await app.register(async (scope) => {
    // Limits enroll-secret guessing per client address.
    const onRequest = addressRateLimit(services.rateLimits, 'enrollAddress');
    // Setup Assistant posts its CMS-signed machine info; any other body is read and ignored (Fleet
    // looks at the body only for this content type).
    const bodyLimit = 4 * maxMachineInfoBytes;
    scope.addContentTypeParser(machineInfoContentType, { parseAs: 'buffer', bodyLimit }, (_req, body, done) =>
      done(null, body),
    );
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, _body, done) =>
      done(null, undefined),
    );
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const token = (req.query as Record<string, unknown>).token;
      if (typeof token !== 'string' || token === '') {
        throw new HttpError(401, 'Authentication Failed', [
          { name: 'token', reason: 'an enroll secret is required in token' },
        ]);
      }
      const ade = services.appleAdeEnrollment;
      if (ade && (await ade.isAutomaticToken(token))) return answerAdeEnroll(req, reply, ade, sendProfile);
      const team = await services.enrollSecrets.teamForSecret(token);
      if (!team)
        throw new HttpError(401, 'Authentication Failed', [
          { name: 'token', reason: 'invalid enroll secret' },
        ]);
      return sendProfile(reply, await services.appleEnrollment.manualProfile());
    };
    scope.get('/api/mdm/apple/enroll', { onRequest }, handler);
    scope.post('/api/mdm/apple/enroll', { onRequest, bodyLimit }, handler);
  });
}
