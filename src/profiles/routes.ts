import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { idParam } from '../admin/routeParams.js';
import { authorize, paging, teamIdFrom } from '../http/adminApi.js';
import { attachmentDisposition } from '../http/contentDisposition.js';
import { HttpError, badRequest, notFound } from '../http/errors.js';
import type { Services } from '../services.js';
import type { BatchItem, LabelSelection } from './service.js';

const labelList = z.array(z.string().min(1)).optional();
const batchBody = z
  .object({
    profiles: z
      .array(
        z
          .object({
            name: z.string().min(1),
            profile: z.string(),
            labels: labelList,
            labels_include_all: labelList,
            labels_include_any: labelList,
            labels_exclude_any: labelList,
          })
          .strict(),
      )
      .nullable(),
  })
  .strict();

const resendBatchBody = z
  .object({
    profile_uuid: z.string().min(1),
    filters: z.object({ profile_status: z.enum(['failed', 'verified', 'verifying']) }).strict(),
  })
  .strict();

const labelFields = new Set(['labels_include_all', 'labels_include_any', 'labels_exclude_any', 'labels']);

/** Reads the multipart upload: one `profile` file, `team_id`, and repeated label fields. */
async function readUpload(req: FastifyRequest, maxBytes: number) {
  if (!req.isMultipart())
    throw badRequest('request must be multipart/form-data with a "profile" file', 'profile');
  let file: { filename: string; bytes: Buffer } | undefined;
  const fields: Record<string, string[]> = {};
  try {
    for await (const part of req.parts({ limits: { fileSize: maxBytes, files: 1 } })) {
      if (part.type === 'file') {
        if (part.fieldname !== 'profile') {
          await part.toBuffer();
          continue;
        }
        file = { filename: part.filename, bytes: await part.toBuffer() };
      } else {
        (fields[part.fieldname] ??= []).push(String(part.value));
      }
    }
  } catch (err) {
    const e = err as { code?: string; statusCode?: number; message?: string };
    if (e.code === 'FST_REQ_FILE_TOO_LARGE' || e.statusCode === 413) {
      throw new HttpError(413, 'Request Entity Too Large', [
        { name: 'profile', reason: `profile exceeds the max size limit of ${maxBytes} bytes` },
      ]);
    }
    if (e.statusCode && e.statusCode < 500) throw badRequest(e.message ?? 'bad multipart body', 'profile');
    throw err;
  }
  if (!file) throw badRequest('no file headers for profile', 'profile');
  for (const k of Object.keys(fields)) {
    if (k !== 'team_id' && k !== 'fleet_id' && !labelFields.has(k)) {
      throw badRequest(`unsupported key provided: "${k}"`, k);
    }
  }
  const labels: LabelSelection = {
    labels_include_all: fields.labels_include_all ?? fields.labels,
    labels_include_any: fields.labels_include_any,
    labels_exclude_any: fields.labels_exclude_any,
  };
  const teamId = teamIdFrom({ team_id: fields.team_id?.[0], fleet_id: fields.fleet_id?.[0] }) ?? 0;
  return { file, labels, teamId };
}

/** Admin routes for configuration profiles and declarations (Fleet's paths and shapes). */
export function registerProfileRoutes(scope: FastifyInstance, services: Services) {
  const profiles = services.profiles;
  const maxBytes = services.config.profileMaxUploadBytes;

  // Multipart parsing only inside this plugin, so other routes keep their parsers.
  return scope.register(async (s) => {
    await s.register(multipart, { limits: { fileSize: maxBytes } });

    s.post('/configuration_profiles', async (req) => {
      const { file, labels, teamId } = await readUpload(req, maxBytes);
      const viewer = authorize(req, 'profile', 'write', teamId || null);
      const uuid = await profiles.create(viewer, teamId, file, labels);
      return { profile_uuid: uuid };
    });

    s.get('/configuration_profiles', async (req) => {
      const q = req.query as Record<string, unknown>;
      const teamId = teamIdFrom(q) ?? 0;
      authorize(req, 'profile', 'read', teamId || null);
      if (teamId) await profiles.checkTeam(teamId);
      const p = paging(q);
      const { profiles: list, hasNext } = await profiles.list(teamId, p);
      return {
        profiles: list,
        meta: { has_next_results: hasNext, has_previous_results: (p.offset ?? 0) > 0 },
      };
    });

    s.get('/configuration_profiles/summary', async (req) => {
      const teamId = teamIdFrom(req.query as Record<string, unknown>) ?? 0;
      authorize(req, 'profile', 'read', teamId || null);
      if (teamId) await profiles.checkTeam(teamId);
      return { team_id: teamId || null, ...(await profiles.summary(teamId || null)) };
    });

    s.get('/configuration_profiles/:profile_uuid/status', async (req) => {
      const { profile_uuid } = req.params as { profile_uuid: string };
      const { teamId } = await profiles.get(profile_uuid);
      authorize(req, 'profile', 'read', teamId || null);
      return profiles.profileStatus(profile_uuid);
    });

    s.get('/configuration_profiles/:profile_uuid', async (req, reply) => {
      const { profile_uuid } = req.params as { profile_uuid: string };
      const got = await profiles.get(profile_uuid);
      authorize(req, 'profile', 'read', got.teamId || null);
      if ((req.query as Record<string, unknown>).alt === 'media') {
        void reply
          .header(
            'content-type',
            profile_uuid.startsWith('d')
              ? 'application/json'
              : profile_uuid.startsWith('w')
                ? 'application/xml'
                : 'application/x-apple-aspen-config',
          )
          .header('content-disposition', attachmentDisposition(got.download.filename));
        return reply.send(got.download.bytes);
      }
      return { ...got.json };
    });

    s.delete('/configuration_profiles/:profile_uuid', async (req) => {
      const { profile_uuid } = req.params as { profile_uuid: string };
      const { teamId } = await profiles.get(profile_uuid);
      const viewer = authorize(req, 'profile', 'write', teamId || null);
      await profiles.delete(viewer, profile_uuid);
      return {};
    });

    const batch = async (req: FastifyRequest, reply: import('fastify').FastifyReply) => {
      const q = req.query as Record<string, unknown>;
      let teamId = teamIdFrom(q) ?? 0;
      if (typeof q.team_name === 'string' && q.team_name) {
        const id = await services.profiles.teamIdByName(q.team_name);
        if (id === undefined) throw notFound('Team');
        teamId = id;
      }
      const viewer = authorize(req, 'profile', 'write', teamId || null);
      const body = batchBody.parse(req.body ?? {});
      const items: BatchItem[] = (body.profiles ?? []).map((p) => ({
        name: p.name,
        profile: Buffer.from(p.profile, 'base64'),
        labels_include_all: p.labels_include_all ?? p.labels,
        labels_include_any: p.labels_include_any,
        labels_exclude_any: p.labels_exclude_any,
      }));
      const dryRun = q.dry_run === 'true' || q.dry_run === '1';
      await profiles.batchReplace(viewer, teamId, items, dryRun);
      return reply.status(204).send();
    };
    s.post('/configuration_profiles/batch', batch);
    s.post('/mdm/profiles/batch', batch);

    s.post('/configuration_profiles/resend/batch', async (req, reply) => {
      const body = resendBatchBody.parse(req.body ?? {});
      const { teamId } = await profiles.get(body.profile_uuid);
      const viewer = authorize(req, 'profile', 'write', teamId || null);
      await profiles.resendBatch(viewer, body.profile_uuid, body.filters.profile_status);
      return reply.status(202).send({});
    });

    s.post('/hosts/:id/configuration_profiles/:profile_uuid/resend', async (req, reply) => {
      const { profile_uuid } = req.params as { profile_uuid: string };
      const hostId = idParam(req);
      const host = await services.hostStore.getById(hostId);
      if (!host) throw notFound('Host');
      const viewer = authorize(req, 'profile', 'write', host.team_id ?? null);
      await profiles.resend(
        viewer,
        { id: hostId, uuid: host.uuid, display_name: host.computer_name || host.hostname },
        profile_uuid,
      );
      return reply.status(202).send({});
    });
  });
}
