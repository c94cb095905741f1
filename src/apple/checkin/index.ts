import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { Config } from '../../config.js';
import type { DB } from '../../db/schema.js';
import type { HostEvents } from '../../hosts/events.js';
import type { HostStore } from '../../hosts/store.js';
import { AppleCommandQueue, type CommandPreparer } from '../commands/queue.js';
import { ReportBatchStore } from '../commands/reportBatchStore.js';
import { CommandQueueStore } from '../commands/store.js';
import { createScepRenewalCheckinHooks } from '../renewal/index.js';
import { AppleFactsStore } from '../facts/store.js';
import { AppleMdmEvents, type DeclarativeManagementHandler } from '../events.js';
import { CertAuthService } from './certAuth.js';
import { withHooks } from './chain.js';
import { EnrollmentClaimStore } from './claimStore.js';
import { EnrollmentConflicts } from './conflicts.js';
import { CoreCheckinService } from './core.js';
import {
  DeviceIdentityVerifier,
  type IdentityCaProvider,
  type ImportedCaProvider,
} from './deviceIdentity.js';
import { EnrollmentClaims } from './enrollmentClaims.js';
import { AppleCheckinHandler } from './handler.js';
import { HostMdmStateStore } from './hostMdmStore.js';
import { FleetLifecycleHooks, type DepEnrollmentPort } from './lifecycle.js';
import { isDeviceChannel } from './messages.js';
import type { CheckinHooks } from './service.js';
import { EnrollmentStore } from './store.js';

export interface AppleMdmDeps {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  hostStore: HostStore;
  hostEvents: HostEvents;
  /** Our SCEP CA (device identities must be issued by it). */
  identityCa: IdentityCaProvider;
  /** SCEP CAs imported from a previous MDM: their device identities are accepted too. */
  importedCas?: ImportedCaProvider;
  /** The server's public URL as configured now. */
  serverUrl: () => Promise<string>;
  /** The audit log (mdm_enrolled / mdm_unenrolled activities). */
  activities?: Pick<ActivityService, 'record'>;
  /** Told when a certificate is bound to a device at Authenticate (SCEP bookkeeping). */
  onCertificateAssociated?: (certDer: Buffer, deviceId: string) => Promise<void>;
  /** Answers DeclarativeManagement check-ins (tokens, declaration items, declarations, status). */
  declarativeManagement?: DeclarativeManagementHandler;
  /** ADE: DEP assignment and pending-host adoption at turn-on. */
  depEnrollment?: DepEnrollmentPort;
  /** Builds at delivery the commands stored in another form, by subtype (e.g. ProfileWithSecrets). */
  commandPreparers?: ReadonlyMap<string, CommandPreparer>;
}

/**
 * Builds the Apple check-in chain (certificate authentication → core protocol storage → Fleet
 * lifecycle), the command queue and the event hub, and hooks host deletion to enrollment cleanup.
 */
export function createAppleMdm(deps: AppleMdmDeps) {
  const { config, db, logger } = deps;
  const events = new AppleMdmEvents(logger);
  const enrollmentStore = new EnrollmentStore(db);
  const queueStore = new CommandQueueStore(db);
  const hostMdmState = new HostMdmStateStore(db);
  const queue = new AppleCommandQueue(queueStore, {
    maxDeliveryAttempts: config.appleCommandMaxDeliveries,
    retentionDays: config.appleCommandRetentionDays,
    logger,
    preparers: deps.commandPreparers,
    // One transaction per batch of reports; one at a time, so a busy server writes big batches.
    reportBatches: { store: new ReportBatchStore(db), maxBatch: 200, maxConcurrent: 1 },
  });
  const core = new CoreCheckinService(
    enrollmentStore,
    queueStore,
    queue,
    events,
    logger,
    deps.declarativeManagement,
  );
  const lifecycle = new FleetLifecycleHooks(
    enrollmentStore,
    deps.hostStore,
    hostMdmState,
    events,
    deps.serverUrl,
    logger,
    deps.activities,
    deps.depEnrollment,
    // DeviceInformation vitals beyond name, model and OS (disk space, MAC, detail time).
    new AppleFactsStore(db),
  );
  const claimStore = new EnrollmentClaimStore(db);
  const conflicts = new EnrollmentConflicts(claimStore, deps.hostStore, deps.activities, logger);
  const claims = new EnrollmentClaims(claimStore, {
    reenrollAfterSilentDays: config.appleReenrollAfterSilentDays,
  });
  // A SCEP identity renewal completes when the device authenticates with its new identity.
  const renewal = createScepRenewalCheckinHooks({
    db,
    hostStore: deps.hostStore,
    activities: deps.activities,
    logger,
    queueStore,
  });
  // A user channel's TokenUpdate: what waits for it (user-scope profiles) can now be delivered.
  const userChannel: CheckinHooks = {
    tokenUpdate: async (r) => {
      const e = r.enrollment;
      if (isDeviceChannel(e) || !r.notes.enrollmentEnabled) return;
      await events.emitUserChannel({ hostUuid: e.deviceId, enrollmentId: e.id });
    },
  };
  const hooks = [lifecycle, renewal, userChannel];
  const chain = new CertAuthService(enrollmentStore, claims, withHooks(core, hooks, logger), {
    onAssociate: deps.onCertificateAssociated,
    onConflict: conflicts.record,
  });
  const identity = new DeviceIdentityVerifier(deps.identityCa, deps.importedCas);
  const handler = new AppleCheckinHandler(identity, chain);

  // Deleting a host removes its enrollment state and revokes its certificates; the device must
  // enroll again with a new identity.
  deps.hostEvents.add({
    hostsDeleted: async (hosts) => {
      await enrollmentStore.deleteDevices(hosts.map((h) => h.uuid).filter(Boolean));
    },
  });

  return {
    appleMdmEvents: events,
    appleQueue: queue,
    appleCheckin: handler,
    appleEnrollments: enrollmentStore,
    appleEnrollmentConflicts: conflicts,
    /** Writes buffered last-seen times and delivery counts (shutdown and tests). */
    flushAppleCheckin: () => core.flush(),
  };
}
