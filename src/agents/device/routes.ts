import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { attachmentDisposition } from '../../http/contentDisposition.js';
import type { RateLimitService } from '../../ratelimit/service.js';
import { acceptAnyContentTypeAsJson } from '../orbit/body.js';
import { capabilitiesHeader, capabilitiesValue, serverDeviceCapabilities } from '../orbit/capabilities.js';
import { installAgentErrorHandler } from '../orbit/errors.js';
import type { DeviceService } from './service.js';

/**
 * Version prefixes the device endpoints answer under. Fleet also serves them under `/api/v1/fleet`;
 * that alias is left out for now because the contract suite counts every `/api/v1/fleet` route as
 * an admin endpoint needing a REST-docs fixture (test/contract/routes.ts `inScope`). Fleet Desktop
 * itself calls `/api/latest/fleet/device/...`. To add it: exclude `/api/v1/fleet/device/` there and
 * add `/api/v1/fleet` here.
 */
export const deviceApiPrefixes = ['/api/latest/fleet', '/api/2022-04/fleet'];

/** The unauthenticated liveness path Fleet Desktop pings (no token). */
export const devicePingPath = '/api/fleet/device/ping';

const manualProfileFileName = 'fleet-mdm-enrollment-profile.mobileconfig';

/**
 * A request path fit for logs: the device token (the whole credential of these endpoints) in
 * `/fleet/device/<token>/...` is replaced by `:token`.
 */
export function redactDevicePath(path: string): string {
  if (path === devicePingPath) return path;
  return path.replace(/(\/fleet\/device\/)[^/]+/, '$1:token');
}

const capabilities = capabilitiesValue(serverDeviceCapabilities);

/**
 * Fleet Desktop's device endpoints, `/device/{token}/...`. Every one is behind a per-address
 * failure limit, Fleet's IP ban: failed requests (a bad or expired token above all) are counted per
 * client address, and once an address passes the limit in a window every request from it gets 429
 * until the window ends, whether its token is good or not, so a token cannot be guessed by the
 * thousand. The count is checked before the token is looked at and grows only on failures.
 */
export async function registerDeviceRoutes(
  app: FastifyInstance,
  services: { device: DeviceService; rateLimits: RateLimitService },
): Promise<void> {
  const { device, rateLimits } = services;

  const countFailure = async (req: FastifyRequest, status: number) => {
    if (status === 429 || req.routeOptions.url === devicePingPath) return;
    await rateLimits.hit('deviceFailuresAddress', req.ip);
  };

  const refuseBanned = async (req: FastifyRequest, reply: FastifyReply) => {
    const banned = await rateLimits.peek('deviceFailuresAddress', req.ip);
    if (!banned) return;
    req.log.warn(
      { rate_limit: rateLimits.policy('deviceFailuresAddress').scope, address: req.ip, count: banned.count },
      'device address banned',
    );
    // Fleet's IP-ban answer ("limit exceeded"); Retry-After says when the window ends.
    return reply
      .code(429)
      .header('retry-after', String(banned.retryAfterSeconds))
      .send({
        message: 'limit exceeded',
        errors: [{ name: 'base', reason: 'limit exceeded' }],
        uuid: randomUUID(),
      });
  };

  await app.register(async (scope) => {
    acceptAnyContentTypeAsJson(scope);
    installAgentErrorHandler(scope, 'device', countFailure);
    if (capabilities) {
      scope.addHook('onSend', async (_req, reply, payload) => {
        if (reply.statusCode < 400) reply.header(capabilitiesHeader, capabilities);
        return payload;
      });
    }

    scope.head(devicePingPath, async (_req, reply) => reply.status(200).send());

    const token = (req: FastifyRequest) => (req.params as { token: string }).token;
    const onRequest = refuseBanned;

    for (const prefix of deviceApiPrefixes) {
      const base = `${prefix}/device/:token`;

      scope.get(base, { onRequest }, async (req) => device.hostJson(await device.authenticate(token(req))));

      scope.get(`${base}/desktop`, { onRequest }, async (req) =>
        device.desktopSummary(await device.authenticate(token(req))),
      );

      scope.head(`${base}/ping`, { onRequest }, async (req, reply) => {
        await device.authenticate(token(req));
        return reply.status(200).send();
      });

      scope.post(`${base}/refetch`, { onRequest }, async (req) => {
        await device.refetch(await device.authenticate(token(req)));
        return {};
      });

      scope.get(`${base}/transparency`, { onRequest }, async (req, reply) => {
        await device.authenticate(token(req));
        return reply.redirect(await device.transparencyUrl(), 307);
      });

      // The MDM routes check, as Fleet's middleware does, that Apple MDM is on before the token.
      scope.get(`${base}/mdm/apple/manual_enrollment_profile`, { onRequest }, async (req, reply) => {
        await device.requireAppleMdm();
        await device.authenticate(token(req));
        const profile = await device.manualEnrollmentProfile();
        return reply
          .header('content-type', 'application/x-apple-aspen-config')
          .header('content-disposition', attachmentDisposition(manualProfileFileName))
          .header('x-content-type-options', 'nosniff')
          .send(profile);
      });

      scope.post(`${base}/migrate_mdm`, { onRequest }, async (req, reply) => {
        await device.requireAppleMdm();
        await device.migrateMdm(await device.authenticate(token(req)));
        return reply.status(204).send();
      });
    }
  });
}
