import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { idParam, queryFlag } from '../admin/routeParams.js';
import { isAllowed, visibleTeamIds } from '../admin/roles.js';
import { teamUserJson } from '../admin/userJson.js';
import { adminQuery, authorize, listQueryFields, ordering, paging, viewerOf } from '../http/adminApi.js';
import { forbidden } from '../http/errors.js';
import type { Services } from '../services.js';
import { secretJson } from './teamJson.js';
import type { TeamRow } from './store.js';

// Fleet's JSON decoding ignores body keys it does not know on these endpoints (only spec and config
// applies are strict), so unknown keys are dropped here, at every level; known keys are checked.
// PATCH /teams/:id takes no `host_ids`: Fleet's TeamPayload has none (hosts move with
// POST /hosts/transfer), so the key in its docs' example is ignored like any other.

const secretList = z.array(z.object({ secret: z.string().min(1).max(255) }).strip()).max(1000);

const updates = z.object({
  minimum_version: z.string().nullable().optional(),
  deadline: z.string().nullable().optional(),
});

/** The team settings an admin may change here; later areas own their own endpoints. */
const teamMdmPatch = z.object({
  enable_disk_encryption: z.boolean().optional(),
  windows_require_bitlocker_pin: z.boolean().nullable().optional(),
  macos_updates: updates.optional(),
  ios_updates: updates.optional(),
  ipados_updates: updates.optional(),
  windows_updates: z
    .object({
      deadline_days: z.number().int().nullable().optional(),
      grace_period_days: z.number().int().nullable().optional(),
    })
    .optional(),
  macos_settings: z.object({ custom_settings: z.array(z.unknown()).optional() }).optional(),
  windows_settings: z.object({ custom_settings: z.array(z.unknown()).optional() }).optional(),
  macos_setup: z
    .object({
      bootstrap_package: z.string().nullable().optional(),
      enable_end_user_authentication: z.boolean().optional(),
      macos_setup_assistant: z.string().nullable().optional(),
      enable_release_device_manually: z.boolean().optional(),
      script: z.string().nullable().optional(),
      manual_agent_install: z.boolean().nullable().optional(),
    })
    .optional(),
});

const createTeamBody = z.object({
  name: z.string().min(1).max(255),
  description: z.string().max(1023).optional(),
  secrets: secretList.optional(),
});

const patchTeamBody = z.object({
  name: z.string().min(1).max(255).optional(),
  description: z.string().max(1023).optional(),
  mdm: teamMdmPatch.optional(),
  host_expiry_settings: z
    .object({
      host_expiry_enabled: z.boolean().optional(),
      host_expiry_window: z.number().int().min(0).optional(),
    })
    .optional(),
  webhook_settings: z.record(z.string(), z.unknown()).optional(),
  integrations: z.record(z.string(), z.unknown()).optional(),
});

const secretsBody = z.object({ secrets: secretList });
const addUsersBody = z.object({
  users: z.array(z.object({ id: z.number().int().positive(), role: z.string() })).min(1),
});
const removeUsersBody = z.object({
  users: z.array(z.object({ id: z.number().int().positive() }).strip()).min(1),
});
const listQuery = adminQuery({
  query: z.string().optional(),
  ...listQueryFields,
});
const secretSpecQuery = adminQuery({ dry_run: z.string().optional() });
const globalSecretsBody = z.object({
  spec: z.object({ secrets: secretList }),
  dry_run: z.boolean().optional(),
});

/** Global admins and the admins of this team manage its users. */
function authorizeTeamUsers(req: FastifyRequest, teamId: number) {
  const viewer = viewerOf(req);
  const p = viewer.principal;
  const ok =
    p.globalRole === 'admin' ||
    (!p.globalRole && p.teams.some((t) => t.teamId === teamId && t.role === 'admin'));
  if (!ok) throw forbidden();
  return viewer;
}

/** Teams (also served as /fleets), their enroll secrets and users; global enroll secrets. */
export function registerTeamRoutes(
  scope: FastifyInstance,
  services: Pick<Services, 'teams' | 'enrollSecrets' | 'diskEncryption' | 'endUserAuth'>,
) {
  const teams = services.teams;

  /**
   * One team as its own endpoints answer it. `withUsers`: the users with a role in it, as Fleet's
   * team endpoints that load the whole team list them (`users` is omitempty: left out when none).
   */
  async function teamBody(req: FastifyRequest, team: TeamRow, opts: { withUsers?: boolean } = {}) {
    const [[json], members] = await Promise.all([
      teams.toJson([team], { withSecrets: true }),
      opts.withUsers ? teams.members(team.id) : Promise.resolve([]),
    ]);
    const mayReadSecrets = isAllowed(viewerOf(req).principal, 'enroll_secret', 'read', team.id);
    return {
      ...json,
      secrets: mayReadSecrets ? json.secrets : [],
      ...(members.length ? { users: members.map((u) => teamUserJson(u, team.id)) } : {}),
    };
  }

  for (const base of ['/teams', '/fleets']) {
    scope.get(base, async (req) => {
      const q = listQuery.parse(req.query);
      const viewer = authorize(req, 'team', 'read');
      const page = paging(q);
      const order = ordering(q, ['id', 'name', 'created_at'], 'name');
      const rows = await teams.list({
        visible: visibleTeamIds(viewer.principal, 'team'),
        query: q.query?.trim() || undefined,
        limit: page.limit,
        offset: page.offset,
        orderKey: order.key,
        desc: order.desc,
      });
      const json = await teams.toJson(rows, { withSecrets: true });
      return {
        teams: json.map((t) => ({
          ...t,
          secrets: isAllowed(viewer.principal, 'enroll_secret', 'read', t.id) ? t.secrets : [],
        })),
      };
    });

    scope.post(base, async (req) => {
      const b = createTeamBody.parse(req.body);
      const viewer = authorize(req, 'team', 'write');
      const team = await teams.create(viewer, {
        name: b.name,
        description: b.description,
        secrets: b.secrets?.map((s) => s.secret),
      });
      return { team: await teamBody(req, team) };
    });

    scope.get(`${base}/:id`, async (req) => {
      const id = idParam(req);
      authorize(req, 'team', 'read', id);
      return { team: await teamBody(req, await teams.require(id), { withUsers: true }) };
    });

    scope.patch(`${base}/:id`, async (req) => {
      const id = idParam(req);
      const b = patchTeamBody.parse(req.body);
      const viewer = authorize(req, 'team', 'write', id);
      const { name, description, ...settings } = b;
      // Disk encryption: the PIN rule is checked first; the FileVault profile follows the change.
      const before = b.mdm ? await teams.require(id) : undefined;
      if (before && b.mdm) services.diskEncryption.checkTeamPatch(before, b.mdm);
      // End-user authentication needs an identity provider first (Fleet's 422).
      if (b.mdm?.macos_setup?.enable_end_user_authentication === true)
        await services.endUserAuth.assertIdpConfigured();
      const team = await teams.update(viewer, id, {
        name,
        description,
        settings: Object.keys(settings).length ? settings : undefined,
      });
      if (before) await services.diskEncryption.teamPatched(viewer, before, team);
      return { team: await teamBody(req, team, { withUsers: true }) };
    });

    scope.delete(`${base}/:id`, async (req) => {
      const id = idParam(req);
      // Creating and deleting teams is for global roles only.
      const viewer = authorize(req, 'team', 'write');
      await teams.delete(viewer, id);
      return {};
    });

    scope.get(`${base}/:id/secrets`, async (req) => {
      const id = idParam(req);
      authorize(req, 'enroll_secret', 'read', id);
      await teams.require(id);
      return { secrets: (await services.enrollSecrets.list(id)).map(secretJson) };
    });

    scope.patch(`${base}/:id/secrets`, async (req) => {
      const id = idParam(req);
      const b = secretsBody.parse(req.body);
      const viewer = authorize(req, 'enroll_secret', 'write', id);
      const rows = await services.enrollSecrets.replace(
        viewer,
        id,
        b.secrets.map((s) => s.secret),
      );
      return { secrets: rows.map(secretJson) };
    });

    scope.patch(`${base}/:id/users`, async (req) => {
      const id = idParam(req);
      const b = addUsersBody.parse(req.body);
      const viewer = authorizeTeamUsers(req, id);
      const team = await teams.addUsers(viewer, viewer.principal, id, b.users);
      return { team: await teamBody(req, team, { withUsers: true }) };
    });

    scope.delete(`${base}/:id/users`, async (req) => {
      const id = idParam(req);
      const b = removeUsersBody.parse(req.body);
      const viewer = authorizeTeamUsers(req, id);
      const team = await teams.removeUsers(
        viewer,
        id,
        b.users.map((u) => u.id),
      );
      return { team: await teamBody(req, team, { withUsers: true }) };
    });
  }

  scope.get('/spec/enroll_secret', async (req) => {
    authorize(req, 'enroll_secret', 'read', null);
    const rows = await services.enrollSecrets.list(null);
    return { spec: { secrets: rows.map(secretJson) } };
  });

  scope.post('/spec/enroll_secret', async (req) => {
    const b = globalSecretsBody.parse(req.body);
    // Fleet (and fleetctl) send dry_run as a query parameter; the body flag is kept as well.
    const dryRun = queryFlag(secretSpecQuery.parse(req.query).dry_run, 'dry_run') ?? b.dry_run;
    const viewer = authorize(req, 'enroll_secret', 'write', null);
    if (!dryRun)
      await services.enrollSecrets.replace(
        viewer,
        null,
        b.spec.secrets.map((s) => s.secret),
      );
    return {};
  });
}
