import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { AppConfigService } from '../../appconfig/service.js';
import type { DB } from '../../db/schema.js';
import type { HostEvents } from '../../hosts/events.js';
import type { TeamStore } from '../../teams/store.js';
import type { AppleMdmEvents } from '../events.js';
import { BootstrapPackageService } from './service.js';
import { BootstrapPackageStore } from './store.js';

export interface AppleBootstrapDeps {
  db: Kysely<DB>;
  logger: Logger;
  teamStore: Pick<TeamStore, 'getById'>;
  activities: Pick<ActivityService, 'record'>;
  appConfig: Pick<AppConfigService, 'get' | 'serverUrl'>;
  appleMdmEvents: AppleMdmEvents;
  appleQueue: BootstrapPackageServiceQueue;
  hostEvents: HostEvents;
  maxUploadBytes: number;
}

type BootstrapPackageServiceQueue = ConstructorParameters<typeof BootstrapPackageService>[0]['queue'];

/**
 * Bootstrap packages: the admin API's service (upload, metadata, delete, summary, download), the
 * InstallEnterpriseApplication delivery the setup experience calls, and the device's answers
 * turned into each host's status.
 */
export function createAppleBootstrap(deps: AppleBootstrapDeps) {
  const store = new BootstrapPackageStore(deps.db);
  const service = new BootstrapPackageService({
    store,
    teams: deps.teamStore,
    activities: deps.activities,
    queue: deps.appleQueue,
    mdmUrl: async () => {
      const cfg = await deps.appConfig.get();
      return cfg.mdm.apple_server_url || (await deps.appConfig.serverUrl());
    },
    maxBytes: deps.maxUploadBytes,
    logger: deps.logger.child({ component: 'apple-bootstrap' }),
  });
  deps.appleMdmEvents.onCommandResult((r) => service.onCommandResult(r));
  deps.hostEvents.add({ hostsDeleted: (hosts) => service.forgetHosts(hosts.map((h) => h.uuid)) });
  return service;
}

export type { BootstrapPackageService } from './service.js';
