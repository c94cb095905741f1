import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { addressRateLimit } from '../../http/rateLimit.js';
import type { Services } from '../../services.js';
import { OrbitAuthError } from './service.js';

// fleetd sends more fields over time; unknown ones are ignored as Fleet does.
const enrollBody = z.object({
  enroll_secret: z.string().min(1),
  hardware_uuid: z.string().min(1).max(255),
  hardware_serial: z.string().max(255).optional(),
  hostname: z.string().max(255).optional(),
  platform: z.string().max(255).optional(),
  platform_like: z.string().max(255).optional(),
  osquery_identifier: z.string().max(255).optional(),
  computer_name: z.string().max(255).optional(),
  hardware_model: z.string().max(255).optional(),
});
const nodeKeyBody = z.object({ orbit_node_key: z.string() });

/** fleetd (orbit) endpoints: unversioned, the node key travels in the JSON body. */
export async function registerOrbitRoutes(
  app: FastifyInstance,
  services: Pick<Services, 'orbit' | 'rateLimits'>,
): Promise<void> {
  await app.register(async (scope) => {
    scope.setErrorHandler((err, req, reply) => {
      if (err instanceof OrbitAuthError)
        return reply.status(401).send({ error: err.message, node_invalid: true });
      const fe = err as { statusCode?: number; message?: string; issues?: unknown };
      if (err instanceof z.ZodError || (fe.statusCode && fe.statusCode < 500)) {
        return reply
          .status(fe.statusCode && fe.statusCode !== 500 ? fe.statusCode : 400)
          .send({ error: err instanceof z.ZodError ? 'invalid request body' : fe.message });
      }
      req.log.error({ err }, 'orbit request failed');
      return reply.status(500).send({ error: 'internal error' });
    });
    // Limits enroll-secret guessing per client address.
    const onRequest = addressRateLimit(services.rateLimits, 'enrollAddress');
    scope.post('/api/fleet/orbit/enroll', { onRequest }, async (req) =>
      services.orbit.enroll(enrollBody.parse(req.body ?? {})),
    );
    scope.post('/api/fleet/orbit/config', async (req) => {
      const parsed = nodeKeyBody.safeParse(req.body ?? {});
      if (!parsed.success) throw new OrbitAuthError('orbit_node_key is required');
      return services.orbit.config(parsed.data.orbit_node_key);
    });
  });
}
