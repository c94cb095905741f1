import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z, ZodError } from 'zod';
import { idParam } from '../admin/routeParams.js';
import { canLockWipeHost, isAllowed } from '../admin/roles.js';
import { adminQuery, authorize, queryNumberField, teamIdFrom, viewerOf } from '../http/adminApi.js';
import { badRequest, forbidden, notFound } from '../http/errors.js';
import { maxId } from '../http/numbers.js';
import type { HostRow } from '../hosts/store.js';
import type { DiskEncryptionService } from './service.js';

const teamIdField = z.number().int().min(0).max(maxId).nullable().optional();

// Fleet decodes these bodies leniently: unknown keys are ignored, a missing
// `enable_disk_encryption` is false (POST) or "no change" (the older PATCH).
const updateBody = z
  .object({
    team_id: teamIdField,
    fleet_id: teamIdField,
    enable_disk_encryption: z.boolean().optional(),
    windows_require_bitlocker_pin: z.boolean().nullable().optional(),
  })
  .strip();

const summaryQuery = adminQuery({ team_id: queryNumberField, fleet_id: queryNumberField });

/** A body Fleet could not decode is its 400, naming the field. */
function parseBody(raw: unknown) {
  try {
    return updateBody.parse(raw ?? {});
  } catch (err) {
    if (!(err instanceof ZodError)) throw err;
    const issue = err.issues[0];
    const name = issue?.path.length ? String(issue.path[0]) : 'base';
    throw badRequest(`invalid value for ${name}: ${issue?.message ?? 'bad body'}`, name);
  }
}

/**
 * Disk encryption (FileVault, BitLocker) admin routes, at Fleet's paths: the setting, the summary
 * and a host's escrowed key.
 */
export function registerDiskEncryptionRoutes(
  scope: FastifyInstance,
  deps: {
    diskEncryption: DiskEncryptionService;
    hosts: { getById(id: number): Promise<HostRow | undefined> };
  },
) {
  const { diskEncryption } = deps;

  /** The team a body names: null for no team (absent or null); a team id must exist (404). */
  const bodyTeam = (b: z.infer<typeof updateBody>) => b.team_id ?? b.fleet_id ?? null;

  // POST /disk_encryption: turn disk encryption on or off for a team or for hosts in no team (204).
  scope.post('/disk_encryption', async (req, reply) => {
    const b = parseBody(req.body);
    const teamId = bodyTeam(b);
    const viewer = authorize(req, 'profile', 'write', teamId);
    await diskEncryption.updateSettings(viewer, teamId, {
      enable: b.enable_disk_encryption ?? false,
      requireBitLockerPin: b.windows_require_bitlocker_pin,
    });
    return reply.status(204).send();
  });

  // Fleet's deprecated form of the same (it only ever set disk encryption).
  scope.patch('/mdm/apple/settings', async (req, reply) => {
    const b = parseBody(req.body);
    const teamId = bodyTeam(b);
    const viewer = authorize(req, 'profile', 'write', teamId);
    await diskEncryption.updateSettings(viewer, teamId, { enable: b.enable_disk_encryption });
    return reply.status(204).send();
  });

  // GET /disk_encryption?team_id=: hosts per disk-encryption status and platform.
  for (const path of ['/disk_encryption', '/mdm/disk_encryption/summary']) {
    scope.get(path, async (req) => {
      const q = summaryQuery.parse(req.query);
      const teamId = teamIdFrom(q, { zeroIsNoTeam: true }) ?? null;
      authorize(req, 'profile', 'read', teamId);
      return diskEncryption.summary(teamId);
    });
  }

  // GET /hosts/:id/encryption_key: the escrowed key, decrypted now (an audited read).
  for (const path of ['/hosts/:id/encryption_key', '/mdm/hosts/:id/encryption_key']) {
    scope.get(path, async (req) => {
      const host = await requireKeyReader(req, deps.hosts);
      const key = await diskEncryption.readKey(viewerOf(req), host);
      if (!key) throw notFound('HostDiskEncryptionKey');
      return { host_id: host.id, encryption_key: key };
    });
  }
}

/**
 * Who may read a host's disk-encryption key: the roles that may lock and wipe it (global admins
 * and maintainers, team admins and maintainers of its team), the rule that guards the other
 * secrets the server hands out. Observers and GitOps may not. An unknown host is a 404 for callers
 * who may list hosts.
 */
async function requireKeyReader(
  req: FastifyRequest,
  hosts: { getById(id: number): Promise<HostRow | undefined> },
): Promise<HostRow> {
  const id = idParam(req);
  const p = viewerOf(req).principal;
  const host = await hosts.getById(id);
  if (!host) {
    if (!isAllowed(p, 'host', 'read')) throw forbidden();
    throw notFound('Host');
  }
  if (!canLockWipeHost(p, host.team_id)) throw forbidden();
  return host;
}
