import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { DB } from '../../db/schema.js';
import { ReconcileStore } from '../../mdm/profiles/reconcileStore.js';
import type { AndroidDeviceEvents } from '../devices/events.js';
import type { AndroidClientProvider } from '../serviceAccount.js';
import { AndroidProfiles } from './adapter.js';
import { AndroidProfileManager } from './manager.js';
import { AndroidProfileStore } from './store.js';
import { AndroidProfileVerifier } from './verify.js';

/**
 * Wires Android configuration profiles: store, manager (cron `mdm_android_profile_manager`),
 * verification on status reports, and the adapter the MDM core's profiles API calls.
 */
export function createAndroidProfiles(deps: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  clients: Pick<AndroidClientProvider, 'get'>;
  deviceEvents: AndroidDeviceEvents;
}) {
  const { config, db } = deps;
  const log = deps.logger.child({ area: 'android-profiles' });
  const store = new AndroidProfileStore(db);
  const manager = new AndroidProfileManager(
    store,
    new ReconcileStore(db),
    () => deps.clients.get(),
    { batchHosts: config.profileManagerBatchHosts, tickBudgetMs: config.profileManagerTickBudgetMs },
    log,
  );
  const verifier = new AndroidProfileVerifier(store, log);
  // Each status report settles the profiles of the policy version the device applied.
  deps.deviceEvents.onStatusReport(async (e) => {
    await verifier.onStatusReport(e);
  });
  // A new device starts on the enrollment policy: its profiles go pending, so the manager builds
  // its own policy and moves it there.
  deps.deviceEvents.onEnrolled(async (e) => {
    await manager.hostEnrolled(e.hostId);
  });
  // A device that left management keeps no profile status (it is no longer managed).
  deps.deviceEvents.onUnenrolled(async (e) => {
    await store.deleteRowsOfHosts([e.hostUuid]);
  });
  const enabled = async () => (await store.enterpriseName()) !== undefined;
  const profiles = new AndroidProfiles(store, manager, enabled, () => manager.tick());
  return { profiles, store, manager, verifier };
}
