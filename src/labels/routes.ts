import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idParam, queryFlag } from '../admin/routeParams.js';
import { visibleTeamIds } from '../admin/roles.js';
import { adminQuery, authorize, listQueryFields, ordering, paging, viewerOf } from '../http/adminApi.js';
import { hostJson } from '../hosts/hostJson.js';
import { hostFilterFrom, hostListQuery, hostPageFrom } from '../hosts/listQuery.js';
import { invalid } from '../http/errors.js';
import type { Services } from '../services.js';
import { labelJson, labelSummaryJson } from './labelJson.js';
import type { LabelRow } from './store.js';

// As in Fleet, body keys these endpoints do not know are ignored; the known ones are checked. PATCH
// takes no `platform` (Fleet's ModifyLabelPayload has none), so the key in its docs' example is
// ignored: a label's platform is set when it is created.
const createBody = z.object({
  name: z.string().min(1).max(255),
  description: z.string().max(1023).optional(),
  query: z.string().max(100_000).optional(),
  platform: z.string().max(255).optional(),
  hosts: z.array(z.string().min(1)).max(100_000).optional(),
  // Fleet's UI sends the membership type; Fleet derives it from `query` / `hosts` / `criteria`.
  label_membership_type: z.enum(['dynamic', 'manual', 'host_vitals']).optional(),
  criteria: z.unknown().optional(),
});

const patchBody = z.object({
  name: z.string().min(1).max(255).optional(),
  description: z.string().max(1023).optional(),
  query: z.string().optional(),
  hosts: z.array(z.string().min(1)).max(100_000).optional(),
});

const listQuery = adminQuery({
  ...listQueryFields,
  query: z.string().optional(),
  include_host_counts: z.string().optional(),
});

/** Labels: CRUD, summary and the hosts of a label. */
export function registerLabelRoutes(
  scope: FastifyInstance,
  services: Pick<Services, 'labels' | 'labelStore' | 'hosts'>,
) {
  const { labels, labelStore } = services;

  async function full(l: LabelRow, visible: 'all' | number[]) {
    const counts = await labelStore.hostCounts([l.id], visible);
    const hostIds = l.label_membership_type === 1 ? await labelStore.memberHostIds(l.id) : null;
    return labelJson(l, { hostCount: counts.get(l.id) ?? 0, hostIds });
  }

  scope.get('/labels', async (req) => {
    const q = listQuery.parse(req.query);
    const viewer = authorize(req, 'label', 'read', null);
    const page = paging(q);
    const order = ordering(q, ['id', 'name', 'created_at', 'updated_at'], 'name');
    const rows = await labelStore.list({
      ...page,
      orderKey: order.key,
      desc: order.desc,
      query: q.query?.trim() || undefined,
    });
    const withCounts = queryFlag(q.include_host_counts, 'include_host_counts') ?? true;
    const counts = withCounts
      ? await labelStore.hostCounts(
          rows.map((r) => r.id),
          visibleTeamIds(viewer.principal, 'host'),
        )
      : new Map<number, number>();
    return { labels: rows.map((l) => labelJson(l, { hostCount: counts.get(l.id) ?? 0, hostIds: null })) };
  });

  scope.get('/labels/summary', async (req) => {
    authorize(req, 'label', 'read', null);
    return { labels: (await labelStore.list({ orderKey: 'name' })).map(labelSummaryJson) };
  });

  scope.post('/labels', async (req) => {
    const { label_membership_type: _type, criteria, ...b } = createBody.parse(req.body);
    const viewer = authorize(req, 'label', 'write');
    if (criteria !== undefined && criteria !== null) {
      throw invalid('host vitals labels (criteria) are not supported', 'criteria');
    }
    const label = await labels.create(viewer, b);
    return { label: await full(label, 'all') };
  });

  scope.get('/labels/:id', async (req) => {
    const viewer = authorize(req, 'label', 'read', null);
    const label = await labels.require(idParam(req));
    return { label: await full(label, visibleTeamIds(viewer.principal, 'host')) };
  });

  scope.patch('/labels/:id', async (req) => {
    const b = patchBody.parse(req.body);
    const viewer = authorize(req, 'label', 'write');
    const label = await labels.update(viewer, idParam(req), b);
    return { label: await full(label, 'all') };
  });

  scope.get('/labels/:id/hosts', async (req) => {
    const q = hostListQuery.parse(req.query);
    const viewer = viewerOf(req);
    authorize(req, 'label', 'read', null);
    const label = await labels.require(idParam(req));
    const filter = { ...hostFilterFrom(q), labelId: label.id };
    const rows = await services.hosts.list(viewer, filter, hostPageFrom(q));
    return { hosts: rows.map(hostJson), ...(await services.hosts.mdmSolutionJson(filter)) };
  });

  scope.delete('/labels/id/:id', async (req) => {
    const viewer = authorize(req, 'label', 'write');
    await labels.deleteById(viewer, idParam(req));
    return {};
  });

  scope.delete('/labels/:name', async (req) => {
    const viewer = authorize(req, 'label', 'write');
    await labels.deleteByName(viewer, (req.params as { name: string }).name);
    return {};
  });
}
