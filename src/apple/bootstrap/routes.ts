import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { queryFlag } from '../../admin/routeParams.js';
import { attachmentDisposition } from '../../http/contentDisposition.js';
import { authorize, teamIdFrom } from '../../http/adminApi.js';
import { badRequest, HttpError } from '../../http/errors.js';
import { boundedInt, maxId } from '../../http/numbers.js';
import {
  metadataJson,
  parseRange,
  validPackageName,
  type BootstrapPackageService,
  type StagedPackage,
} from './service.js';

/** A team id as Fleet's bootstrap routes take it: 0 (No team) or a team id. */
function teamParam(req: FastifyRequest): number {
  return boundedInt((req.params as Record<string, string>).team_id, 'team_id', 0, maxId);
}

const teamScope = (teamId: number) => (teamId === 0 ? null : teamId);

/** Multipart errors from @fastify/multipart / busboy as Fleet-style 4xx. */
function multipartError(err: unknown, maxBytes: number): unknown {
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (err instanceof HttpError) return err;
  if (e.code === 'FST_REQ_FILE_TOO_LARGE' || e.statusCode === 413) {
    return new HttpError(413, 'Request Entity Too Large', [
      { name: 'package', reason: `package exceeds the max size limit of ${maxBytes} bytes` },
    ]);
  }
  if (e.statusCode && e.statusCode < 500) return badRequest('failed to parse multipart form', 'package');
  if (e.message && /multipart|boundary|Unexpected end of form/i.test(e.message)) {
    return badRequest('failed to parse multipart form', 'package');
  }
  return err;
}

/**
 * `POST /bootstrap`: multipart `package` (the file) and `team_id`, streamed straight into the
 * database while it is checked; the package becomes the team's once the whole file is in.
 */
async function upload(req: FastifyRequest, bootstrap: BootstrapPackageService, maxBytes: number) {
  // Anyone who may not write bootstrap packages in any team is refused before a byte is read.
  authorize(req, 'profile', 'write');
  if (!req.isMultipart()) throw badRequest('failed to parse multipart form', 'package');
  let teamId: number | undefined;
  let staged: StagedPackage | undefined;
  let name = '';
  try {
    for await (const part of req.parts({ limits: { fileSize: maxBytes, files: 4, fields: 20 } })) {
      if (part.type === 'file') {
        if (part.fieldname !== 'package' || staged) {
          part.file.resume();
          await new Promise((resolve) => part.file.once('end', resolve));
          continue;
        }
        name = part.filename ?? '';
        if (!validPackageName(name)) throw badRequest('package name contains invalid characters');
        if (teamId !== undefined) {
          authorize(req, 'profile', 'write', teamScope(teamId));
          await bootstrap.requireTeam(teamId);
          await bootstrap.requireNoPackage(teamId);
        }
        staged = await bootstrap.stage(part.file);
        if (part.file.truncated) throw multipartError({ code: 'FST_REQ_FILE_TOO_LARGE' }, maxBytes);
      } else if (part.fieldname === 'team_id' || part.fieldname === 'fleet_id') {
        const raw = String(part.value);
        if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) > maxId) {
          throw badRequest(
            `failed to decode team_id in multipart form: invalid value ${JSON.stringify(raw)}`,
          );
        }
        teamId = Number(raw);
      }
    }
  } catch (err) {
    if (staged) await bootstrap.discard(staged).catch(() => undefined);
    throw multipartError(err, maxBytes);
  }
  if (!staged) throw badRequest('package multipart field is required');
  const team = teamId ?? 0;
  try {
    authorize(req, 'profile', 'write', teamScope(team));
  } catch (err) {
    await bootstrap.discard(staged).catch(() => undefined);
    throw err;
  }
  await bootstrap.commit(staged, team, name, req.viewer!);
}

/** The download (and its HEAD): whole file, or one byte range (206), or 416 past the end. */
async function download(
  req: FastifyRequest,
  reply: FastifyReply,
  bootstrap: BootstrapPackageService,
  head: boolean,
) {
  const token = (req.query as Record<string, unknown>).token;
  if (typeof token !== 'string' || !token)
    throw badRequest('missing required query parameter: token', 'token');
  const m = await bootstrap.byToken(token);
  const etag = `"${m.sha256.toString('hex')}"`;
  reply
    .header('content-type', 'application/octet-stream')
    .header('content-disposition', attachmentDisposition(m.name))
    .header('accept-ranges', 'bytes')
    .header('etag', etag)
    .header('x-content-type-options', 'nosniff');
  // If-Range with another validator means the client's copy is stale: send the whole file.
  const ifRange = req.headers['if-range'];
  const rangeHeader = ifRange && ifRange !== etag ? undefined : req.headers.range;
  const answer = parseRange(rangeHeader, m.size);
  if (answer.kind === 'unsatisfiable') {
    reply.header('content-range', `bytes */${m.size}`);
    return reply.code(416).send();
  }
  const range = answer.kind === 'partial' ? answer.range : undefined;
  const length = range ? range.end - range.start + 1 : m.size;
  reply.header('content-length', String(length));
  if (range) {
    reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${m.size}`);
  }
  if (head) return reply.send();
  return reply.send(bootstrap.stream(m, range));
}

/**
 * Bootstrap packages, Fleet's paths (`/bootstrap...`) and the older `/mdm/apple/bootstrap...`
 * aliases. The download (`GET /bootstrap?token=`, also `/mdm/bootstrap` and `/mdm/apple/bootstrap`)
 * needs no Bearer token: the package token is the credential, as in a manifest URL.
 */
export async function registerBootstrapRoutes(
  scope: FastifyInstance,
  services: { appleBootstrap: BootstrapPackageService; maxUploadBytes: number },
) {
  const bootstrap = services.appleBootstrap;
  const maxBytes = services.maxUploadBytes;
  await scope.register(async (s) => {
    await s.register(multipart, { limits: { fileSize: maxBytes } });

    for (const base of ['/bootstrap', '/mdm/apple/bootstrap']) {
      s.post(base, async (req) => {
        await upload(req, bootstrap, maxBytes);
        return {};
      });

      s.get(`${base}/:team_id/metadata`, async (req) => {
        const teamId = teamParam(req);
        const forUpdate = queryFlag((req.query as Record<string, unknown>).for_update, 'for_update');
        // for_update asks as a writer (Fleet's way for gitops, which may write but not read).
        authorize(req, 'profile', forUpdate ? 'write' : 'read', teamScope(teamId));
        return metadataJson(await bootstrap.metadata(teamId));
      });

      s.delete(`${base}/:team_id`, async (req) => {
        const teamId = teamParam(req);
        authorize(req, 'profile', 'write', teamScope(teamId));
        await bootstrap.delete(teamId, req.viewer!);
        return {};
      });

      s.get(`${base}/summary`, async (req) => {
        const q = req.query as Record<string, unknown>;
        const teamId = teamIdFrom(q) ?? 0;
        authorize(req, 'profile', 'read', teamScope(teamId));
        return bootstrap.summary(teamId);
      });
    }

    for (const path of ['/bootstrap', '/mdm/bootstrap', '/mdm/apple/bootstrap']) {
      s.get(path, { config: { public: true }, exposeHeadRoute: false }, (req, reply) =>
        download(req, reply, bootstrap, false),
      );
      s.head(path, { config: { public: true } }, (req, reply) => download(req, reply, bootstrap, true));
    }
  });
}
