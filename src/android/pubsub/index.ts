import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { Config } from '../../config.js';
import type { ConfigAssetService } from '../../configassets/service.js';
import { dbNow } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { HostEvents } from '../../hosts/events.js';
import { AndroidCommandService } from '../commands/service.js';
import { AndroidCommandStore } from '../commands/store.js';
import type { AndroidDeviceEvents } from '../devices/events.js';
import { AndroidDeviceService, type SecretTeams } from '../devices/service.js';
import { SoftwareInventoryStore } from '../devices/softwareStore.js';
import { AndroidDeviceStore } from '../devices/store.js';
import type { AndroidClientProvider } from '../serviceAccount.js';
import type { PushCredentials } from './credentials.js';
import { PushOidcVerifier } from './oidc.js';
import { AndroidPubsubService } from './service.js';
import { AndroidPubsubStore } from './store.js';

/** How long a handled message ID is kept: Pub/Sub's retention (24 h), after which it never redelivers. */
const messageRetentionMs = 24 * 60 * 60 * 1000;

/**
 * The Pub/Sub push endpoint's service and what it drives: Android hosts from device notifications,
 * and the device commands (lock, wipe, unenroll) whose results COMMAND notifications carry.
 */
export function createAndroidPubsub(deps: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  assets: ConfigAssetService;
  appConfig: { serverUrl(): Promise<string> };
  activities: ActivityService;
  hostEvents: HostEvents;
  enrollSecrets: SecretTeams;
  clients: AndroidClientProvider;
  deviceEvents: AndroidDeviceEvents;
  pushCredentials: PushCredentials;
}) {
  const { config, db } = deps;
  const log = deps.logger.child({ area: 'android' });
  const deviceStore = new AndroidDeviceStore(db);
  const commandStore = new AndroidCommandStore(db);
  const commands = new AndroidCommandService(commandStore, () => deps.clients.get(), log);
  const devices = new AndroidDeviceService({
    store: deviceStore,
    software: new SoftwareInventoryStore(),
    secrets: deps.enrollSecrets,
    serverUrl: () => deps.appConfig.serverUrl(),
    activities: deps.activities,
    hostEvents: deps.hostEvents,
    deviceEvents: deps.deviceEvents,
    settleDeletes: (trx, hostUuid) => commands.settleDeletes(trx, hostUuid),
    logger: log,
  });
  const audience = config.androidPushAudience;
  const oidc = audience
    ? new PushOidcVerifier(config.androidOidcCertsUrl, {
        audience,
        // The configured signer, else the service account Flotilla binds the enterprise with.
        email: async () =>
          config.androidPushServiceAccountEmail ?? (await deps.clients.get())?.serviceAccountEmail,
      })
    : undefined;
  const store = new AndroidPubsubStore(db);
  const service = new AndroidPubsubService({
    store,
    credentials: deps.pushCredentials,
    oidc,
    devices,
    commands,
    logger: log,
  });
  // A deleted host takes its Android rows (device, software links, commands) with it.
  deps.hostEvents.add({
    hostsDeleted: async (hosts) => {
      await deviceStore.forgetHosts(hosts.map((h) => h.id));
      await commandStore.forgetHosts(hosts.map((h) => h.uuid));
    },
  });
  return {
    service,
    devices,
    deviceStore,
    commands,
    commandStore,
    /** The cron job's work: forget handled message IDs older than Pub/Sub's retention. */
    pruneMessages: () => store.pruneBefore(dbNow(-messageRetentionMs)),
  };
}

export type AndroidPubsub = ReturnType<typeof createAndroidPubsub>;
