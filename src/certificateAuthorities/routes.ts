import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Viewer } from '../admin/authService.js';
import { idParam } from '../admin/routeParams.js';
import { viewerOf } from '../http/adminApi.js';
import { forbidden } from '../http/errors.js';
import { createCertificateAuthorityBody, updateCertificateAuthorityBody } from './payload.js';
import type { CertificateAuthorityService } from './service.js';

/**
 * Certificate authorities are server-wide settings holding credentials: global admins manage them,
 * and GitOps applies them; no other role reads or writes them.
 */
function caManager(req: FastifyRequest): Viewer {
  const viewer = viewerOf(req);
  const role = viewer.principal.globalRole;
  if (role !== 'admin' && role !== 'gitops') throw forbidden();
  return viewer;
}

/** `/certificate_authorities`: Fleet's CA API (NDES and custom SCEP proxies). */
export async function registerCertificateAuthorityRoutes(
  scope: FastifyInstance,
  deps: { certificateAuthorities: CertificateAuthorityService },
): Promise<void> {
  const cas = deps.certificateAuthorities;

  scope.get('/certificate_authorities', async (req) => {
    caManager(req);
    return { certificate_authorities: await cas.list() };
  });

  scope.get('/certificate_authorities/:id', async (req) => {
    caManager(req);
    return cas.get(idParam(req));
  });

  scope.post('/certificate_authorities', async (req) => {
    const viewer = caManager(req);
    const body = createCertificateAuthorityBody.parse(req.body ?? {});
    return cas.create(viewer, body);
  });

  scope.patch('/certificate_authorities/:id', async (req) => {
    const viewer = caManager(req);
    const id = idParam(req);
    const body = updateCertificateAuthorityBody.parse(req.body ?? {});
    await cas.update(viewer, id, body);
    return {};
  });

  scope.delete('/certificate_authorities/:id', async (req, reply) => {
    const viewer = caManager(req);
    await cas.delete(viewer, idParam(req));
    return reply.status(204).send();
  });
}
