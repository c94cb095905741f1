import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { addressRateLimit } from '../../http/rateLimit.js';
import type { RateLimitService } from '../../ratelimit/service.js';
import { loggableError, OsqueryError } from './errors.js';
import { distributedWriteBody, enrollBody, logBody, nodeKeyBody } from './requests.js';
import type { OsqueryService } from './service.js';

/** What the server log says about a body it could not use: JSON error codes and field paths, no values. */
function badBodyReason(err: unknown): string {
  if (err instanceof ZodError)
    return err.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(body)'}: ${i.code}`)
      .join('; ');
  return (err as FastifyError).code ?? 'malformed JSON';
}

/**
 * osquery's TLS endpoints (unversioned; the node key travels in the JSON body). One plugin owns
 * their JSON parsing and body limit and answers failures in the forms Fleet uses for them:
 * `{"error", "node_invalid": true}` with 401 for credentials, `{"error"}` with 500 for server
 * failures, and Fleet's bad-request body (`json decoder error`) for bodies it cannot decode.
 */
export async function registerOsqueryRoutes(
  app: FastifyInstance,
  deps: { osquery: OsqueryService; rateLimits: RateLimitService; bodyLimit: number },
): Promise<void> {
  const { osquery } = deps;
  await app.register(async (scope) => {
    // osquery always sends JSON; any content type is read as JSON, with Fastify's guards against
    // __proto__ / constructor poisoning, up to the osquery body limit.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'string', bodyLimit: deps.bodyLimit },
      scope.getDefaultJsonParser('error', 'error'),
    );

    scope.setErrorHandler((err, req, reply) => {
      const uuid = randomUUID();
      if (err instanceof OsqueryError) {
        req.log.info({ uuid, status: err.status, reason: err.logReason }, 'osquery request rejected');
        return reply
          .status(err.status)
          .send({ error: err.message, ...(err.nodeInvalid ? { node_invalid: true } : {}), uuid });
      }
      const fe = err as FastifyError;
      if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const reason = `request body exceeds the max size limit of ${req.routeOptions.bodyLimit} bytes`;
        req.log.info({ uuid, status: 413, reason }, 'osquery request rejected');
        return reply
          .status(413)
          .send({ message: 'Request Entity Too Large', errors: [{ name: 'base', reason }], uuid });
      }
      if (
        err instanceof ZodError ||
        (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500)
      ) {
        req.log.info({ uuid, status: 400, reason: badBodyReason(err) }, 'osquery request rejected');
        return reply
          .status(400)
          .send({ message: 'Bad request', errors: [{ name: 'base', reason: 'json decoder error' }], uuid });
      }
      req.log.error({ err: loggableError(err), uuid }, 'osquery request failed');
      return reply.status(500).send({ error: 'internal error', uuid });
    });

    // Buffered last-contact times are written before the server stops.
    scope.addHook('onClose', async () => osquery.flush());

    // Each endpoint also answers under /api/v1/osquery/..., the paths fleetd configures osquery
    // with (Fleet keeps them as aliases). Logs may be twice as large, as in Fleet (10 MB).
    const post = (
      path: string,
      opts: { onRequest?: ReturnType<typeof addressRateLimit>; bodyLimit?: number },
      handler: (req: FastifyRequest) => Promise<unknown>,
    ) => {
      for (const prefix of ['/api/osquery', '/api/v1/osquery'])
        scope.post(`${prefix}${path}`, { bodyLimit: deps.bodyLimit, ...opts }, handler);
    };

    // Limits enroll-secret guessing per client address.
    post('/enroll', { onRequest: addressRateLimit(deps.rateLimits, 'enrollAddress') }, async (req) =>
      osquery.enroll(enrollBody.parse(req.body), req.ip),
    );
    post('/config', {}, async (req) => {
      const body = nodeKeyBody.parse(req.body);
      return osquery.config(await osquery.authenticate(body.node_key));
    });
    post('/distributed/read', {}, async (req) => {
      const body = nodeKeyBody.parse(req.body);
      return osquery.distributedRead(await osquery.authenticate(body.node_key));
    });
    post('/distributed/write', {}, async (req) => {
      const body = distributedWriteBody.parse(req.body);
      await osquery.distributedWrite(await osquery.authenticate(body.node_key), body, req.ip);
      return {};
    });
    // Result and status logs are accepted and dropped: Flotilla keeps no osquery logs.
    post('/log', { bodyLimit: 2 * deps.bodyLimit }, async (req) => {
      const body = logBody.parse(req.body);
      await osquery.authenticate(body.node_key);
      return {};
    });
  });
}
