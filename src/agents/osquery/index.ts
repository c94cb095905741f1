import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfigService } from '../../appconfig/service.js';
import type { Config } from '../../config.js';
import type { DB } from '../../db/schema.js';
import type { DiskEncryptionForAgents } from '../../diskencryption/forAgents.js';
import type { HostEvents } from '../../hosts/events.js';
import type { HostStore } from '../../hosts/store.js';
import type { EnrollSecretService } from '../../teams/enrollSecretService.js';
import type { TeamStore } from '../../teams/store.js';
import {
  DetailIngester,
  type AppleProfileVerifier,
  type WindowsProfileVerifier,
} from './ingest/detailIngest.js';
import { OsqueryService } from './service.js';
import { OsqueryStore } from './store.js';

/**
 * Builds the osquery agent area: enrollment, configuration, distributed queries (host vitals,
 * dynamic labels, MDM checks) and the ingestion of their results.
 */
export function createOsqueryAgent(deps: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  hostStore: HostStore;
  teamStore: TeamStore;
  enrollSecrets: EnrollSecretService;
  appConfig: AppConfigService;
  hostEvents: HostEvents;
  diskEncryption: DiskEncryptionForAgents;
  appleProfileVerifier: AppleProfileVerifier;
  windowsProfileVerifier: WindowsProfileVerifier;
}) {
  const { config } = deps;
  const logger = deps.logger.child({ area: 'osquery' });
  const store = new OsqueryStore(deps.db);
  const ingester = new DetailIngester(
    store,
    deps.hostStore,
    deps.diskEncryption,
    deps.appleProfileVerifier,
    deps.windowsProfileVerifier,
    logger,
  );
  const osquery = new OsqueryService({
    store,
    hosts: deps.hostStore,
    teams: deps.teamStore,
    secrets: deps.enrollSecrets,
    appConfig: deps.appConfig,
    hostEvents: deps.hostEvents,
    ingester,
    windowsProfiles: deps.windowsProfileVerifier,
    options: {
      detailIntervalMs: config.osqueryDetailUpdateIntervalSeconds * 1000,
      labelIntervalMs: config.osqueryLabelUpdateIntervalSeconds * 1000,
      maxJitterPercent: config.osqueryMaxJitterPercent,
      nodeKeySize: config.osqueryNodeKeySize,
      hostIdentifier: config.osqueryHostIdentifier,
    },
    logger,
  });
  return { osquery };
}
