import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../admin/activityService.js';
import type { AppConfigService } from '../appconfig/service.js';
import { createGoogleAndroidClient } from '../clients/amapi/client.js';
import type { Config } from '../config.js';
import type { ConfigAssetService } from '../configassets/service.js';
import type { DB } from '../db/schema.js';
import type { HostEvents } from '../hosts/events.js';
import type { HostStore } from '../hosts/store.js';
import type { EnrollSecretService } from '../teams/enrollSecretService.js';
import type { TeamStore } from '../teams/store.js';
import { AndroidClientProvider } from './serviceAccount.js';

export interface AndroidDeps {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  assets: ConfigAssetService;
  appConfig: AppConfigService;
  activities: ActivityService;
  hostStore: HostStore;
  hostEvents: HostEvents;
  teamStore: TeamStore;
  enrollSecrets: EnrollSecretService;
}

/**
 * Android through Google's Android Management API: the bound enterprise, enrollment tokens, the
 * Pub/Sub push endpoint's handling of device notifications, per-host policies and commands.
 */
export function createAndroid(deps: AndroidDeps) {
  const { config } = deps;
  const log = deps.logger.child({ area: 'android' });
  // Every Google call goes through the client for the service account in force.
  const clients = new AndroidClientProvider(deps.assets, config.androidServiceAccountFile, (serviceAccount) =>
    createGoogleAndroidClient({
      serviceAccount,
      apiUrl: config.androidApiUrl,
      pubsubApiUrl: config.androidPubsubApiUrl,
    }),
  );
  void log;
  // <android:enterprise>
  // <android:pubsub>
  // <android:profiles>
  return {
    clients,
    // <android:exports>
  };
}

export type Android = ReturnType<typeof createAndroid>;
