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
import { registerAppleDepRoutes } from './apple/dep/routes.js';
import { registerSetupAssistantRoutes } from './apple/ade/routes.js';
import { registerBootstrapRoutes } from './apple/bootstrap/routes.js';
import type { Database } from './db/database.js';
import { registerAdminApi } from './http/adminApi.js';
import { registerCommandRoutes } from './mdm/commands/routes.js';
import { registerProfileRoutes } from './mdm/profiles/routes.js';
import { registerSecretVariableRoutes } from './mdm/variables/routes.js';
import { registerDiskEncryptionRoutes } from './diskencryption/routes.js';
import { installErrorHandler } from './http/errors.js';
import { registerHealthRoutes } from './http/healthRoutes.js';
import { registerOrbitRoutes } from './agents/orbit/routes.js';
import { registerOsqueryRoutes } from './agents/osquery/routes.js';
import { redactDevicePath, registerDeviceRoutes } from './agents/device/routes.js';
import { registerWindowsRoutes } from './windows/routes.js';
import { redactEulaPath, registerEndUserSsoRoutes, registerEulaRoutes } from './sso/routes.js';
import { parseDeviceInfoParam } from './apple/ade/machineInfo.js';
import { createServices, type Services } from './services.js';
import { redactAndroidPath, registerAndroidEnterpriseRoutes } from './android/enterprise/routes.js';
import {
  registerAndroidEnrollmentTokenRoute,
  registerAndroidEnrollPage,
} from './android/enrollment/routes.js';
import { registerAndroidPubsubRoutes } from './android/pubsub/routes.js';
import { registerCertificateAuthorityRoutes } from './certificateAuthorities/routes.js';
import { redactScepProxyPath, registerScepProxyRoutes } from './scepProxy/routes.js';
import { registerConsoleRoutes } from './web/routes.js';

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

  // One JSON line per request, with its id, status and duration. Fleet Desktop's device token is
  // part of its paths, so it is replaced before the path is logged.
  server.addHook('onResponse', async (req, reply) => {
    req.log.info(
      {
        method: req.method,
        url: redactScepProxyPath(redactAndroidPath(redactEulaPath(redactDevicePath(req.url.split('?')[0])))),
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
  await registerOsqueryRoutes(server, {
    osquery: services.osquery,
    rateLimits,
    bodyLimit: config.osqueryMaxBodyBytes,
  });
  await registerDeviceRoutes(server, { device: services.device, rateLimits });
  await registerWindowsRoutes(server, { windows: services.windows, appConfig, config });
  // Google Pub/Sub's push of Android device notifications (authenticated by its token).
  await registerAndroidPubsubRoutes(server, { androidPubsub: services.android.pubsub.service });
  // End-user authentication before ADE enrollment: the /mdm/sso pages and the SAML endpoints.
  await registerEndUserSsoRoutes(server, {
    endUserAuth: services.endUserAuth,
    rateLimits,
    // The same minimum-OS rule as the ADE enroll endpoint, before the user is sent to sign in.
    deviceInfoGate: async (deviceInfo) => {
      let machineInfo;
      try {
        machineInfo = parseDeviceInfoParam(deviceInfo);
      } catch {
        return undefined; // unreadable machine info: the enroll endpoint refuses it later
      }
      const body = await services.appleAde.enrollment.softwareUpdateRequired(machineInfo);
      return body ? { status: 403, body: `${JSON.stringify(body)}\n` } : undefined;
    },
  });
  await registerSetupRoutes(server, { sessions: services.sessions });
  // Android end users' enrollment page (no login; the enroll secret is the credential).
  await registerAndroidEnrollPage(server, { enrollment: services.android.enrollment, rateLimits });
  await registerAppleScepRoutes(server, { appleScep: services.appleScep });
  // The SCEP proxy devices fetch CA certificates through (custom SCEP and NDES).
  await registerScepProxyRoutes(server, { scepProxy: services.certificateAuthorities.scepProxy });
  const { appleEnrollment, enrollSecrets } = services;
  await registerAppleEnrollRoutes(server, {
    appleEnrollment,
    enrollSecrets,
    rateLimits,
    appleAdeEnrollment: services.appleAde.enrollment,
  });
  await registerAppleCheckinRoutes(server, {
    handler: services.appleCheckin,
    bodyLimit: config.appleMdmMaxBodyBytes,
    clientCertHeader: config.appleClientCertHeader?.toLowerCase(),
  });
  server.addHook('onClose', async () => services.flushAppleCheckin());
  // Windows: buffered last-seen times and coalesced WNS pushes go out before the process stops.
  server.addHook('onClose', async () => services.windows.flush());
  await registerAdminApi(server, services.auth, [
    (s) => registerSessionRoutes(s, { sessions: services.sessions, rateLimits }),
    (s) => registerAdminBasicsRoutes(s, services),
    (s) => registerCronRoutes(s, { cron: services.cron }),
    (s) => registerApplePushRoutes(s, { apnsCertificates: services.apnsCertificates, appConfig, activities }),
    (s) => registerCommandRoutes(s, { commands: services.commands, hostActions: services.hostActions }),
    (s) => registerAppleEnrollmentAdminRoutes(s, { appleEnrollment, rateLimits }),
    (s) => registerAppleDepRoutes(s, { appleDep: services.appleDep }),
    (s) => registerSetupAssistantRoutes(s, { appleSetupAssistants: services.appleAde.assistants }),
    (s) =>
      registerBootstrapRoutes(s, {
        appleBootstrap: services.appleBootstrap,
        maxUploadBytes: config.appleBootstrapPackageMaxBytes,
      }),
    (s) => registerEulaRoutes(s, { eula: services.eula, maxUploadBytes: config.eulaMaxUploadBytes }),
    (s) =>
      registerProfileRoutes(s, {
        profiles: services.profiles,
        hosts: services.hostStore,
        maxUploadBytes: config.profileMaxUploadBytes,
      }),
    (s) =>
      registerDiskEncryptionRoutes(s, { diskEncryption: services.diskEncryption, hosts: services.hostStore }),
    (s) => registerAndroidEnterpriseRoutes(s, services.android),
    (s) => registerAndroidEnrollmentTokenRoute(s, { enrollment: services.android.enrollment, rateLimits }),
    (s) =>
      registerCertificateAuthorityRoutes(s, {
        certificateAuthorities: services.certificateAuthorities.service,
      }),
    (s) => registerSecretVariableRoutes(s, { secretVariables: services.secretVariables }),
  ]);
  // The admin console: static pages over the admin API above, no routes of its own.
  if (config.consoleEnabled) {
    await registerConsoleRoutes(server, {
      setupRequired: () => services.sessions.setupRequired(),
      assetsDir: config.consoleDir,
    });
  }
  return { server, services };
}
