import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { registerAdminBasicsRoutes } from './admin/routes.js';
import { registerSessionRoutes, registerSetupRoutes } from './admin/sessionRoutes.js';
import type { Config } from './config.js';
import { registerCronRoutes } from './cron/routes.js';
import { registerApplePushRoutes } from './apple/push/routes.js';
import { registerAppleScepRoutes } from './apple/scep/routes.js';
import { registerAppleCheckinRoutes } from './apple/checkin/routes.js';
import { registerAppleEnrollmentAdminRoutes, registerAppleEnrollRoutes } from './apple/enrollment/routes.js';
import type { Database } from './db/database.js';
import { registerAdminApi } from './http/adminApi.js';
import { registerCommandRoutes } from './mdm/commands/routes.js';
import { registerProfileRoutes } from './mdm/profiles/routes.js';
import { installErrorHandler } from './http/errors.js';
import { registerHealthRoutes } from './http/healthRoutes.js';
import { registerOrbitRoutes } from './agents/orbit/routes.js';
import { registerWindowsRoutes } from './windows/routes.js';
import { createServices, type Services } from './services.js';

export interface BuildAppOptions {
  config: Config;
  database: Database;
  serverKey: string;
  logger: Logger;
}

export interface App {
  server: FastifyInstance;
  services: Services;
}

/** Builds the Fastify instance with every route; used by `serve` and by the tests. */
export async function buildApp(opts: BuildAppOptions): Promise<App> {
  const { config, database, serverKey, logger } = opts;
  const services = createServices(config, database, serverKey, logger);
  const https =
    config.tlsCert && config.tlsKey
      ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }
      : undefined;
  const server = Fastify({
    loggerInstance: logger,
    bodyLimit: config.maxBodyBytes,
    genReqId: (req) =>
      typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : randomUUID(),
    requestIdHeader: false,
    // A hop count trusts the nearest n proxies (what Fastify does with a number; its types want a function).
    trustProxy:
      typeof config.trustProxy === 'number'
        ? (_addr: string, hop: number) => hop < (config.trustProxy as number)
        : config.trustProxy,
    logController: new LogController({ disableRequestLogging: true }),
    ...(https ? { https } : {}),
  }) as unknown as FastifyInstance;

  // One JSON line per request, with its id, status and duration.
  server.addHook('onResponse', async (req, reply) => {
    req.log.info(
      {
        method: req.method,
        url: req.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
  installErrorHandler(server);
  server.addHook('onClose', async () => services.apnsClient.close());

  // Unversioned routes: health, devices (fleetd, Windows, Apple) and first-time setup.
  const { appConfig, rateLimits, activities } = services;
  await registerHealthRoutes(server, { database: services.database });
  await registerOrbitRoutes(server, { orbit: services.orbit, rateLimits });
  await registerWindowsRoutes(server, { windows: services.windows, appConfig, config });
  await registerSetupRoutes(server, { sessions: services.sessions });
  await registerAppleScepRoutes(server, { appleScep: services.appleScep });
  const { appleEnrollment, enrollSecrets } = services;
  await registerAppleEnrollRoutes(server, { appleEnrollment, enrollSecrets, rateLimits });
  await registerAppleCheckinRoutes(server, {
    handler: services.appleCheckin,
    bodyLimit: config.appleMdmMaxBodyBytes,
    clientCertHeader: config.appleClientCertHeader?.toLowerCase(),
  });
  server.addHook('onClose', async () => services.flushAppleCheckin());
  await registerAdminApi(server, services.auth, [
    (s) => registerSessionRoutes(s, { sessions: services.sessions, rateLimits }),
    (s) => registerAdminBasicsRoutes(s, services),
    (s) => registerCronRoutes(s, { cron: services.cron }),
    (s) => registerApplePushRoutes(s, { apnsCertificates: services.apnsCertificates, appConfig, activities }),
    (s) => registerCommandRoutes(s, { commands: services.commands, hostActions: services.hostActions }),
    (s) => registerAppleEnrollmentAdminRoutes(s, { appleEnrollment, rateLimits }),
    (s) =>
      registerProfileRoutes(s, {
        profiles: services.profiles,
        hosts: services.hostStore,
        maxUploadBytes: config.profileMaxUploadBytes,
      }),
  ]);
  return { server, services };
}
