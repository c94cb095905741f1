import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { Config } from '../../config.js';
import type { DB } from '../../db/schema.js';
import type { HostEvents } from '../../hosts/events.js';
import { ReconcileStore } from '../../profiles/reconcileStore.js';
import type { WindowsServices } from '../service.js';
import { WindowsProfileAdmin } from './admin.js';
import { isProfileCommandUuid } from './commands.js';
import { WindowsProfileManager } from './manager.js';
import { WindowsProfileResults } from './results.js';
import { WindowsProfileStore } from './store.js';

/**
 * Wires Windows configuration profiles: store, manager (cron), result handling (a listener on the
 * SyncML session) and the admin operations the configuration profiles API reaches through its
 * Windows hook. Host events mark affected hosts pending at once.
 */
export function createWindowsProfileServices(deps: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  activities: ActivityService;
  hostEvents: HostEvents;
  windows: WindowsServices;
}) {
  const { config, db } = deps;
  const log = deps.logger.child({ area: 'windows-profiles' });
  const store = new WindowsProfileStore(db);
  const manager = new WindowsProfileManager(
    db,
    new ReconcileStore(db),
    store,
    { enqueue: (ids, cmd, trx) => deps.windows.store.enqueue(ids, cmd, trx) },
    () => deps.windows.enabled(),
    {
      batchHosts: config.profileManagerBatchHosts,
      tickBudgetMs: config.profileManagerTickBudgetMs,
      verifyIntervalSeconds: config.windowsProfileVerifyIntervalSeconds,
      verifyHostsPerTick: config.profileVerifyHostsPerTick,
      wrapInAtomic: config.windowsProfileWrapInAtomic,
    },
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
  const admin = new WindowsProfileAdmin(db, store, manager, deps.activities, () => deps.windows.enabled());

  // Most answers are not to profile commands: those are skipped by their UUID, without a query.
  deps.windows.management.onAnswersSaved(async (a) => {
    const mine = a.results.filter((r) => isProfileCommandUuid(r.commandUuid));
    if (mine.length) await results.handle({ ...a, results: mine });
  });
  deps.hostEvents.add({
    hostsTransferred: (hostIds) => manager.markPending({ hostIds }),
    labelMembershipChanged: (_labelIds, hostIds) => manager.markPending({ hostIds }),
    hostsDeleted: (hosts) => store.deleteRowsOfHosts(hosts.map((h) => h.uuid)),
  });

  /** The cron job: settle answers a listener missed, then one bounded manager tick. */
  const tick = async () => {
    await results.sweep();
    return manager.tick();
  };
  return {
    windowsProfileStore: store,
    windowsProfileManager: manager,
    windowsProfileResults: results,
    windowsProfileAdmin: admin,
    windowsProfilesTick: tick,
  };
}
