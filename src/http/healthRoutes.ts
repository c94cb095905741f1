import type { FastifyInstance } from 'fastify';
import { probeRead, probeReadWrite } from '../db/readiness.js';
import type { Services } from '../services.js';
import { version } from '../version.js';

export async function registerHealthRoutes(app: FastifyInstance, services: Pick<Services, 'database'>) {
  const { db } = services.database;
  // Liveness, as Fleet's /healthz: the database answers a read. Cheap enough for every probe.
  app.get('/healthz', async (req, reply) => {
    const res = await probeRead(db);
    if (res.ok) return { status: 'ok' };
    req.log.warn({ reason: res.reason, code: res.code }, 'health check failed');
    return reply.status(503).send({ status: 'database unavailable' });
  });
  // Readiness: the database also takes a write (rolled back). A process whose database refuses
  // writes answers 503 with the reason, so a load balancer sends its traffic elsewhere.
  app.get('/readyz', async (req, reply) => {
    const res = await probeReadWrite(db);
    if (res.ok) return { status: 'ok' };
    req.log.warn({ reason: res.reason, code: res.code }, 'readiness check failed');
    return reply.status(503).send({ status: 'unavailable', reason: res.reason });
  });
  const versionInfo = {
    version,
    branch: 'main',
    go_version: '',
    revision: '',
    build_date: '',
    build_user: '',
    node_version: process.version,
  };
  app.get('/version', async () => versionInfo);
  app.get('/api/v1/fleet/version', async () => versionInfo);
  app.get('/api/latest/fleet/version', async () => versionInfo);
}
