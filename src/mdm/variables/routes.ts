import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Viewer } from '../../admin/authService.js';
import { toApiTime } from '../../db/dialect.js';
import { idParam } from '../../admin/routeParams.js';
import { adminQuery, listQueryFields, paging, viewerOf } from '../../http/adminApi.js';
import { badRequest, forbidden } from '../../http/errors.js';
import type { SecretVariableService } from './secretService.js';

/** Fleet's authorizer for secret variables: global admins, maintainers and GitOps, reads and writes. */
function authorizeSecrets(req: FastifyRequest): Viewer {
  const viewer = viewerOf(req);
  const role = viewer.principal.globalRole;
  if (role !== 'admin' && role !== 'maintainer' && role !== 'gitops') throw forbidden();
  return viewer;
}

const secret = z.object({ name: z.string(), value: z.string() });
const specBody = z.object({ secrets: z.array(secret).nullish(), dry_run: z.boolean().optional() });
const createBody = z.object({ name: z.string(), value: z.string() });
const listQuery = adminQuery(listQueryFields);

/**
 * Parses a JSON body as Fleet's decoding does: a wrong type is a 400. The message names the field
 * and never echoes what was sent (a value may be a secret).
 */
function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const res = schema.safeParse(body ?? {});
  if (res.success) return res.data;
  const issue = res.error.issues[0];
  const field = issue?.path.join('.') || 'base';
  throw badRequest(`invalid value for ${field}`, field);
}

/** Fleet's secret variable API: the GitOps spec and the custom variables (Fleet's paths and shapes). */
export function registerSecretVariableRoutes(
  scope: FastifyInstance,
  deps: { secretVariables: SecretVariableService },
) {
  const { secretVariables } = deps;

  scope.put('/spec/secret_variables', async (req) => {
    authorizeSecrets(req);
    const body = parseBody(specBody, req.body);
    await secretVariables.saveSpec(body.secrets ?? [], body.dry_run ?? false);
    return {};
  });

  scope.post('/custom_variables', async (req) => {
    const viewer = authorizeSecrets(req);
    const body = parseBody(createBody, req.body);
    return secretVariables.create(viewer, body.name, body.value);
  });

  scope.get('/custom_variables', async (req) => {
    authorizeSecrets(req);
    const q = listQuery.parse(req.query) as Record<string, unknown>;
    const p = paging(q);
    const { rows, count } = await secretVariables.list(p);
    return {
      // Fleet answers null, not [], when there are none.
      custom_variables: rows.length
        ? rows.map((r) => ({
            id: r.id,
            name: r.name,
            created_at: toApiTime(r.created_at),
            updated_at: toApiTime(r.updated_at),
          }))
        : null,
      meta: {
        has_next_results: p.limit !== undefined && (p.offset ?? 0) + rows.length < count,
        has_previous_results: p.page > 0,
      },
      count,
    };
  });

  scope.delete('/custom_variables/:id', async (req) => {
    const viewer = authorizeSecrets(req);
    await secretVariables.delete(viewer, idParam(req));
    return {};
  });
}
