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
import { AndroidDeviceEvents } from './devices/events.js';
import { AndroidEnrollmentService } from './enrollment/service.js';
import { createAndroidEnterprise } from './enterprise/index.js';
import { createAndroidProfiles } from './profiles/index.js';
import { createAndroidPlatform } from './platform.js';
import { createAndroidPubsub } from './pubsub/index.js';
import { AndroidClientProvider } from './serviceAccount.js';
import { PushCredentials } from './pubsub/credentials.js';
import { boundEnterpriseId } from './devices/store.js';
import { AssetName } from '../configassets/service.js';

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
  // Device notifications (enrolled, status report) for the parts that react to them (profiles).
  const deviceEvents = new AndroidDeviceEvents();
  void log;
  // The enterprise binding (signup, Google's callback, unbind), the service-account admin API and
  // end users' enrollment tokens.
  // The push endpoint's credentials (bound enterprise, Pub/Sub token), read through a short cache.
  const pushCredentials = new PushCredentials(async () => {
    const enterpriseId = await boundEnterpriseId(deps.db);
    const token = enterpriseId
      ? await deps.assets.getOne(AssetName.androidPubsubToken, { fresh: true })
      : undefined;
    return enterpriseId && token ? { enterpriseId, token } : undefined;
  });
  const { enterprise, serviceAccount } = createAndroidEnterprise({
    ...deps,
    logger: log,
    clients,
    bindingChanged: () => pushCredentials.invalidate(),
  });
  const enrollment = new AndroidEnrollmentService({
    enterprise,
    clients,
    enrollSecrets: deps.enrollSecrets,
    orgName: async () => (await deps.appConfig.get()).org_info.org_name,
    tokenTtlSeconds: config.androidEnrollmentTokenTtlSeconds,
    logger: log,
  });
  // <android:enterprise>
  // The Pub/Sub push endpoint: Android hosts from device notifications, command results.
  const pubsub = createAndroidPubsub({ ...deps, logger: log, clients, deviceEvents, pushCredentials });
  // <android:pubsub>
  const androidProfiles = createAndroidProfiles({
    config,
    db: deps.db,
    logger: deps.logger,
    clients,
    deviceEvents,
  });
  // <android:profiles>
  return {
    clients,
    deviceEvents,
    profiles: androidProfiles,
    enterprise,
    serviceAccount,
    enrollment,
    pubsub,
    /** Android's adapter for the MDM core (commands, host actions, profiles). */
    platform: createAndroidPlatform({
      db: deps.db,
      devices: pubsub.deviceStore,
      commands: pubsub.commands,
      commandStore: pubsub.commandStore,
      profiles: androidProfiles.profiles,
    }),
    // <android:exports>
  };
}

export type Android = ReturnType<typeof createAndroid>;
