import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Services } from '../services.js';
import { windowsPaths } from './mde2/service.js';
import { windowsEnrollmentPages } from './mde2/webPages.js';
import { Action, bestEffortMessageId, SoapFault, soapFaultEnvelope } from './mde2/soap.js';
import { syncmlContentType } from './syncml/codec.js';
import { ManagementFault } from './syncml/session.js';
import { errorDetail } from './xml.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** SOAP action a fault on this Windows route answers with. */
    windowsFaultAction?: string;
  }
}

const soapContentType = 'application/soap+xml; charset=utf-8';

/** Sends a complete body with an explicit length: WinHTTP is strict about chunking. */
function sendExact(reply: FastifyReply, contentType: string, body: string) {
  return reply
    .status(200)
    .header('content-type', contentType)
    .header('content-length', Buffer.byteLength(body))
    .send(body);
}

/**
 * MS-MDE2 enrollment services and the MS-MDM management endpoint. Their own plugin so the raw
 * XML body parsers and the SOAP-fault error handler stay here.
 */
export async function registerWindowsRoutes(
  app: FastifyInstance,
  services: Pick<Services, 'windows' | 'appConfig' | 'config'>,
): Promise<void> {
  const win = services.windows;
  // Header a TLS terminator puts the verified client certificate in (Node lower-cases header names).
  const certHeader = services.config.windowsClientCertHeader?.toLowerCase();
  // The enrollment web pages answer in HTML, so they live in a plugin of their own.
  await app.register(
    windowsEnrollmentPages({
      enabled: win.enabled,
      orgName: async () => (await services.appConfig.get()).org_info.org_name,
    }),
  );
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'string', bodyLimit: services.config.windowsMaxBodyBytes },
      (_req, body, done) => done(null, body),
    );

    // Anything that goes wrong becomes the protocol's own error answer: a SOAP fault with HTTP 200.
    scope.setErrorHandler((err, req, reply) => {
      const action = req.routeOptions.config?.windowsFaultAction ?? Action.discoverResponse;
      const raw = typeof req.body === 'string' ? req.body : '';
      let fault: SoapFault;
      if (err instanceof SoapFault) fault = err;
      else if (err instanceof ManagementFault) fault = new SoapFault('s:messageformat', err.message);
      else if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE')
        fault = new SoapFault('s:messageformat', 'request body is too large');
      else if (
        (err as { statusCode?: number }).statusCode === 404 ||
        (err as { statusCode?: number }).statusCode === 400
      ) {
        fault = new SoapFault('s:messageformat', errorDetail((err as Error).message));
      } else {
        req.log.error({ err }, 'windows mdm request failed');
        fault = new SoapFault('s:internalservicefault', 'internal server error');
      }
      req.log.info({ code: fault.code, reason: fault.message }, 'windows mdm: fault');
      return sendExact(reply, soapContentType, soapFaultEnvelope(action, bestEffortMessageId(raw), fault));
    });

    const requireEnabled = async () => {
      if (!(await win.enabled()))
        throw new SoapFault('s:enrollmentserver', "Windows MDM isn't turned on on this server");
    };
    const body = (b: unknown) => (typeof b === 'string' ? b : '');

    // Windows' user-driven flow probes the well-known path with a GET first and wants 200, empty.
    for (const path of ['/EnrollmentServer/Discovery.svc', windowsPaths.discovery]) {
      scope.get(path, async (_req, reply) => reply.status(200).header('content-length', 0).send());
      scope.post(path, { config: { windowsFaultAction: Action.discoverResponse } }, async (req, reply) => {
        await requireEnabled();
        return sendExact(reply, soapContentType, await win.enrollment.discover(body(req.body)));
      });
    }
    scope.post(
      windowsPaths.policy,
      { config: { windowsFaultAction: Action.getPoliciesResponse } },
      async (req, reply) => {
        await requireEnabled();
        return sendExact(reply, soapContentType, await win.enrollment.getPolicies(body(req.body)));
      },
    );
    scope.post(windowsPaths.enroll, { config: { windowsFaultAction: Action.rstrc } }, async (req, reply) => {
      await requireEnabled();
      return sendExact(reply, soapContentType, await win.enrollment.enroll(body(req.body)));
    });
    scope.post(
      windowsPaths.management,
      { config: { windowsFaultAction: Action.discoverResponse } },
      async (req, reply) => {
        await requireEnabled();
        const forwarded = certHeader ? req.headers[certHeader] : undefined;
        return sendExact(
          reply,
          syncmlContentType,
          await win.management.handle(body(req.body), typeof forwarded === 'string' ? forwarded : undefined),
        );
      },
    );
  });
}
