import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { z } from 'zod';
import { idParam, queryFlag } from '../../admin/routeParams.js';
import { authorize, paging, teamIdFrom } from '../../http/adminApi.js';
import { attachmentDisposition } from '../../http/contentDisposition.js';
import { HttpError, badRequest, notFound } from '../../http/errors.js';
import type { HostRow } from '../../hosts/store.js';
import type { BatchItem, LabelSelection, ProfileService } from './service.js';

const labelList = z.array(z.string().min(1)).nullish();
const base64 = z
  .string()
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be standard base64')
  .refine((v) => v.length % 4 === 0, 'must be standard base64');
/**
 * One profile of a batch as Fleet's clients send it: `contents` (base64), or `profile` as older
 * Flotilla clients did. Unknown fields are ignored, as Fleet's JSON decoding ignores them.
 */
const batchProfile = z.object({
  name: z.string().min(1),
  contents: base64.optional(),
  profile: base64.optional(),
  labels: labelList,
  labels_include_all: labelList,
  labels_include_any: labelList,
  labels_exclude_any: labelList,
});
/** `profiles` is a list (current clients) or the legacy `{"<name>": "<base64>"}` map. */
const batchBody = z.object({
  profiles: z.union([z.array(batchProfile), z.record(z.string().min(1), base64)]).nullish(),
});

const resendBatchBody = z
  .object({
    profile_uuid: z.string().min(1),
    filters: z.object({ profile_status: z.enum(['failed', 'verified', 'verifying']) }).strict(),
  })
  .strict();

const labelFields = new Set(['labels_include_all', 'labels_include_any', 'labels_exclude_any', 'labels']);

/** The batch's profiles as service items, whichever of Fleet's body forms they came in. */
function batchItems(profiles: z.infer<typeof batchBody>['profiles']): BatchItem[] {
  if (!profiles) return [];
  if (!Array.isArray(profiles)) {
    return Object.entries(profiles).map(([name, b64]) => ({ name, profile: Buffer.from(b64, 'base64') }));
  }
  return profiles.map((p) => ({
    name: p.name,
    // Absent contents are an empty file, which validation refuses like Fleet (422 "The file is empty").
    profile: Buffer.from(p.contents ?? p.profile ?? '', 'base64'),
    labels_include_all: (p.labels_include_all ?? p.labels) || undefined,
    labels_include_any: p.labels_include_any || undefined,
    labels_exclude_any: p.labels_exclude_any || undefined,
  }));
}

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
export function registerProfileRoutes(
  scope: FastifyInstance,
  deps: {
    profiles: ProfileService;
    hosts: { getById(id: number): Promise<HostRow | undefined> };
    maxUploadBytes: number;
  },
) {
  const { profiles } = deps;
  const maxBytes = deps.maxUploadBytes;

  // Multipart parsing only inside this plugin, so other routes keep their parsers.
  return scope.register(async (s) => {
    await s.register(multipart, { limits: { fileSize: maxBytes } });

    // Each handler is also served at Fleet's older `/mdm/profiles…` paths, which its clients still call.
    const route = (method: 'get' | 'post' | 'delete', paths: string[], handler: RouteHandlerMethod) => {
      for (const path of paths) s[method](path, handler);
    };

    route('post', ['/configuration_profiles', '/mdm/profiles'], async (req) => {
      const { file, labels, teamId } = await readUpload(req, maxBytes);
      const viewer = authorize(req, 'profile', 'write', teamId || null);
      const uuid = await profiles.create(viewer, teamId, file, labels);
      return { profile_uuid: uuid };
    });

    route('get', ['/configuration_profiles', '/mdm/profiles'], async (req) => {
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

    route('get', ['/configuration_profiles/summary', '/mdm/profiles/summary'], async (req) => {
      const teamId = teamIdFrom(req.query as Record<string, unknown>) ?? 0;
      authorize(req, 'profile', 'read', teamId || null);
      if (teamId) await profiles.checkTeam(teamId);
      return profiles.summary(teamId || null);
    });

    s.get('/configuration_profiles/:profile_uuid/status', async (req) => {
      const { profile_uuid } = req.params as { profile_uuid: string };
      const { teamId } = await profiles.get(profile_uuid);
      authorize(req, 'profile', 'read', teamId || null);
      return profiles.profileStatus(profile_uuid);
    });

    route(
      'get',
      ['/configuration_profiles/:profile_uuid', '/mdm/profiles/:profile_uuid'],
      async (req, reply) => {
        const { profile_uuid } = req.params as { profile_uuid: string };
        const got = await profiles.get(profile_uuid);
        authorize(req, 'profile', 'read', got.teamId || null);
        if ((req.query as Record<string, unknown>).alt === 'media') {
          void reply
            .header('content-type', got.download.contentType)
            .header('content-disposition', attachmentDisposition(got.download.filename));
          return reply.send(got.download.bytes);
        }
        return { ...got.json };
      },
    );

    route('delete', ['/configuration_profiles/:profile_uuid', '/mdm/profiles/:profile_uuid'], async (req) => {
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
        const id = await profiles.teamIdByName(q.team_name);
        if (id === undefined) throw notFound('Team');
        teamId = id;
      }
      const viewer = authorize(req, 'profile', 'write', teamId || null);
      // A body that does not decode is a 400, as Fleet's JSON decoding answers it.
      const parsed = batchBody.safeParse(req.body ?? {});
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw badRequest(`unmarshal profile spec: ${issue.message}`, issue.path.join('.') || 'profiles');
      }
      const body = parsed.data;
      const dryRun = queryFlag(q.dry_run, 'dry_run') ?? false;
      const assumeEnabled = queryFlag(q.assume_enabled, 'assume_enabled') ?? false;
      await profiles.batchReplace(viewer, teamId, batchItems(body.profiles), { dryRun, assumeEnabled });
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

    // The older path puts `resend` before the profile UUID.
    route(
      'post',
      [
        '/hosts/:id/configuration_profiles/:profile_uuid/resend',
        '/hosts/:id/configuration_profiles/resend/:profile_uuid',
      ],
      async (req, reply) => {
        const { profile_uuid } = req.params as { profile_uuid: string };
        const hostId = idParam(req);
        const host = await deps.hosts.getById(hostId);
        if (!host) throw notFound('Host');
        const viewer = authorize(req, 'profile', 'write', host.team_id ?? null);
        await profiles.resend(
          viewer,
          { id: hostId, uuid: host.uuid, display_name: host.computer_name || host.hostname },
          profile_uuid,
        );
        return reply.status(202).send({});
      },
    );

    // Fleet's list of the team profiles that apply to a host, for the platforms that offer it.
    route('get', ['/hosts/:id/configuration_profiles', '/mdm/hosts/:id/profiles'], async (req) => {
      const hostId = idParam(req);
      const host = await deps.hosts.getById(hostId);
      if (!host) throw notFound('Host');
      authorize(req, 'host', 'read', host.team_id ?? null);
      return { host_id: hostId, profiles: await profiles.teamProfilesForHost(host) };
    });
  });
}
