import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuthService, Viewer } from '../admin/authService.js';
import { isAllowed, type Action, type Resource } from '../admin/roles.js';
import { badRequest, forbidden, unauthenticated } from './errors.js';
import { boundedInt, maxId, maxPage, maxPerPage } from './numbers.js';

declare module 'fastify' {
  interface FastifyRequest {
    viewer?: Viewer;
  }
  interface FastifyContextConfig {
    /** The route needs no Bearer token (setup, login). */
    public?: boolean;
  }
}

/** Every admin route is served under each of Fleet's version prefixes. */
export const adminPrefixes = ['/api/v1/fleet', '/api/2022-04/fleet', '/api/latest/fleet'];

export type AdminRouteModule = (scope: FastifyInstance) => void | Promise<void>;

export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h?.startsWith('Bearer ')) return h.slice(7).trim() || undefined;
  const q = (req.query as Record<string, unknown> | undefined)?.token;
  return typeof q === 'string' && q ? q : undefined;
}

/** Registers the admin route modules under every prefix, behind Bearer authentication. */
export async function registerAdminApi(app: FastifyInstance, auth: AuthService, modules: AdminRouteModule[]) {
  for (const prefix of adminPrefixes) {
    await app.register(
      async (scope) => {
        scope.addHook('onRequest', async (req) => {
          if (req.routeOptions.config?.public) return;
          req.viewer = await auth.authenticate(bearerToken(req));
        });
        for (const m of modules) await m(scope);
      },
      { prefix },
    );
  }
}

export function viewerOf(req: FastifyRequest): Viewer {
  if (!req.viewer) throw unauthenticated();
  return req.viewer;
}

/** Throws 403 unless the caller may do `action` on `resource` in `teamId`; returns the viewer. */
export function authorize(
  req: FastifyRequest,
  resource: Resource,
  action: Action,
  teamId?: number | null,
): Viewer {
  const viewer = viewerOf(req);
  if (!isAllowed(viewer.principal, resource, action, teamId)) throw forbidden();
  return viewer;
}

/**
 * Reads Fleet's team selector: `team_id` or its newer alias `fleet_id`. Returns undefined when
 * absent, null for 0 ("No team") when `zeroIsNoTeam`, else the number.
 */
export function teamIdFrom(
  source: Record<string, unknown> | undefined,
  opts: { zeroIsNoTeam?: boolean } = {},
): number | null | undefined {
  const raw = source?.team_id ?? source?.fleet_id;
  if (raw === undefined || raw === '') return undefined;
  if (raw === null) return null;
  const n = boundedInt(raw, 'team_id', 0, maxId);
  if (n === 0 && opts.zeroIsNoTeam) return null;
  return n;
}

/** Parses a route's query string; see `adminQuery`. */
export interface QueryParser<Q> {
  parse(raw: unknown): Q;
}

/**
 * A route's query-string parser. Like Fleet, unknown query parameters are ignored (stripped from
 * the result); the known ones are still validated, and a bad value is a 400 "Bad request" naming
 * the parameter. Bodies are not built with this: each keeps the strictness of its Fleet endpoint.
 */
export function adminQuery<T extends z.ZodRawShape>(shape: T): QueryParser<z.infer<z.ZodObject<T>>> {
  const schema = z.object(shape).strip();
  return {
    parse(raw) {
      const res = schema.safeParse(raw ?? {});
      if (res.success) return res.data;
      const issue = res.error.issues[0];
      const name = issue?.path.length ? String(issue.path[0]) : 'base';
      throw badRequest(`invalid value for ${name}: ${issue?.message ?? 'bad query'}`, name);
    },
  };
}

/**
 * A numeric query parameter in a route's query schema: any shape passes here, and the reader
 * (`paging`, `teamIdFrom`, `boundedInt`) answers anything but a number in range (a repeated
 * parameter included) with a 400 naming it.
 */
export const queryNumberField = z.unknown().optional();

/**
 * The query parameters every Fleet list takes (read by `paging` and `ordering`), as zod fields to
 * spread into a route's own query schema (`adminQuery`).
 */
export const listQueryFields = {
  page: queryNumberField,
  per_page: queryNumberField,
  order_key: z.string().optional(),
  order_direction: z.string().optional(),
};

/**
 * Fleet's list paging: page (0-based, at most `maxPage`) and per_page (1 to `maxPerPage`); none of
 * them means every row, an empty value counts as absent. Anything else is a 400 naming the field.
 */
export function paging(query: Record<string, unknown>): {
  limit?: number;
  offset?: number;
  page: number;
  perPage?: number;
} {
  const given = (v: unknown) => v !== undefined && v !== '';
  const page = given(query.page) ? boundedInt(query.page, 'page', 0, maxPage) : 0;
  const perPageRaw = given(query.per_page)
    ? boundedInt(query.per_page, 'per_page', 1, maxPerPage)
    : undefined;
  const perPage = perPageRaw ?? (given(query.page) ? 20 : undefined);
  if (perPage === undefined) return { page };
  return { limit: perPage, offset: page * perPage, page, perPage };
}

/** order_key / order_direction, checked against the columns a list allows. */
export function ordering(
  query: Record<string, unknown>,
  allowed: string[],
  fallback: string,
): { key: string; desc: boolean } {
  const dir = query.order_direction;
  const key = query.order_key;
  if (dir !== undefined && key === undefined)
    throw badRequest('order_direction requires order_key', 'order_direction');
  if (dir !== undefined && dir !== 'asc' && dir !== 'desc')
    throw badRequest('order_direction must be asc or desc', 'order_direction');
  if (key !== undefined && (typeof key !== 'string' || !allowed.includes(key))) {
    throw badRequest(`order_key must be one of ${allowed.join(', ')}`, 'order_key');
  }
  return { key: (key as string) ?? fallback, desc: dir === 'desc' };
}
