import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfigService } from '../appconfig/service.js';
import type { DB } from '../db/schema.js';
import { IdpAccountStore } from './accountStore.js';
import { EulaService } from './eulaService.js';
import { EulaStore } from './eulaStore.js';
import { IdpMetadataFetcher } from './metadata.js';
import { EndUserAuthService } from './service.js';
import { SsoSessionStore } from './sessionStore.js';

export interface EndUserSsoDeps {
  config: { mdmSsoSessionValiditySeconds: number };
  db: Kysely<DB>;
  appConfig: AppConfigService;
  /** The ADE enrollment profile's token (the Apple DEP area's `automaticEnrollmentToken`). */
  automaticEnrollmentToken: () => Promise<string>;
  logger: Logger;
  /** Tests: the clock and the metadata fetch. */
  now?: () => number;
  metadataFetcher?: IdpMetadataFetcher;
}

/**
 * End-user authentication (SAML SSO before ADE enrollment) and the EULA: the services the routes
 * in `routes.ts` call.
 */
export function createEndUserSso(deps: EndUserSsoDeps) {
  const eula = new EulaService(new EulaStore(deps.db), deps.appConfig, deps.now);
  const endUserAuth = new EndUserAuthService({
    db: deps.db,
    appConfig: deps.appConfig,
    sessions: new SsoSessionStore(deps.db),
    accounts: new IdpAccountStore(deps.db),
    eula,
    metadataFetcher: deps.metadataFetcher ?? new IdpMetadataFetcher(),
    automaticEnrollmentToken: deps.automaticEnrollmentToken,
    sessionValiditySeconds: deps.config.mdmSsoSessionValiditySeconds,
    logger: deps.logger,
    now: deps.now,
  });
  return { endUserAuth, eula };
}

export type EndUserSso = ReturnType<typeof createEndUserSso>;
