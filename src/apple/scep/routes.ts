import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import { ScepMessageError } from './message.js';

/** SCEP messages are small; Apple's are a few KiB. */
const scepBodyLimit = 2 * 1024 * 1024;

/**
 * Decodes GET's `message`: standard or URL-safe base64 (some clients use the latter), with `+`
 * turned into spaces by query parsing restored. Undefined when it is not base64.
 */
export function decodeScepMessageParam(raw: string): Buffer | undefined {
  const s = raw.replace(/ /g, '+').replace(/-/g, '+').replace(/_/g, '/').replace(/\s+/g, '');
  if (!s || !/^[A-Za-z0-9+/]+={0,2}$/.test(s) || s.replace(/=+$/, '').length % 4 === 1) return undefined;
  return Buffer.from(s, 'base64');
}

function plain400(reply: FastifyReply, reason: string) {
  return reply.status(400).type('text/plain; charset=utf-8').send(`bad SCEP request: ${reason}\n`);
}

/** `/mdm/apple/scep`: GetCACaps, GetCACert and PKIOperation by GET and POST. */
export async function registerAppleScepRoutes(
  app: FastifyInstance,
  services: Pick<Services, 'appleScep'>,
): Promise<void> {
  await app.register(async (scope) => {
    // Keep every body as raw bytes, whatever content type a client sends.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: scepBodyLimit }, (_req, body, done) =>
      done(null, body),
    );

    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const query = (req.query ?? {}) as Record<string, string | string[] | undefined>;
      const operation = typeof query.operation === 'string' ? query.operation : undefined;
      const scep = services.appleScep;
      switch (operation) {
        case 'GetCACaps':
          return reply.type('text/plain; charset=utf-8').send(scep.capabilities());
        case 'GetCACert': {
          const ca = await scep.caCertificate();
          return reply.type('application/x-x509-ca-cert').send(ca.certDer);
        }
        case 'PKIOperation': {
          let der: Buffer | undefined;
          if (req.method === 'POST') {
            der = Buffer.isBuffer(req.body) ? req.body : undefined;
          } else if (typeof query.message === 'string') {
            der = decodeScepMessageParam(query.message);
            if (!der) return plain400(reply, 'message is not base64');
          }
          if (!der || der.length === 0) return plain400(reply, 'no message');
          try {
            const result = await scep.pkiOperation(der);
            return reply.type('application/x-pki-message').send(result.certRep);
          } catch (err) {
            if (err instanceof ScepMessageError) {
              req.log.info({ reason: err.message }, 'scep message rejected');
              return plain400(reply, err.message);
            }
            throw err;
          }
        }
        default:
          return plain400(reply, `unknown operation ${JSON.stringify(operation ?? '')}`);
      }
    };
    scope.get('/mdm/apple/scep', handler);
    scope.post('/mdm/apple/scep', handler);
  });
}
