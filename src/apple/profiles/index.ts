import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { DB } from '../../db/schema.js';
import { ReconcileStore } from '../../mdm/profiles/reconcileStore.js';
import type { AppleMdmEvents } from '../events.js';
import { AppleProfiles } from './adapter.js';
import { HostStatusStore } from './hostStatusStore.js';
import { ProfileManager, type AppleCommandPorts } from './manager.js';
import { ProfileResultHandler } from './results.js';
import { ProfileStore } from './store.js';

/**
 * Wires Apple configuration profiles and declarations: stores, the manager, the command-result
 * handler, the DDM endpoints (hooked into Apple check-ins), and the adapter the MDM core's profiles
 * API calls.
 */
export function createAppleProfiles(deps: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  appleMdmEvents: AppleMdmEvents;
  appleQueue: { enqueue: AppleCommandPorts['enqueue']; enqueueMany?: AppleCommandPorts['enqueueMany'] };
  applePush: { pushEnrollments(ids: string[]): Promise<unknown> };
}) {
  const { config, db, logger } = deps;
  const store = new ProfileStore(db);
  const statuses = new HostStatusStore(db);
  const manager = new ProfileManager(
    db,
    new ReconcileStore(db),
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
  const results = new ProfileResultHandler(db, statuses, {
    maxRetries: config.profileMaxRetries,
    verifyGraceSeconds: config.profileVerifyGraceSeconds,
  });

  deps.appleMdmEvents.onCommandResult((r) => results.handle(r));
  // A new or renewed enrollment starts clean: every profile and declaration is sent again.
  deps.appleMdmEvents.onEnrolled(async (e) => {
    await statuses.deleteRowsOfHosts([e.hostUuid]);
    await manager.markPending({ hostIds: [e.hostId] });
  });
  // MDM turned off: the device dropped our profiles, so its rows go (a re-enrollment re-sends all).
  deps.appleMdmEvents.onCheckedOut((e) => statuses.deleteRowsOfHosts([e.hostUuid]));

  const profiles = new AppleProfiles(store, statuses, manager);
  return { profiles, manager, results, statuses };
}
