import { readFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfigService } from '../../appconfig/service.js';
import { Http2ApnsClient } from '../../clients/apns/client.js';
import type { Config } from '../../config.js';
import type { ConfigAssetService } from '../../configassets/service.js';
import type { DB } from '../../db/schema.js';
import { ApnsCertificateService } from './certificates.js';
import { ApplePushService } from './service.js';
import { ApplePushStore } from './store.js';

/** Wires the APNs client, the push certificate service and the push service from the config. */
export function createApplePush(deps: {
  config: Config;
  db: Kysely<DB>;
  assets: ConfigAssetService;
  appConfig: AppConfigService;
  logger: Logger;
}) {
  const { config } = deps;
  const store = new ApplePushStore(deps.db);
  const certificates = new ApnsCertificateService(
    deps.assets,
    store,
    deps.appConfig,
    config.apnsCertCacheSeconds * 1000,
  );
  const client = new Http2ApnsClient({
    baseUrl: config.apnsBaseUrl,
    caPem: config.apnsCaFile ? readFileSync(config.apnsCaFile, 'utf8') : undefined,
    maxConcurrentStreams: config.apnsMaxConcurrentStreams,
  });
  const push = new ApplePushService(store, certificates, client, deps.logger, {
    batchSize: config.apnsRepushBatchSize,
    backoffBaseMs: config.apnsRepushBackoffSeconds * 1000,
    backoffMaxMs: config.apnsRepushMaxBackoffSeconds * 1000,
  });
  return { store, certificates, client, push };
}
