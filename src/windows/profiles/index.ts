import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { DB } from '../../db/schema.js';
import { ReconcileStore } from '../../mdm/profiles/reconcileStore.js';
import type { WindowsServices } from '../service.js';
import { WindowsProfiles } from './adapter.js';
import { isProfileCommandUuid } from './commands.js';
import { WindowsProfileManager } from './manager.js';
import { WindowsProfileResults } from './results.js';
import { WindowsProfileSecretDelivery } from './secretDelivery.js';
import { WindowsProfileStore } from './store.js';
import type { ProfileVariables } from './variables.js';

/**
 * The step a queued profile command naming a `$FLEET_SECRET_` passes as the SyncML session hands it
 * to the PC (secrets are filled only then; never stored, never logged). Built before the Windows
 * services, which take it at construction.
 */
export function createWindowsProfileSecrets(deps: {
  db: Kysely<DB>;
  variables: ProfileVariables;
  logger: Logger;
}) {
  const log = deps.logger.child({ area: 'windows-profiles' });
  return new WindowsProfileSecretDelivery(new WindowsProfileStore(deps.db), deps.variables, log);
}

/**
 * Wires Windows configuration profiles: store, manager (cron), result handling (a listener on the
 * SyncML session) and the adapter the MDM core's profiles API calls.
 */
export function createWindowsProfiles(deps: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  windows: Pick<WindowsServices, 'store' | 'management' | 'enabled' | 'push'>;
  /** Fleet variables and secrets (the MDM core's ProfileExpander). */
  variables: ProfileVariables;
}) {
  const { config, db } = deps;
  const log = deps.logger.child({ area: 'windows-profiles' });
  const store = new WindowsProfileStore(db);
  const enabled = () => deps.windows.enabled();
  const manager = new WindowsProfileManager(
    db,
    new ReconcileStore(db),
    store,
    {
      // Queued inside the manager's transaction; the WNS push is coalesced and goes out shortly after.
      enqueue: async (ids, cmd, trx) => {
        await deps.windows.store.enqueue(ids, cmd, trx);
        deps.windows.push.push(ids);
      },
    },
    enabled,
    {
      batchHosts: config.profileManagerBatchHosts,
      tickBudgetMs: config.profileManagerTickBudgetMs,
      verifyIntervalSeconds: config.windowsProfileVerifyIntervalSeconds,
      verifyHostsPerTick: config.profileVerifyHostsPerTick,
      wrapInAtomic: config.windowsProfileWrapInAtomic,
    },
    deps.variables,
    log,
  );
  const results = new WindowsProfileResults(
    store,
    {
      maxRetries: config.windowsProfileMaxRetries,
      verifyGraceSeconds: config.windowsProfileVerifyGraceSeconds,
    },
    log,
  );
  // Most answers are not to profile commands: those are skipped by their UUID, without a query.
  deps.windows.management.onAnswersSaved(async (a) => {
    const mine = a.results.filter((r) => isProfileCommandUuid(r.commandUuid));
    if (mine.length) await results.handle({ ...a, results: mine });
  });

  // A user signing in releases the ./User/ profiles held for that PC at once.
  deps.windows.management.onUserSignedIn(async (e) => {
    if (e.host_uuid && (await enabled())) await manager.reconcileHost(e.host_uuid);
  });

  /** The cron job: settle answers a listener missed, then one bounded manager tick. */
  const tick = async () => {
    await results.sweep();
    return manager.tick();
  };
  const profiles = new WindowsProfiles(store, manager, enabled, tick);
  return { profiles, store, manager, results, tick };
}
