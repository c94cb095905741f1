import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  adminQuery,
  listQueryFields,
  ordering,
  paging,
  queryNumberField,
  teamIdFrom,
  viewerOf,
} from '../http/adminApi.js';
import type { Services } from '../services.js';
import { idParam } from './routeParams.js';
import { roles } from './roles.js';
import { userJson } from './userJson.js';

// As in Fleet, body keys these endpoints do not know are ignored; the known ones are checked.
const role = z.enum(roles);
const teamRoles = z.array(z.object({ id: z.number().int().positive(), role }).strip());

const createUserBody = z.object({
  name: z.string().min(1).max(255),
  email: z.email().max(255),
  password: z.string().optional(),
  global_role: role.nullable().optional(),
  teams: teamRoles.optional(),
  fleets: teamRoles.optional(),
  api_only: z.boolean().optional(),
  sso_enabled: z.boolean().optional(),
  mfa_enabled: z.boolean().optional(),
  admin_forced_password_reset: z.boolean().optional(),
});

const createApiOnlyBody = z.object({
  name: z.string().min(1).max(255),
  global_role: role.nullable().optional(),
  teams: teamRoles.optional(),
  fleets: teamRoles.optional(),
});

const patchUserBody = z.object({
  name: z.string().min(1).max(255).optional(),
  email: z.email().max(255).optional(),
  password: z.string().optional(),
  old_password: z.string().optional(),
  new_password: z.string().optional(),
  global_role: role.nullable().optional(),
  teams: teamRoles.optional(),
  fleets: teamRoles.optional(),
  sso_enabled: z.boolean().optional(),
  mfa_enabled: z.boolean().optional(),
  position: z.string().max(255).optional(),
  force_password_reset: z.boolean().optional(),
});

const listQuery = adminQuery({
  query: z.string().optional(),
  team_id: queryNumberField,
  fleet_id: queryNumberField,
  ...listQueryFields,
});

/** Users: list, create (also API-only), read, edit, delete, revoke sessions. */
export function registerUserRoutes(scope: FastifyInstance, services: Pick<Services, 'users'>) {
  const users = services.users;

  scope.get('/users', async (req) => {
    const q = listQuery.parse(req.query);
    const page = paging(q);
    const order = ordering(q, ['id', 'name', 'email', 'created_at'], 'name');
    const teamId = teamIdFrom(q);
    const list = await users.list(viewerOf(req), {
      query: q.query?.trim() || undefined,
      teamId: teamId ?? undefined,
      limit: page.limit,
      offset: page.offset,
      orderKey: order.key,
      desc: order.desc,
    });
    const teams = await users.teamObjectsFor(list.flatMap((u) => u.teams));
    return { users: list.map((u) => userJson(u, teams)) };
  });

  scope.post('/users/admin', async (req) => {
    const b = createUserBody.parse(req.body);
    const { user, token } = await users.create(viewerOf(req), { ...b, teams: b.teams ?? b.fleets });
    const json = userJson(user, await users.teamObjectsFor(user.teams));
    return token ? { user: json, token } : { user: json };
  });

  scope.post('/users/api_only', async (req) => {
    const b = createApiOnlyBody.parse(req.body);
    const { user, token } = await users.create(viewerOf(req), {
      name: b.name,
      global_role: b.global_role,
      teams: b.teams ?? b.fleets,
      api_only: true,
    });
    return { user: userJson(user, await users.teamObjectsFor(user.teams)), token };
  });

  scope.get('/users/:id', async (req) => {
    const user = await users.get(viewerOf(req), idParam(req));
    return { user: userJson(user, await users.teamObjectsFor(user.teams)) };
  });

  scope.patch('/users/:id', async (req) => {
    const b = patchUserBody.parse(req.body);
    const user = await users.update(viewerOf(req), idParam(req), {
      ...b,
      password: b.new_password ?? b.password,
      teams: b.teams ?? b.fleets,
    });
    return { user: userJson(user, await users.teamObjectsFor(user.teams)) };
  });

  scope.delete('/users/:id', async (req) => {
    await users.delete(viewerOf(req), idParam(req));
    return {};
  });

  scope.delete('/users/:id/sessions', async (req) => {
    await users.deleteSessions(viewerOf(req), idParam(req));
    return {};
  });
}
