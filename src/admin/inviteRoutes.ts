import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { adminQuery, listQueryFields, ordering, paging, viewerOf } from '../http/adminApi.js';
import { addressRateLimit } from '../http/rateLimit.js';
import type { Services } from '../services.js';
import { inviteJson } from './inviteJson.js';
import { idParam } from './routeParams.js';
import { roles } from './roles.js';
import { userJson } from './userJson.js';

// As in Fleet, body keys these endpoints do not know are ignored; the known ones are checked.
const role = z.enum(roles);
const teamRoles = z.array(z.object({ id: z.number().int().positive(), role }).strip());

const inviteFields = {
  name: z.string().max(255).optional(),
  position: z.string().max(255).optional(),
  sso_enabled: z.boolean().optional(),
  mfa_enabled: z.boolean().optional(),
  global_role: role.nullable().optional(),
  teams: teamRoles.optional(),
  fleets: teamRoles.optional(),
};

const createInviteBody = z.object({ email: z.email().max(255), ...inviteFields });
const patchInviteBody = z.object({ email: z.email().max(255).optional(), ...inviteFields });

const listQuery = adminQuery({ query: z.string().optional(), ...listQueryFields });

/** `POST /users`: an invitee creates their account. Role fields are accepted and ignored (the invite's count). */
const createUserFromInviteBody = z.object({
  invite_token: z.string().optional(),
  name: z.string().max(255).optional(),
  email: z.string().max(255).optional(),
  password: z.string().optional(),
  password_confirmation: z.string().optional(),
  position: z.string().max(255).optional(),
  sso_enabled: z.boolean().optional(),
  sso_invite: z.boolean().optional(),
  gravatar_url: z.string().optional(),
  global_role: z.unknown().optional(),
  teams: z.unknown().optional(),
  fleets: z.unknown().optional(),
});

/**
 * The invite token is a path parameter (`GET /invites/:token`), and the request log line names the
 * path: the token is cut out of the request's URL before anything logs it.
 */
async function hideTokenInUrl(req: FastifyRequest) {
  const raw = req.raw.url ?? '';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  req.raw.url = path.replace(/\/invites\/[^/]+$/, '/invites/:token') + (q < 0 ? '' : raw.slice(q));
}

/** Invites: create (mails the link), list, edit, delete, verify a token, create a user from one. */
export function registerInviteRoutes(
  scope: FastifyInstance,
  { invites, rateLimits }: Pick<Services, 'invites' | 'rateLimits'>,
) {
  // The unauthenticated token endpoints are limited per client address.
  const limited = addressRateLimit(rateLimits, 'userTokenAddress');

  scope.post('/invites', async (req) => {
    const b = createInviteBody.parse(req.body);
    const invite = await invites.create(viewerOf(req), { ...b, teams: b.teams ?? b.fleets });
    return { invite: inviteJson(invite, await invites.teamObjectsFor(invite.teams)) };
  });

  scope.get('/invites', async (req) => {
    const q = listQuery.parse(req.query);
    const page = paging(q);
    const order = ordering(q, ['id', 'name', 'email', 'created_at'], 'id');
    const list = await invites.list(viewerOf(req), {
      query: q.query?.trim() || undefined,
      limit: page.limit,
      offset: page.offset,
      orderKey: order.key,
      desc: order.desc,
    });
    const teams = await invites.teamObjectsFor(list.flatMap((i) => i.teams));
    return { invites: list.map((i) => inviteJson(i, teams)) };
  });

  scope.patch('/invites/:id', async (req) => {
    const b = patchInviteBody.parse(req.body);
    const invite = await invites.update(viewerOf(req), idParam(req), { ...b, teams: b.teams ?? b.fleets });
    return { invite: inviteJson(invite, await invites.teamObjectsFor(invite.teams)) };
  });

  scope.delete('/invites/:id', async (req) => {
    await invites.delete(viewerOf(req), idParam(req));
    return {};
  });

  scope.get(
    '/invites/:token',
    { config: { public: true }, onRequest: [hideTokenInUrl, limited] },
    async (req) => {
      const { token } = req.params as { token: string };
      const invite = await invites.verify(token);
      return { invite: inviteJson(invite, await invites.teamObjectsFor(invite.teams)) };
    },
  );

  scope.post('/users', { config: { public: true }, onRequest: limited }, async (req) => {
    const b = createUserFromInviteBody.parse(req.body);
    const user = await invites.createUser(b);
    return { user: userJson(user, await invites.teamObjectsFor(user.teams)) };
  });
}
