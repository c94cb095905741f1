import type { FastifyInstance } from 'fastify';
import { HttpError } from '../../http/errors.js';
import { addressRateLimit } from '../../http/rateLimit.js';
import type { RateLimitService } from '../../ratelimit/service.js';
import { sendHtml } from '../enterprise/routes.js';
import { enrollErrorPage, enrollPage, enrollPagePath } from './page.js';
import type { AndroidEnrollmentService } from './service.js';

export interface AndroidEnrollmentRouteDeps {
  enrollment: AndroidEnrollmentService;
  rateLimits: RateLimitService;
}

/** Fleet serves its Android routes only under these two of the admin API's version prefixes. */
const androidPrefixes = ['/api/v1/fleet', '/api/latest/fleet'];

const secretOf = (query: unknown): string | undefined => {
  const v = (query as Record<string, unknown> | undefined)?.enroll_secret;
  return typeof v === 'string' ? v : undefined;
};

/**
 * `GET /android_enterprise/enrollment_token?enroll_secret=` inside the admin API's scopes, with no
 * login: the enroll secret is the credential. Counted per client address with the other enrollment
 * endpoints, which limits secret guessing and token minting at Google.
 */
export function registerAndroidEnrollmentTokenRoute(
  scope: FastifyInstance,
  deps: AndroidEnrollmentRouteDeps,
) {
  if (!androidPrefixes.includes(scope.prefix)) return;
  const onRequest = addressRateLimit(deps.rateLimits, 'enrollAddress');
  scope.get('/android_enterprise/enrollment_token', { onRequest, config: { public: true } }, async (req) => {
    const token = await deps.enrollment.createToken(secretOf(req.query));
    return { android_enrollment_token: token.value, android_enrollment_url: token.url };
  });
}

/** What the end user reads when `/enroll` cannot offer an enrollment. */
function pageReason(err: HttpError): string {
  switch (err.statusCode) {
    case 400:
      return 'The enrollment link is missing its enroll secret.';
    case 401:
      return 'The enrollment link is not valid: its enroll secret is unknown.';
    case 409:
      return 'Android management is not turned on for this organization.';
    default:
      return 'Google could not create an enrollment code right now; try again later.';
  }
}

/** The end user's page `GET /enroll?enroll_secret=` (no login), rate-limited like the token route. */
export async function registerAndroidEnrollPage(app: FastifyInstance, deps: AndroidEnrollmentRouteDeps) {
  const onRequest = addressRateLimit(deps.rateLimits, 'enrollAddress');
  app.get(enrollPagePath, { onRequest }, async (req, reply) => {
    try {
      const { orgName, token } = await deps.enrollment.forEnrollPage(secretOf(req.query));
      return sendHtml(reply, await enrollPage(orgName, token));
    } catch (err) {
      if (!(err instanceof HttpError) || (err.statusCode >= 500 && err.statusCode !== 502)) throw err;
      return sendHtml(reply, enrollErrorPage(err.statusCode, pageReason(err)));
    }
  });
}
