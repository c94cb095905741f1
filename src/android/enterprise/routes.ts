import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Viewer } from '../../admin/authService.js';
import { viewerOf } from '../../http/adminApi.js';
import { badRequest, forbidden, HttpError } from '../../http/errors.js';
import type { HtmlPage } from './html.js';
import { connectedPage, connectFailedPage } from './pages.js';
import type { AndroidEnterpriseService } from './service.js';
import type { AndroidServiceAccountAdmin } from './serviceAccountAdmin.js';
import { endOpenStreams, streamSignupProgress } from './sse.js';

/** A Google service-account key file is a few KB. */
const maxServiceAccountBytes = 64 * 1024;

/** Fleet serves its Android routes only under these two of the admin API's version prefixes. */
const androidPrefixes = ['/api/v1/fleet', '/api/latest/fleet'];

/** The signup callback carries its one-time token in the path: log lines get `:token` instead. */
export function redactAndroidPath(path: string): string {
  return path.replace(/(\/fleet\/android_enterprise\/connect\/)[^/]+$/, '$1:token');
}

/** Android Enterprise is a global admin's business (Fleet: admin only, global). */
function globalAdmin(req: FastifyRequest): Viewer {
  const viewer = viewerOf(req);
  if (viewer.principal.globalRole !== 'admin') throw forbidden();
  return viewer;
}

export function sendHtml(reply: FastifyReply, page: HtmlPage) {
  return reply
    .code(page.status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', page.csp)
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .send(page.html);
}

export interface AndroidEnterpriseRouteDeps {
  enterprise: AndroidEnterpriseService;
  serviceAccount: AndroidServiceAccountAdmin;
}

/**
 * The admin API of the Android Enterprise binding (registered inside the admin API's scopes):
 * service account, signup URL, Google's signup callback (no login: its token is the credential),
 * the signup SSE stream, and reading and deleting the binding.
 */
export async function registerAndroidEnterpriseRoutes(
  scope: FastifyInstance,
  deps: AndroidEnterpriseRouteDeps,
): Promise<void> {
  if (!androidPrefixes.includes(scope.prefix)) return;
  const { enterprise, serviceAccount } = deps;
  const base = '/android_enterprise';
  const openStreams = new Set<() => void>();

  await scope.register(async (s) => {
    // The key file is stored as sent: read every body as bytes (JSON or not).
    s.removeAllContentTypeParsers();
    s.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: maxServiceAccountBytes },
      (_req, body, done) => done(null, body),
    );
    s.addHook('preClose', async () => endOpenStreams(openStreams));

    s.put(`${base}/service_account`, { bodyLimit: maxServiceAccountBytes }, async (req) => {
      globalAdmin(req);
      const body = req.body;
      if (!Buffer.isBuffer(body) || body.length === 0) {
        throw badRequest('send the service account JSON key file as the request body', 'service_account');
      }
      return serviceAccount.upload(body);
    });

    s.get(`${base}/service_account`, async (req) => {
      globalAdmin(req);
      return serviceAccount.get();
    });

    s.delete(`${base}/service_account`, async (req) => {
      globalAdmin(req);
      await serviceAccount.remove();
      return {};
    });

    s.get(`${base}/signup_url`, async (req) => {
      const viewer = globalAdmin(req);
      return { android_enterprise_signup_url: await enterprise.signupUrl(viewer.user.id) };
    });

    s.get<{ Params: { token: string }; Querystring: Record<string, unknown> }>(
      `${base}/connect/:token`,
      { config: { public: true } },
      async (req, reply) => {
        const q = req.query.enterpriseToken;
        const enterpriseToken = typeof q === 'string' ? q : '';
        try {
          await enterprise.connect(req.params.token, enterpriseToken);
        } catch (err) {
          // Google's refusal gets a page the admin can read; our own refusals keep Fleet's JSON.
          if (err instanceof HttpError && err.statusCode === 502) {
            return sendHtml(reply, connectFailedPage(502, err.errors[0]?.reason ?? err.message));
          }
          throw err;
        }
        return sendHtml(reply, connectedPage());
      },
    );

    s.get(`${base}/signup_sse`, async (req, reply) => {
      globalAdmin(req);
      streamSignupProgress(req, reply, {
        bound: () => enterprise.configured(),
        ...enterprise.signupSse,
        open: openStreams,
      });
      return reply;
    });

    s.get(base, async (req) => {
      globalAdmin(req);
      const bound = await enterprise.bound();
      if (!bound) {
        throw new HttpError(404, 'Validation Failed', [
          { name: 'enterprise', reason: 'No enterprise found' },
        ]);
      }
      return { android_enterprise_id: bound.enterpriseId };
    });

    s.delete(base, async (req) => {
      const viewer = globalAdmin(req);
      await enterprise.unbind({ user: viewer.user });
      return {};
    });
  });
}
