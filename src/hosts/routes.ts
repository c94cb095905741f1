import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { idParam } from '../admin/routeParams.js';
import { viewerOf } from '../http/adminApi.js';
import { isAllowed } from '../admin/roles.js';
import { badRequest, forbidden } from '../http/errors.js';
import type { Services } from '../services.js';
import { hostJson } from './hostJson.js';
import { hostFilterFrom, hostListQuery, hostPageFrom } from './listQuery.js';

const hostIds = z.array(z.number().int().positive()).min(1).max(10_000);
const deleteBody = z.object({ ids: hostIds }).strict();
const transferBody = z
  .object({
    team_id: z.number().int().min(0).nullable().optional(),
    fleet_id: z.number().int().min(0).nullable().optional(),
    hosts: hostIds,
  })
  .strict();
const labelNamesBody = z.object({ labels: z.array(z.string().min(1)).min(1).max(1000) }).strict();

/** Hosts: list, count, detail, delete, transfer, manual labels. */
export function registerHostRoutes(scope: FastifyInstance, services: Services) {
  const hosts = services.hosts;

  scope.get('/hosts', async (req) => {
    const q = hostListQuery.parse(req.query);
    const rows = await hosts.list(viewerOf(req), hostFilterFrom(q), hostPageFrom(q));
    return { hosts: rows.map(hostJson) };
  });

  scope.get('/hosts/count', async (req) => {
    const q = hostListQuery.parse(req.query);
    hostPageFrom(q);
    return { count: await hosts.count(viewerOf(req), hostFilterFrom(q)) };
  });

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

  scope.post('/hosts/delete', async (req) => {
    const b = deleteBody.parse(req.body);
    await hosts.delete(viewerOf(req), b.ids);
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
