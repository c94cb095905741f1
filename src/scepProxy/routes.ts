import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ScepProxyError, type ScepProxyService } from './service.js';

/** SCEP messages are a few KiB; Fleet reads at most 2 MiB of a POST. */
const scepBodyLimit = 2 * 1024 * 1024;

/** Proxy paths carry a one-time challenge: log lines get `:identifier` instead. */
export function redactScepProxyPath(path: string): string {
  return path.replace(/(\/mdm\/scep\/proxy\/)[^/?]+/, '$1:identifier');
}

function plain(reply: FastifyReply, status: number, text: string) {
  return reply
    .status(status)
    .header('x-content-type-options', 'nosniff')
    .type('text/plain; charset=utf-8')
    .send(`${text}\n`);
}

/** GET's base64 `message` (a `+` read as a space by query parsing is restored); undefined if not base64. */
function decodeMessage(raw: string): Buffer | undefined {
  const s = raw.replace(/ /g, '+').replace(/\s+/g, '');
  if (!s || !/^[A-Za-z0-9+/]+={0,2}$/.test(s) || s.replace(/=+$/, '').length % 4 === 1) return undefined;
  return Buffer.from(s, 'base64');
}

/**
 * The identifier from the path after `/mdm/scep/proxy/`: one segment, optionally followed by the
 * `/pkiclient.exe` some SCEP clients append; still escaped when the router left it so (Fleet
 * path-unescapes it). Undefined when it is not one segment.
 */
function identifierOf(rest: string): string | undefined {
  const segment = rest.replace(/\/pkiclient\.exe$/i, '');
  if (!segment || segment.includes('/')) return undefined;
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * `/mdm/scep/proxy/:identifier` (and its `/pkiclient.exe` form some SCEP clients append):
 * GetCACaps, GetCACert and PKIOperation by GET and POST, passed to the CA the identifier names.
 */
export async function registerScepProxyRoutes(
  app: FastifyInstance,
  deps: { scepProxy: ScepProxyService },
): Promise<void> {
  await app.register(async (scope) => {
    // Every body is raw bytes, whatever content type a client sends.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: scepBodyLimit }, (_req, body, done) =>
      done(null, body),
    );

    const handler = async (req: FastifyRequest<{ Params: { '*': string } }>, reply: FastifyReply) => {
      const query = (req.query ?? {}) as Record<string, string | string[] | undefined>;
      const operation = typeof query.operation === 'string' ? query.operation : '';
      const message = typeof query.message === 'string' ? query.message : undefined;
      const identifier = identifierOf(req.params['*']);
      if (identifier === undefined) return plain(reply, 400, 'invalid identifier in URL path');
      try {
        switch (operation) {
          case '':
            return plain(reply, 400, 'missing operation');
          case 'GetCACaps': {
            const answer = await deps.scepProxy.getCaCaps(identifier);
            return reply.type('text/plain').send(answer.body);
          }
          case 'GetCACert': {
            const answer = await deps.scepProxy.getCaCert(identifier, message);
            const chain = answer.contentType.includes('x-x509-ca-ra-cert');
            return reply
              .type(chain ? 'application/x-x509-ca-ra-cert' : 'application/x-x509-ca-cert')
              .send(answer.body);
          }
          case 'PKIOperation': {
            let der: Buffer | undefined;
            if (req.method === 'POST') {
              der = Buffer.isBuffer(req.body) ? req.body : undefined;
            } else {
              if (!message) return plain(reply, 400, 'missing PKIOperation message');
              der = decodeMessage(message);
              if (!der) return plain(reply, 400, 'failed to base64 decode message');
            }
            if (!der || der.length === 0) return plain(reply, 400, 'missing PKIOperation message');
            const answer = await deps.scepProxy.pkiOperation(identifier, der);
            return reply.type('application/x-pki-message').send(answer.body);
          }
          default:
            return plain(reply, 400, 'operation not implemented');
        }
      } catch (err) {
        if (err instanceof ScepProxyError) return plain(reply, err.status, err.message);
        throw err;
      }
    };
    // A wildcard: identifiers run past the router's limit on a `:param`'s length.
    scope.get('/mdm/scep/proxy/*', handler);
    scope.post('/mdm/scep/proxy/*', handler);
  });
}
