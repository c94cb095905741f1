import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { dbNow } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { ReconcileStore } from '../../mdm/profiles/reconcileStore.js';
import { profileWithSecretsSubtype, type CommandPreparer } from '../commands/queue.js';
import type { AppleMdmEvents } from '../events.js';
import { AppleProfiles } from './adapter.js';
import { AppleChannelStore } from './channels.js';
import type { ProfileVariableExpander } from './delivery.js';
import { HostStatusStore } from './hostStatusStore.js';
import { ProfileManager, type AppleCommandPorts } from './manager.js';
import { ProfileResultHandler } from './results.js';
import { SecretProfileDelivery } from './secretDelivery.js';
import { ProfileSigner, type SigningIdentity } from './signing.js';
import { ProfileStore } from './store.js';

/**
 * The parts of profile delivery the Apple command queue needs, so they are built before it: the
 * signer of InstallProfile payloads and the preparer that fills and signs `ProfileWithSecrets`
 * commands as they are handed to a device.
 */
export function createAppleProfileDelivery(deps: {
  config: Config;
  db: Kysely<DB>;
  /** The Apple SCEP CA, which signs profiles as Fleet does. */
  signingIdentity: () => Promise<SigningIdentity>;
  secrets: Pick<ProfileVariableExpander, 'expandSecrets'>;
}) {
  const signer = new ProfileSigner(deps.signingIdentity, {
    resignSignedUploads: deps.config.appleProfileResignSignedUploads,
  });
  const secretProfiles = new SecretProfileDelivery(
    deps.secrets,
    signer,
    new HostStatusStore(deps.db),
    new AppleChannelStore(deps.db),
  );
  const commandPreparers: ReadonlyMap<string, CommandPreparer> = new Map([
    [profileWithSecretsSubtype, secretProfiles],
  ]);
  return { signer, commandPreparers };
}

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
  /** Fills `$FLEET_VAR_*` per host (src/mdm/variables). */
  variables: ProfileVariableExpander;
  /** Signs InstallProfile payloads (from createAppleProfileDelivery). */
  signer: ProfileSigner;
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
    { signer: deps.signer, variables: deps.variables, channels: new AppleChannelStore(db) },
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
  // A user channel appeared: user-scope profiles that failed for want of one are delivered (those
  // still waiting go at the next tick anyway).
  deps.appleMdmEvents.onUserChannel(async (e) => {
    await statuses.reopenUserScopeFailures(e.hostUuid, dbNow());
  });

  const profiles = new AppleProfiles(store, statuses, manager);
  return { profiles, manager, results, statuses };
}
