import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { idParam } from '../../admin/routeParams.js';
import { adminQuery, authorize, listQueryFields, ordering, paging, viewerOf } from '../../http/adminApi.js';
import type { HostActionService } from './hostActions.js';
import type { CommandService } from './service.js';
import { parseStatusFilter } from './statusFilter.js';
import type { CommandOrderKey } from './store.js';

/** Fleet caps `commands/run` bodies at 2 MiB. */
export const maxCommandBodyBytes = 2 * 1024 * 1024;

const runBody = z
  .object({
    command: z.string().min(1, 'command is required'),
    host_uuids: z.array(z.string().min(1)).min(1, 'host_uuids must name at least one host').max(10_000),
  })
  .strict();

const listQuery = adminQuery({
  ...listQueryFields,
  host_identifier: z.string().optional(),
  request_type: z.string().optional(),
  command_status: z.string().optional(),
  token: z.string().optional(),
});

const resultsQuery = adminQuery({
  command_uuid: z.string().min(1, 'command_uuid is required'),
  token: z.string().optional(),
});

const lockQuery = adminQuery({
  view_pin: z.enum(['true', 'false', '1', '0']).optional(),
  token: z.string().optional(),
});

const orderKeys: CommandOrderKey[] = [
  'updated_at',
  'request_type',
  'hostname',
  'status',
  'command_uuid',
  'host_uuid',
];

/** Fleet's admin commands API (run, list, results) and host actions (refetch, lock, unlock, wipe), for every platform. */
export function registerCommandRoutes(
  scope: FastifyInstance,
  deps: { commands: CommandService; hostActions: HostActionService },
) {
  const { commands, hostActions } = deps;
  // The wipe body is Fleet's: each platform family's options under its name, e.g. {"windows": {"wipe_type": …}}.
  const wipeBody = z
    .object(
      Object.fromEntries(
        Object.entries(hostActions.wipeOptionSchemas()).map(([family, schema]) => [
          family,
          schema.optional(),
        ]),
      ),
    )
    .strict()
    .optional();

  scope.post('/commands/run', { bodyLimit: maxCommandBodyBytes }, async (req) => {
    const viewer = authorize(req, 'mdm_command', 'write');
    return commands.run(viewer, runBody.parse(req.body ?? {}));
  });

  scope.get('/commands', async (req) => {
    const viewer = authorize(req, 'mdm_command_result', 'read');
    const q = listQuery.parse(req.query ?? {});
    const page = paging(q);
    const order =
      q.order_key === undefined ? { key: 'updated_at', desc: true } : ordering(q, orderKeys, 'updated_at');
    const results = await commands.list(viewer, {
      hostIdentifier: q.host_identifier?.trim() || undefined,
      requestType: q.request_type?.trim() || undefined,
      statuses: parseStatusFilter(q.command_status),
      orderKey: order.key as CommandOrderKey,
      desc: order.desc,
      limit: page.limit,
      offset: page.offset,
    });
    return { results };
  });

  const results = async (req: FastifyRequest) => {
    const viewer = authorize(req, 'mdm_command_result', 'read');
    const q = resultsQuery.parse(req.query ?? {});
    return { results: await commands.results(viewer, q.command_uuid) };
  };
  scope.get('/commands/results', results);
  // Deprecated aliases Fleet still serves.
  scope.get('/mdm/commandresults', results);
  scope.get('/mdm/apple/commandresults', results);

  scope.post('/hosts/:id/refetch', async (req) => {
    const id = idParam(req);
    await hostActions.refetch(viewerOf(req), id);
    return {};
  });

  scope.post('/hosts/:id/lock', async (req, reply) => {
    const id = idParam(req);
    const q = lockQuery.parse(req.query ?? {});
    const res = await hostActions.lock(viewerOf(req), id);
    if (q.view_pin === 'true' || q.view_pin === '1') return { unlock_pin: res.unlockPin ?? '' };
    return reply.status(204).send();
  });

  scope.post('/hosts/:id/unlock', async (req, reply) => {
    const id = idParam(req);
    const res = await hostActions.unlock(viewerOf(req), id);
    if (res.unlockPin !== null) return { host_id: id, unlock_pin: res.unlockPin };
    return reply.status(204).send();
  });

  scope.post('/hosts/:id/wipe', async (req, reply) => {
    const id = idParam(req);
    const body = wipeBody.parse(req.body ?? undefined);
    await hostActions.wipe(viewerOf(req), id, body ?? {});
    return reply.status(204).send();
  });
}
