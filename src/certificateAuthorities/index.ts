import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../admin/activityService.js';
import type { Config } from '../config.js';
import type { SecretBox } from '../crypto/secretbox.js';
import type { DB } from '../db/schema.js';
import type { FleetVariableSource } from '../mdm/variables/sources.js';
import { ScepProxyService } from '../scepProxy/service.js';
import { ScepProxyStore } from '../scepProxy/store.js';
import { NdesChallengeClient } from './ndes/challenge.js';
import { ScepUpstreamClient } from './scepUpstream.js';
import { CertificateAuthorityService } from './service.js';
import { CertificateAuthorityStore } from './store.js';
import { createCertificateVariableSources } from './variables.js';

export { createCertificateVariableSources } from './variables.js';

export interface CertificateAuthoritiesDeps {
  config: Pick<Config, 'scepProxyChallengeTtlSeconds' | 'scepProxyTimeoutSeconds'>;
  db: Kysely<DB>;
  box: SecretBox;
  activities: ActivityService;
  /** The URL devices reach this server at (the base of proxy URLs). */
  serverUrl: () => Promise<string>;
  logger: Logger;
}

/**
 * Certificate authorities and the SCEP proxy: the admin API's service, the proxy devices fetch
 * certificates through, and the `$FLEET_VAR_*` sources for NDES, custom SCEP and the renewal ID.
 */
export function createCertificateAuthorities(deps: CertificateAuthoritiesDeps) {
  const { config, db, logger } = deps;
  const timeoutMs = config.scepProxyTimeoutSeconds * 1000;
  const store = new CertificateAuthorityStore(db, deps.box);
  const proxyStore = new ScepProxyStore(db);
  const upstream = new ScepUpstreamClient(timeoutMs);
  const ndes = new NdesChallengeClient(timeoutMs);
  const service = new CertificateAuthorityService(db, store, deps.activities, upstream, ndes, logger);
  const scepProxy = new ScepProxyService(
    store,
    proxyStore,
    upstream,
    { challengeTtlSeconds: config.scepProxyChallengeTtlSeconds },
    logger,
  );
  const variableSources: FleetVariableSource[] = createCertificateVariableSources({
    cas: store,
    proxy: proxyStore,
    ndes,
    serverUrl: deps.serverUrl,
  });
  return { service, scepProxy, proxyStore, variableSources };
}

export type CertificateAuthorities = ReturnType<typeof createCertificateAuthorities>;
