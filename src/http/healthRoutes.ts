import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Services } from '../services.js';
import { version } from '../version.js';

export async function registerHealthRoutes(app: FastifyInstance, services: Services) {
  app.get('/healthz', async (_req, reply) => {
    try {
      await sql`select 1`.execute(services.database.db);
      return { status: 'ok' };
    } catch {
      return reply.status(503).send({ status: 'database unavailable' });
    }
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
