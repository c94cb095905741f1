import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { AppConfigService } from '../../appconfig/service.js';
import type { Config } from '../../config.js';
import type { ConfigAssetService } from '../../configassets/service.js';
import type { DB } from '../../db/schema.js';
import type { AndroidClientProvider } from '../serviceAccount.js';
import { AndroidEnterpriseService } from './service.js';
import { AndroidServiceAccountAdmin } from './serviceAccountAdmin.js';
import { AndroidEnterpriseStore } from './store.js';

export interface AndroidEnterpriseFactoryDeps {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  clients: AndroidClientProvider;
  assets: ConfigAssetService;
  appConfig: AppConfigService;
  activities: ActivityService;
  bindingChanged?: () => void;
}

/** The Android Enterprise binding (signup, callback, unbind) and the service-account admin API. */
export function createAndroidEnterprise(deps: AndroidEnterpriseFactoryDeps) {
  const store = new AndroidEnterpriseStore(deps.db);
  const enterprise = new AndroidEnterpriseService({
    store,
    clients: deps.clients,
    assets: deps.assets,
    appConfig: deps.appConfig,
    activities: deps.activities,
    config: deps.config,
    logger: deps.logger,
    bindingChanged: deps.bindingChanged,
  });
  const serviceAccount = new AndroidServiceAccountAdmin(
    deps.clients,
    deps.assets,
    deps.config.androidServiceAccountFile,
    () => store.bound(),
  );
  return { enterprise, serviceAccount };
}

export type AndroidEnterprise = ReturnType<typeof createAndroidEnterprise>;
