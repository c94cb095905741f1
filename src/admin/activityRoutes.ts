import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { adminQuery, authorize, paging, queryNumberField, viewerOf } from '../http/adminApi.js';
import type { Services } from '../services.js';
import { activityJson } from './activityJson.js';
import { idParam } from './routeParams.js';

const listQuery = adminQuery({
  page: queryNumberField,
  per_page: queryNumberField,
  order_key: z.enum(['id', 'created_at']).optional(),
  order_direction: z.enum(['asc', 'desc']).optional(),
  activity_type: z.string().optional(),
});

/** The audit log: globally and per host, newest first, with Fleet's paging meta. */
export function registerActivityRoutes(
  scope: FastifyInstance,
  services: Pick<Services, 'activities' | 'hosts'>,
) {
  async function page(query: unknown, hostId?: number) {
    const q = listQuery.parse(query);
    const p = paging(q);
    const rows = await services.activities.list({
      limit: p.limit,
      offset: p.offset,
      desc: q.order_direction !== 'asc',
      hostId,
      type: q.activity_type,
    });
    const hasNext = p.limit !== undefined && rows.length > p.limit;
    return {
      activities: (hasNext ? rows.slice(0, p.limit) : rows).map(activityJson),
      meta: { has_next_results: hasNext, has_previous_results: p.page > 0 && p.limit !== undefined },
    };
  }

  scope.get('/activities', async (req) => {
    authorize(req, 'activity', 'read');
    return page(req.query);
  });

  scope.get('/hosts/:id/activities', async (req) => {
    const host = await services.hosts.require(viewerOf(req), idParam(req), 'read');
    return page(req.query, host.id);
  });
}
