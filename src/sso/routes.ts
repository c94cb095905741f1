import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { queryFlag } from '../admin/routeParams.js';
import { adminPrefixes, adminQuery, authorize } from '../http/adminApi.js';
import { attachmentDisposition } from '../http/contentDisposition.js';
import { badRequest, HttpError } from '../http/errors.js';
import { addressRateLimit } from '../http/rateLimit.js';
import type { RateLimitService } from '../ratelimit/service.js';
import type { EulaService } from './eulaService.js';
import { ssoCallbackPage, ssoStartPage, type CallbackQuery, type Page } from './pages.js';
import { ssoCallbackPagePath, ssoErrorRedirect, type EndUserAuthService } from './service.js';

/** Fleet's SSO session cookie (also its admin SSO's): the id of the login in progress. */
export const ssoSessionCookie = '__Host-FLEETSSOSESSIONID';
/** The page Setup Assistant opens (the ADE profile's `configuration_web_url`). */
export const ssoStartPagePath = '/mdm/sso';
/** The header Setup Assistant sends the device's machine info in (base64 CMS-signed plist). */
export const deviceInfoHeader = 'x-apple-aspen-deviceinfo';

/** Largest callback body: a SAMLResponse with its certificates is tens of KB. */
const callbackBodyLimit = 1024 * 1024;

/** The EULA routes' paths: Fleet's current one and the older spellings its clients still call. */
const eulaBases = ['/setup_experience/eula', '/mdm/setup/eula', '/mdm/apple/setup/eula'];

/** The EULA download path carries its token: log lines get `:token` instead. */
export function redactEulaPath(path: string): string {
  return path.replace(
    /(\/fleet\/(?:setup_experience|mdm\/setup|mdm\/apple\/setup)\/eula\/)(?!metadata$)[^/]+$/,
    '$1:token',
  );
}

function cookieHeader(value: string, maxAgeSeconds: number): string {
  // __Host- cookies must be Secure with Path=/ and no Domain. The IdP posts back cross-site, so
  // SameSite=None (Fleet sets no SameSite; browsers would otherwise default to Lax).
  return `${ssoSessionCookie}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=None`;
}

function readCookie(req: FastifyRequest, name: string): string | undefined {
  const raw = req.headers.cookie;
  if (!raw) return undefined;
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

function sendPage(reply: FastifyReply, p: Page, status = 200) {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', p.csp)
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .send(p.html);
}

const initiateBody = z
  .object({
    initiator: z.string().max(255).optional(),
    user_identifier: z.string().max(255).optional(),
    host_uuid: z.string().max(255).optional(),
  })
  .strip();

/**
 * A gate on `/mdm/sso` for the device's machine info (Fleet answers 403 with
 * `com.apple.softwareupdate.required` when the OS is older than the team's minimum). The ADE
 * enrollment area owns that check; app.ts passes it in.
 */
export type DeviceInfoGate = (
  deviceInfo: string,
) => Promise<{ status: number; body: unknown } | undefined> | { status: number; body: unknown } | undefined;

export interface EndUserSsoRouteDeps {
  endUserAuth: EndUserAuthService;
  rateLimits: RateLimitService;
  deviceInfoGate?: DeviceInfoGate;
}

/**
 * The device-side end-user authentication routes (no login): the pages `/mdm/sso` and
 * `/mdm/sso/callback`, and under every version prefix `POST /fleet/mdm/sso` (start a login) and
 * `POST /fleet/mdm/sso/callback` (the ACS). Both POSTs are rate-limited per client address.
 */
export async function registerEndUserSsoRoutes(
  app: FastifyInstance,
  deps: EndUserSsoRouteDeps,
): Promise<void> {
  const { endUserAuth } = deps;
  const initiatePath = `${adminPrefixes[0]}/mdm/sso`;

  await app.register(async (scope) => {
    scope.get(ssoStartPagePath, async (req, reply) => {
      const info = req.headers[deviceInfoHeader];
      const deviceInfo = Array.isArray(info) ? info[0] : info;
      if (deviceInfo) {
        const gated = await deps.deviceInfoGate?.(deviceInfo);
        if (gated)
          return reply.code(gated.status).header('content-type', 'application/json').send(gated.body);
        // Keep the machine info across the browser round trip, as Fleet does: same URL, as a query.
        if (!req.url.includes('?')) {
          return reply
            .code(307)
            .header('location', `${ssoStartPagePath}?deviceinfo=${encodeURIComponent(deviceInfo)}`)
            .send();
        }
      }
      return sendPage(reply, ssoStartPage(initiatePath));
    });

    scope.get(ssoCallbackPagePath, async (req, reply) => {
      const q = (req.query ?? {}) as Record<string, unknown>;
      const str = (k: keyof CallbackQuery) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
      const page = ssoCallbackPage(
        {
          error: str('error'),
          reason: str('reason'),
          profile_token: str('profile_token'),
          enrollment_reference: str('enrollment_reference'),
          eula_token: str('eula_token'),
        },
        {
          start: ssoStartPagePath,
          enroll: '/api/mdm/apple/enroll',
          eula: (token) => `${adminPrefixes[0]}/setup_experience/eula/${encodeURIComponent(token)}`,
        },
      );
      return sendPage(reply, page);
    });
  });

  const onRequest = addressRateLimit(deps.rateLimits, 'mdmSsoAddress');
  for (const prefix of adminPrefixes) {
    // Start a login: JSON as Fleet's console sends it (answer `{url}`), or a plain HTML form post
    // (the page without JavaScript; answer a 303 to the IdP).
    await app.register(
      async (scope) => {
        scope.addContentTypeParser(
          'application/x-www-form-urlencoded',
          { parseAs: 'string', bodyLimit: 16 * 1024 },
          (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
        );
        scope.post('/mdm/sso', { onRequest }, async (req, reply) => {
          const parsed = initiateBody.safeParse(req.body ?? {});
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            const name = issue?.path.length ? String(issue.path[0]) : 'base';
            throw badRequest(issue?.message ?? 'bad request body', name);
          }
          const login = await endUserAuth.initiate(parsed.data);
          reply.header('set-cookie', cookieHeader(login.sessionId, login.maxAgeSeconds));
          const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
          if (form) return reply.code(303).header('location', login.url).send();
          return { url: login.url };
        });
      },
      { prefix },
    );

    // The ACS. Whatever arrives (no cookie, no form, garbage), the answer is a redirect to the
    // callback page; a refusal stores nothing.
    await app.register(
      async (scope) => {
        scope.removeAllContentTypeParsers();
        scope.addContentTypeParser(
          '*',
          { parseAs: 'string', bodyLimit: callbackBodyLimit },
          (req, body, done) => {
            const type = req.headers['content-type'] ?? '';
            if (!type.startsWith('application/x-www-form-urlencoded')) return done(null, {});
            done(null, Object.fromEntries(new URLSearchParams(body as string)));
          },
        );
        scope.post('/mdm/sso/callback', { onRequest }, async (req, reply) => {
          const body = (req.body ?? {}) as Record<string, unknown>;
          const saml =
            typeof body.SAMLResponse === 'string' && body.SAMLResponse ? body.SAMLResponse : undefined;
          let location: string;
          try {
            location = await endUserAuth.callback(readCookie(req, ssoSessionCookie), saml);
          } catch (err) {
            req.log.error({ err }, 'end-user SSO callback failed');
            location = ssoErrorRedirect;
          }
          return reply
            .code(303)
            .header('set-cookie', cookieHeader('', 0))
            .header('location', location)
            .send();
        });
      },
      { prefix },
    );
  }
}

const eulaQuery = adminQuery({ dry_run: z.string().optional() });

/** Reads the multipart upload: the `eula` file (Fleet's field). */
async function readEula(req: FastifyRequest, maxBytes: number): Promise<{ name: string; bytes: Buffer }> {
  if (!req.isMultipart()) throw badRequest('failed to parse multipart form');
  let file: { name: string; bytes: Buffer } | undefined;
  try {
    for await (const part of req.parts({ limits: { fileSize: maxBytes, files: 2, fields: 10 } })) {
      if (part.type !== 'file') continue;
      const bytes = await part.toBuffer();
      if (part.fieldname === 'eula' && !file) file = { name: part.filename ?? '', bytes };
    }
  } catch (err) {
    const e = err as { code?: string; statusCode?: number; message?: string };
    if (e.code === 'FST_REQ_FILE_TOO_LARGE' || e.statusCode === 413) {
      throw new HttpError(413, 'Request Entity Too Large', [
        { name: 'eula', reason: `eula exceeds the max size limit of ${maxBytes} bytes` },
      ]);
    }
    if (e.statusCode && e.statusCode < 500) throw badRequest('failed to parse multipart form');
    throw err;
  }
  if (!file) throw badRequest('eula multipart field is required');
  return file;
}

/**
 * The EULA admin routes (global admins; Fleet's `/setup_experience/eula` and its older paths).
 * The download by token is public: the token is the credential, handed to the end user after SSO.
 */
export function registerEulaRoutes(
  scope: FastifyInstance,
  deps: { eula: EulaService; maxUploadBytes: number },
) {
  const { eula, maxUploadBytes } = deps;
  return scope.register(async (s) => {
    await s.register(multipart, { limits: { fileSize: maxUploadBytes } });
    for (const base of eulaBases) {
      s.post(base, async (req) => {
        authorize(req, 'mdm_apple_setup', 'write');
        const dryRun = queryFlag(eulaQuery.parse(req.query).dry_run, 'dry_run') ?? false;
        const file = await readEula(req, maxUploadBytes);
        await eula.upload(file.name, file.bytes, { dryRun });
        return {};
      });

      s.get(`${base}/metadata`, async (req) => {
        authorize(req, 'mdm_apple_setup', 'read');
        return eula.metadata();
      });

      s.get(`${base}/:token`, { config: { public: true } }, async (req, reply) => {
        const { token } = req.params as { token: string };
        const doc = await eula.download(token);
        return reply
          .header('content-type', 'application/pdf')
          .header('content-disposition', attachmentDisposition(doc.name))
          .header('content-length', String(doc.bytes.length))
          .header('x-content-type-options', 'nosniff')
          .send(doc.bytes);
      });

      s.delete(`${base}/:token`, async (req) => {
        authorize(req, 'mdm_apple_setup', 'write');
        const { token } = req.params as { token: string };
        await eula.delete(token);
        return {};
      });
    }
  });
}
