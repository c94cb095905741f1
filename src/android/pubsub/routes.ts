import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../../http/errors.js';
import type { AndroidPubsubService } from './service.js';

/**
 * Largest push accepted. A STATUS_REPORT grows with the device's application reports and memory
 * events, and base64 adds a third; the sample reports are under 3 KB, a device with hundreds of
 * apps stays well under this.
 */
export const pubsubBodyLimit = 1024 * 1024;

/** The path registered with Google as the push endpoint (`?token=` added), as Fleet names it. */
export const pubsubPath = '/api/v1/fleet/android_enterprise/pubsub';

/**
 * Google Pub/Sub's push endpoint for AMAPI notifications. Its own plugin: it reads any body as
 * text (Pub/Sub posts JSON; the service parses it after authenticating) with its own size limit,
 * and answers every error with Fleet's error body, never with the request's token.
 */
export async function registerAndroidPubsubRoutes(
  app: FastifyInstance,
  services: { androidPubsub: AndroidPubsubService },
): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: pubsubBodyLimit }, (_req, body, done) =>
      done(null, body),
    );
    scope.setErrorHandler((err, req, reply) => {
      const uuid = randomUUID();
      const code = (err as { code?: string }).code;
      let status = 500;
      let message = 'Internal Server Error';
      let errors = [{ name: 'base', reason: 'internal error' }];
      if (err instanceof HttpError) {
        status = err.statusCode;
        message = err.message;
        errors = err.errors;
      } else if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        status = 413;
        message = 'Request Entity Too Large';
        errors = [
          { name: 'base', reason: `request body exceeds the max size limit of ${pubsubBodyLimit} bytes` },
        ];
      } else if ((err as { statusCode?: number }).statusCode === 400) {
        status = 400;
        message = 'Bad request';
        errors = [{ name: 'base', reason: 'unreadable request body' }];
      }
      // A 5xx makes Pub/Sub deliver the message again, which is what a failed database needs.
      if (status >= 500 && !(err instanceof HttpError))
        req.log.error({ err, uuid }, 'android pubsub: push failed');
      else req.log.info({ uuid, status, reason: errors[0]?.reason }, 'android pubsub: push rejected');
      return reply.status(status).send({ message, errors, uuid });
    });

    const handler = async (req: { query: unknown; headers: Record<string, unknown>; body: unknown }) => {
      const q = req.query as Record<string, unknown>;
      const auth = req.headers.authorization;
      return services.androidPubsub.handle({
        token: typeof q.token === 'string' ? q.token : undefined,
        authorization: typeof auth === 'string' ? auth : undefined,
        body: typeof req.body === 'string' ? req.body : '',
      });
    };
    for (const path of [pubsubPath, pubsubPath.replace('/api/v1/', '/api/latest/')]) {
      scope.post(path, async (req, reply) => {
        const answer = await handler(req);
        return reply.status(answer.status).send(answer.body);
      });
    }
  });
}
