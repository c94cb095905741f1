import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../admin/activityService.js';
import { DeclarativeManagementService } from '../apple/ddm/service.js';
import type { AppleMdmEvents } from '../apple/events.js';
import type { Config } from '../config.js';
import type { DB } from '../db/schema.js';
import type { HostEvents } from '../hosts/events.js';
import { HostStatusStore } from './hostStatusStore.js';
import { ProfileManager, type AppleCommandPorts } from './manager.js';
import { ReconcileStore } from './reconcileStore.js';
import { ProfileResultHandler } from './results.js';
import { ProfileService } from './service.js';
import { ProfileStore } from './store.js';

/**
 * Wires the profiles area: stores, the manager, the command-result handler, the DDM endpoints,
 * and the listeners that mark hosts pending at once when their scope changes.
 */
export function createProfileServices(deps: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  activities: ActivityService;
  hostEvents: HostEvents;
  appleMdmEvents: AppleMdmEvents;
  appleQueue: { enqueue: AppleCommandPorts['enqueue']; enqueueMany?: AppleCommandPorts['enqueueMany'] };
  applePush: { pushEnrollments(ids: string[]): Promise<unknown> };
}) {
  const { config, db, logger } = deps;
  const store = new ProfileStore(db);
  const reconcileStore = new ReconcileStore(db);
  const statuses = new HostStatusStore(db);
  const profileManager = new ProfileManager(
    db,
    reconcileStore,
    statuses,
    {
      enqueue: (ids, cmd, trx) => deps.appleQueue.enqueue(ids, cmd, trx),
      enqueueMany: deps.appleQueue.enqueueMany?.bind(deps.appleQueue),
      push: (ids) => deps.applePush.pushEnrollments(ids),
    },
    {
      batchHosts: config.profileManagerBatchHosts,
      tickBudgetMs: config.profileManagerTickBudgetMs,
      sweepIntervalSeconds: config.profileManagerSweepIntervalSeconds,
      maxRetries: config.profileMaxRetries,
      verifyIntervalSeconds: config.profileVerifyIntervalSeconds,
      verifyGraceSeconds: config.profileVerifyGraceSeconds,
      verifyHostsPerTick: config.profileVerifyHostsPerTick,
    },
    logger,
  );
  const profiles = new ProfileService(db, store, statuses, profileManager, deps.activities);
  const profileResults = new ProfileResultHandler(db, statuses, {
    maxRetries: config.profileMaxRetries,
    verifyGraceSeconds: config.profileVerifyGraceSeconds,
  });
  const declarativeManagement = new DeclarativeManagementService(db);

  deps.appleMdmEvents.onCommandResult((r) => profileResults.handle(r));
  deps.appleMdmEvents.setDeclarativeManagementHandler((req) => declarativeManagement.handle(req));
  // A new or renewed enrollment starts clean: every profile and declaration is sent again.
  deps.appleMdmEvents.onEnrolled(async (e) => {
    await statuses.deleteRowsOfHosts([e.hostUuid]);
    await profileManager.markPending({ hostIds: [e.hostId] });
  });
  // MDM turned off: the device dropped our profiles, so its rows go (a re-enrollment re-sends all).
  deps.appleMdmEvents.onCheckedOut((e) => statuses.deleteRowsOfHosts([e.hostUuid]));
  deps.hostEvents.add({
    hostsTransferred: (hostIds) => profileManager.markPending({ hostIds }),
    labelMembershipChanged: (_labelIds, hostIds) => profileManager.markPending({ hostIds }),
    hostsDeleted: (hosts) => statuses.deleteRowsOfHosts(hosts.map((h) => h.uuid)),
  });

  return { profiles, profileManager, profileResults, declarativeManagement, profileStatusStore: statuses };
}
