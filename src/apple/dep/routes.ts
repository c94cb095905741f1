import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { idParam } from '../../admin/routeParams.js';
import { authorize } from '../../http/adminApi.js';
import { badRequest } from '../../http/errors.js';
import { maxId } from '../../http/numbers.js';
import type { AppleDep } from './index.js';
import { maxServerTokenBytes } from './serverToken.js';

/** Reads the uploaded server token: the multipart file field `token`. */
async function uploadedToken(req: FastifyRequest): Promise<Buffer> {
  if (!req.isMultipart()) throw badRequest('send the server token as multipart field "token"', 'token');
  let found: Buffer | undefined;
  try {
    for await (const part of req.parts({ limits: { fileSize: maxServerTokenBytes, files: 2, fields: 10 } })) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer();
        if (part.file.truncated) throw badRequest('the token file is too large', 'token');
        if (part.fieldname === 'token') found = bytes;
      } else if (part.fieldname === 'token' && typeof part.value === 'string') {
        found = Buffer.from(part.value);
      }
    }
  } catch (err) {
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode < 500) throw badRequest(e.message ?? 'bad multipart body', 'token');
    throw err;
  }
  if (!found || found.length === 0) throw badRequest('multipart field "token" is missing or empty', 'token');
  return found;
}

const teamId = z.number().int().min(0).max(maxId).nullable().optional();
/** Fleet's body: `macos_team_id`, `ios_team_id`, `ipados_team_id` (newer clients: `*_fleet_id`). */
const teamsBody = z
  .object({
    macos_team_id: teamId,
    ios_team_id: teamId,
    ipados_team_id: teamId,
    macos_fleet_id: teamId,
    ios_fleet_id: teamId,
    ipados_fleet_id: teamId,
  })
  .passthrough();

/**
 * ABM server tokens (global admins), Fleet's paths and the newer "Apple Business" spellings:
 * `/abm_tokens` and `/ab_tokens`, `/mdm/apple/abm_public_key` and `/mdm/apple/ab_public_key`.
 */
export async function registerAppleDepRoutes(scope: FastifyInstance, services: { appleDep: AppleDep }) {
  const { tokens } = services.appleDep;
  await scope.register(async (s) => {
    await s.register(multipart, { limits: { fileSize: maxServerTokenBytes } });

    for (const path of ['/mdm/apple/abm_public_key', '/mdm/apple/ab_public_key']) {
      s.get(path, async (req) => {
        authorize(req, 'mdm_apple_setup', 'write');
        const pem = await tokens.publicKeyPem();
        return { public_key: Buffer.from(pem).toString('base64') };
      });
    }

    for (const base of ['/abm_tokens', '/ab_tokens']) {
      s.post(base, async (req) => {
        authorize(req, 'mdm_apple_setup', 'write');
        return { abm_token: await tokens.upload(await uploadedToken(req)) };
      });

      s.get(base, async (req) => {
        authorize(req, 'mdm_apple_setup', 'read');
        return { abm_tokens: await tokens.list() };
      });

      // A count is not sensitive: anyone who may read the app config (Fleet; gitops needs it).
      s.get(`${base}/count`, async (req) => {
        authorize(req, 'app_config', 'read');
        return { count: await tokens.count() };
      });

      s.delete(`${base}/:id`, async (req, reply) => {
        authorize(req, 'mdm_apple_setup', 'write');
        await tokens.delete(idParam(req));
        return reply.code(204).send();
      });

      // Flotilla's own (Fleet has no endpoint): forget the token's sync cursor, so the next run of
      // the DEP sync fetches every device again. 404 for an unknown token; 202: the sync does it.
      s.post(`${base}/:id/resync`, async (req, reply) => {
        authorize(req, 'mdm_apple_setup', 'write');
        await services.appleDep.sync.requestTokenResync(idParam(req));
        return reply.code(202).send({});
      });

      s.patch(`${base}/:id/renew`, async (req) => {
        authorize(req, 'mdm_apple_setup', 'write');
        const id = idParam(req);
        return { abm_token: await tokens.renew(id, await uploadedToken(req)) };
      });

      for (const sub of ['teams', 'fleets']) {
        s.patch(`${base}/:id/${sub}`, async (req) => {
          authorize(req, 'mdm_apple_setup', 'write');
          const id = idParam(req);
          const parsed = teamsBody.safeParse(req.body ?? {});
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            const name = issue?.path.length ? String(issue.path[0]) : 'base';
            throw badRequest(`invalid value for ${name}: ${issue?.message ?? 'bad body'}`, name);
          }
          const b = parsed.data;
          return {
            abm_token: await tokens.updateTeams(id, {
              macos_team_id: b.macos_team_id ?? b.macos_fleet_id,
              ios_team_id: b.ios_team_id ?? b.ios_fleet_id,
              ipados_team_id: b.ipados_team_id ?? b.ipados_fleet_id,
            }),
          };
        });
      }
    }
  });
}
