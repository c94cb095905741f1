import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppleCheckinHandler, DeviceRequestSummary } from './handler.js';
import { MdmRequestError } from './messages.js';

export const appleMdmPath = '/mdm/apple/mdm';
const checkinContentType = 'application/x-apple-aspen-mdm-checkin';

export interface AppleCheckinRouteOptions {
  handler: AppleCheckinHandler;
  bodyLimit: number;
  /** Header a TLS terminator puts the verified client certificate in (lower-case), if any. */
  clientCertHeader?: string;
}

function sendError(reply: FastifyReply, status: number, message: string) {
  // Devices read only the status; a short text body helps whoever looks at the traffic.
  return reply.code(status).type('text/plain; charset=utf-8').send(message);
}

/**
 * The Apple check-in and command endpoint (PUT and POST), in its own plugin so its raw-body
 * content-type parsers and error answers stay here. Never answers 401: devices read 401 as
 * "unenroll me"; refusals are 400 (see the reference's status rules).
 */
export async function registerAppleCheckinRoutes(app: FastifyInstance, opts: AppleCheckinRouteOptions) {
  await app.register(async (scope) => {
    // Every body arrives as raw bytes: the plist is parsed once and the exact bytes are needed
    // for Mdm-Signature and for storing results verbatim.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) =>
      done(null, body),
    );

    scope.setErrorHandler((error: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        req.log.warn({ reason: 'body too large', limit: opts.bodyLimit }, 'apple mdm request rejected');
        return sendError(reply, 413, 'request body too large');
      }
      if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
        req.log.warn({ reason: error.message }, 'apple mdm request rejected');
        return sendError(reply, 400, 'bad request');
      }
      req.log.error({ err: error }, 'apple mdm request failed');
      return sendError(reply, 500, 'internal error');
    });

    const handle = async (req: FastifyRequest, reply: FastifyReply) => {
      const contentType = String(req.headers['content-type'] ?? '');
      const signature = req.headers['mdm-signature'];
      const forwarded = opts.clientCertHeader ? req.headers[opts.clientCertHeader] : undefined;
      const summary: DeviceRequestSummary = {};
      try {
        const answer = await opts.handler.handle(
          {
            // NanoMDM's rule: the check-in prefix is tested first, everything else is a report.
            checkin: contentType.startsWith(checkinContentType),
            body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
            mdmSignature: typeof signature === 'string' ? signature : undefined,
            forwardedCert: typeof forwarded === 'string' ? forwarded : undefined,
            params: Object.fromEntries(
              Object.entries((req.query ?? {}) as Record<string, unknown>).filter(
                ([, v]) => typeof v === 'string',
              ),
            ) as Record<string, string>,
          },
          summary,
        );
        if (!answer) return reply.code(200).send();
        if (answer.contentType) reply.type(answer.contentType);
        return reply.code(answer.status).send(answer.body);
      } catch (err) {
        if (err instanceof MdmRequestError) {
          const log = err.status >= 500 ? req.log.error.bind(req.log) : req.log.warn.bind(req.log);
          log({ reason: err.message, ...summary }, 'apple mdm request rejected');
          return sendError(reply, err.status, err.status >= 500 ? 'request not handled' : 'bad request');
        }
        throw err;
      }
    };
    scope.put(appleMdmPath, handle);
    scope.post(appleMdmPath, handle);
  });
}
