import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { authorize, teamIdFrom } from '../../http/adminApi.js';
import { badRequest, invalid } from '../../http/errors.js';
import { maxId } from '../../http/numbers.js';
import type { AdeEnrollmentService } from './enrollService.js';
import {
  MachineInfoError,
  parseDeviceInfoParam,
  parseMachineInfoCms,
  type MachineInfo,
} from './machineInfo.js';
import type { SetupAssistantService } from './setupAssistants.js';

/** The content type Setup Assistant posts its signed machine info with. */
export const machineInfoContentType = 'application/pkcs7-signature';

/**
 * The machine info of an ADE enroll request, where Fleet looks for it: the
 * `x-apple-aspen-deviceinfo` header, else the `deviceinfo` query (end-user authentication), else a
 * CMS-signed body sent as `application/pkcs7-signature`. Unreadable machine info is a 400 with
 * Fleet's messages.
 */
export function machineInfoOf(req: FastifyRequest): { machineInfo?: MachineInfo; fromQuery: boolean } {
  const header = req.headers['x-apple-aspen-deviceinfo'];
  const q = req.query as Record<string, unknown>;
  const query = typeof q.deviceinfo === 'string' ? q.deviceinfo : '';
  const value = typeof header === 'string' && header ? header : query;
  if (value) {
    try {
      return { machineInfo: parseDeviceInfoParam(value), fromQuery: !header };
    } catch (err) {
      if (err instanceof MachineInfoError)
        throw badRequest('unable to parse deviceinfo header', 'deviceinfo');
      throw err;
    }
  }
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  if (type === machineInfoContentType && Buffer.isBuffer(req.body) && req.body.length > 0) {
    try {
      return { machineInfo: parseMachineInfoCms(req.body), fromQuery: false };
    } catch (err) {
      if (err instanceof MachineInfoError) throw badRequest('unable to parse machine info', 'machine_info');
      throw err;
    }
  }
  return { fromQuery: false };
}

/**
 * The ADE answer of `/api/mdm/apple/enroll?token=<automatic token>`: Apple's 403 JSON when the OS
 * must be updated first, else the signed enrollment profile.
 */
export async function answerAdeEnroll(
  req: FastifyRequest,
  reply: FastifyReply,
  ade: Pick<AdeEnrollmentService, 'enroll'>,
  sendProfile: (reply: FastifyReply, profile: Buffer) => FastifyReply,
) {
  const { machineInfo, fromQuery } = machineInfoOf(req);
  const q = req.query as Record<string, unknown>;
  const ref = typeof q.enrollment_reference === 'string' ? q.enrollment_reference : undefined;
  const res = await ade.enroll({ machineInfo, machineInfoFromQuery: fromQuery, enrollmentReference: ref });
  if (res.kind === 'software_update_required') {
    // Byte for byte what Fleet writes (Go's JSON encoder ends the document with a newline).
    return reply
      .code(403)
      .header('content-type', 'application/json')
      .send(`${JSON.stringify(res.body)}\n`);
  }
  return sendProfile(reply, res.profile);
}

const assistantBody = z.object({
  team_id: z.number().int().min(0).max(maxId).nullable().optional(),
  fleet_id: z.number().int().min(0).max(maxId).nullable().optional(),
  name: z.string(),
  enrollment_profile: z.unknown(),
});

/** Fleet's team selector where 0 means No team. */
const teamOf = (id: number | null | undefined) => (id ? id : null);

/** `POST|GET|DELETE /enrollment_profiles/automatic`: a team's custom setup assistant. */
export async function registerSetupAssistantRoutes(
  scope: FastifyInstance,
  services: { appleSetupAssistants: SetupAssistantService },
) {
  const assistants = services.appleSetupAssistants;
  const path = '/enrollment_profiles/automatic';

  scope.post(path, async (req) => {
    const parsed = assistantBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const name = issue?.path.length ? String(issue.path[0]) : 'base';
      throw badRequest(`invalid value for ${name}: ${issue?.message ?? 'bad body'}`, name);
    }
    const b = parsed.data;
    const teamId = teamOf(b.team_id ?? b.fleet_id);
    const viewer = authorize(req, 'profile', 'write', teamId);
    if (!b.name.trim()) throw invalid('name is required', 'name');
    const profile = b.enrollment_profile;
    if (!profile || typeof profile !== 'object' || Array.isArray(profile)) {
      throw invalid('enrollment_profile must be a JSON object (the DEP profile)', 'enrollment_profile');
    }
    return assistants.set(teamId, b.name, profile as Record<string, unknown>, viewer);
  });

  scope.get(path, async (req) => {
    const teamId = teamOf(teamIdFrom(req.query as Record<string, unknown>));
    authorize(req, 'profile', 'read', teamId);
    return assistants.get(teamId);
  });

  scope.delete(path, async (req, reply) => {
    const teamId = teamOf(teamIdFrom(req.query as Record<string, unknown>));
    const viewer = authorize(req, 'profile', 'write', teamId);
    await assistants.delete(teamId, viewer);
    return reply.code(204).send();
  });
}
