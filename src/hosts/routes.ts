import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { idParam } from '../admin/routeParams.js';
import { adminQuery, queryNumberField, teamIdFrom, viewerOf } from '../http/adminApi.js';
import { isAllowed } from '../admin/roles.js';
import { badRequest, forbidden } from '../http/errors.js';
import type { Services } from '../services.js';
import { hostJson } from './hostJson.js';
import { hostFilterFrom, hostFilterFromDeleteFilters, hostListQuery, hostPageFrom } from './listQuery.js';

// As in Fleet, body keys these endpoints do not know are ignored; the known ones are checked.
const hostIds = z.array(z.number().int().positive()).min(1).max(10_000);
/** Fleet's deleteHostsRequest: `ids`, or `filters` (read by `hostFilterFromDeleteFilters`). */
const deleteBody = z.object({
  ids: z.array(z.number().int().positive()).max(10_000).optional(),
  filters: z.record(z.string(), z.unknown()).nullable().optional(),
});
const transferBody = z.object({
  team_id: z.number().int().min(0).nullable().optional(),
  fleet_id: z.number().int().min(0).nullable().optional(),
  hosts: hostIds,
});
const mdmSummaryQuery = adminQuery({
  team_id: queryNumberField,
  fleet_id: queryNumberField,
  platform: z.string().max(64).optional(),
});
const labelNamesBody = z.object({ labels: z.array(z.string().min(1)).min(1).max(1000) });

/** Hosts: list, count, detail, delete, transfer, manual labels. */
export function registerHostRoutes(scope: FastifyInstance, services: Pick<Services, 'hosts' | 'labels'>) {
  const hosts = services.hosts;

  scope.get('/hosts', async (req) => {
    const q = hostListQuery.parse(req.query);
    const filter = hostFilterFrom(q);
    const rows = await hosts.list(viewerOf(req), filter, hostPageFrom(q));
    return { hosts: rows.map(hostJson), ...(await hosts.mdmSolutionJson(filter)) };
  });

  scope.get('/hosts/count', async (req) => {
    const q = hostListQuery.parse(req.query);
    hostPageFrom(q);
    return { count: await hosts.count(viewerOf(req), hostFilterFrom(q)) };
  });

  // Registered before `/hosts/:id` so `summary` is not read as an id.
  scope.get('/hosts/summary/mdm', async (req) => {
    const q = mdmSummaryQuery.parse(req.query);
    const teamId = teamIdFrom(q);
    return hosts.mdmSummary(viewerOf(req), {
      ...(teamId !== undefined ? { teamId } : {}),
      ...(q.platform ? { platform: q.platform } : {}),
    });
  });

  scope.get('/hosts/:id/mdm', async (req) => hosts.mdmInfo(await hosts.require(viewerOf(req), idParam(req))));

  scope.get('/hosts/identifier/:identifier', async (req) => {
    const { identifier } = req.params as { identifier: string };
    return { host: await hosts.detail(await hosts.requireByIdentifier(viewerOf(req), identifier)) };
  });

  scope.get('/hosts/:id', async (req) => {
    const host = await hosts.require(viewerOf(req), idParam(req));
    return { host: await hosts.detail(host) };
  });

  scope.delete('/hosts/:id', async (req) => {
    await hosts.delete(viewerOf(req), [idParam(req)]);
    return {};
  });

  // By `ids`, or by `filters` with `ids` absent, as Fleet's DeleteHosts: not both, not neither.
  scope.post('/hosts/delete', async (req) => {
    const b = deleteBody.parse(req.body);
    const ids = b.ids ?? [];
    const filter = b.filters ? hostFilterFromDeleteFilters(b.filters) : undefined;
    if (!ids.length && !filter) throw badRequest('list of ids or filters must be specified');
    if (ids.length && filter && Object.keys(filter).length) {
      throw badRequest('Cannot specify a list of ids and filters at the same time');
    }
    if (ids.length) await hosts.delete(viewerOf(req), ids);
    else await hosts.deleteMatching(viewerOf(req), filter!);
    return {};
  });

  scope.post('/hosts/transfer', async (req) => {
    const b = transferBody.parse(req.body);
    if (b.team_id !== undefined && b.fleet_id !== undefined)
      throw badRequest('give team_id or fleet_id, not both', 'team_id');
    const raw = b.team_id !== undefined ? b.team_id : (b.fleet_id ?? null);
    await hosts.transfer(viewerOf(req), raw === 0 ? null : raw, b.hosts);
    return {};
  });

  // Adds (POST) or removes (DELETE) a host's manual labels, named in the body.
  const setHostLabels = (add: boolean) => async (req: FastifyRequest) => {
    const b = labelNamesBody.parse(req.body);
    const viewer = viewerOf(req);
    const host = await hosts.require(viewer, idParam(req), 'read');
    if (!isAllowed(viewer.principal, 'label', 'write')) throw forbidden();
    await services.labels.setHostLabels(viewer, host.id, b.labels, add);
    return {};
  };
  scope.post('/hosts/:id/labels', setHostLabels(true));
  scope.delete('/hosts/:id/labels', setHostLabels(false));
}
