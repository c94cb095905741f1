import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RouteHandlerMethod,
  RouteShorthandOptions,
} from 'fastify';
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

/** Fleet's older Apple-only run (`POST /mdm/apple/enqueue`): `device_ids` are host UUIDs. */
const enqueueBody = z
  .object({
    command: z.string().min(1, 'command is required'),
    device_ids: z.array(z.string().min(1)).min(1, 'device_ids must name at least one host').max(10_000),
    no_push: z.boolean().optional(),
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

  // Each handler is also served at the older paths Fleet still serves, which its clients call.
  const route = (
    method: 'get' | 'post' | 'delete' | 'patch',
    paths: string[],
    handler: RouteHandlerMethod,
    opts: RouteShorthandOptions = {},
  ) => {
    for (const path of paths) scope[method](path, opts, handler);
  };

  route(
    'post',
    ['/commands/run', '/mdm/commands/run'],
    async (req) => {
      const viewer = authorize(req, 'mdm_command', 'write');
      return commands.run(viewer, runBody.parse(req.body ?? {}));
    },
    { bodyLimit: maxCommandBodyBytes },
  );

  // Fleet's older Apple-only run: the same command, for Apple hosts, named by `device_ids`.
  route(
    'post',
    ['/mdm/apple/enqueue'],
    async (req) => {
      const viewer = authorize(req, 'mdm_command', 'write');
      const body = enqueueBody.parse(req.body ?? {});
      return commands.run(viewer, { command: body.command, host_uuids: body.device_ids }, 'apple');
    },
    { bodyLimit: maxCommandBodyBytes },
  );

  const listPage = async (req: FastifyRequest, family?: string) => {
    const viewer = authorize(req, 'mdm_command_result', 'read');
    const q = listQuery.parse(req.query ?? {});
    const page = paging(q);
    const order =
      q.order_key === undefined ? { key: 'updated_at', desc: true } : ordering(q, orderKeys, 'updated_at');
    const { results, count } = await commands.list(viewer, {
      family,
      hostIdentifier: q.host_identifier?.trim() || undefined,
      requestType: q.request_type?.trim() || undefined,
      statuses: parseStatusFilter(q.command_status),
      orderKey: order.key as CommandOrderKey,
      desc: order.desc,
      limit: page.limit,
      offset: page.offset,
    });
    const offset = page.offset ?? 0;
    const meta = { has_next_results: offset + results.length < count, has_previous_results: offset > 0 };
    return { results, meta, count };
  };

  // fleet.ListMDMCommandsResponse: the page, its paging metadata and the total count.
  route('get', ['/commands', '/mdm/commands'], async (req) => listPage(req));

  // Fleet's older Apple-only list (fleet.MDMAppleCommand rows: the host UUID is `device_id`).
  route('get', ['/mdm/apple/commands'], async (req) => {
    const { results } = await listPage(req, 'apple');
    return {
      results: results.map((r) => ({
        device_id: r.host_uuid,
        command_uuid: r.command_uuid,
        updated_at: r.updated_at,
        request_type: r.request_type,
        status: r.status,
        hostname: r.hostname,
      })),
    };
  });

  route(
    'get',
    // The deprecated aliases Fleet still serves.
    ['/commands/results', '/mdm/commandresults', '/mdm/apple/commandresults'],
    async (req) => {
      const viewer = authorize(req, 'mdm_command_result', 'read');
      const q = resultsQuery.parse(req.query ?? {});
      return { results: await commands.results(viewer, q.command_uuid) };
    },
  );

  // Turn MDM off (Fleet's 204), also at Fleet's deprecated `PATCH /mdm/hosts/:id/unenroll`.
  route('delete', ['/hosts/:id/mdm'], turnOffMdm);
  route('patch', ['/mdm/hosts/:id/unenroll'], turnOffMdm);
  async function turnOffMdm(req: FastifyRequest, reply: FastifyReply) {
    await hostActions.turnOffMdm(viewerOf(req), idParam(req));
    return reply.status(204).send();
  }

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
