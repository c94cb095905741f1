import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { AppConfigService } from '../../appconfig/service.js';
import type { DB } from '../../db/schema.js';
import type { HostEvents } from '../../hosts/events.js';
import type { TeamStore } from '../../teams/store.js';
import type { AppleMdmEvents } from '../events.js';
import { AdeEnrollmentService } from './enrollService.js';
import { GdmfClient, type LatestOsSource } from './osUpdates.js';
import { SetupAssistantService, type SetupAssistantDeps } from './setupAssistants.js';
import { SetupExperienceService, type SetupExperienceDeps } from './setupExperience.js';
import { AdeStore } from './store.js';

/**
 * What the Apple check-in lifecycle asks about a device that turns MDM on: is its host assigned to
 * this server in ABM (then it was installed from ADE), and the adoption of a pending ADE host (no
 * UUID yet) matched by serial. Built from the database alone, before the check-in chain exists.
 */
export function createAdeHostPort(db: Kysely<DB>) {
  const store = new AdeStore(db);
  return {
    isDepAssigned: (hostId: number) => store.isDepAssigned(hostId),
    adoptPlaceholder: (hostId: number, uuid: string) => store.adoptPlaceholder(hostId, uuid),
  };
}

export type AdeHostPort = ReturnType<typeof createAdeHostPort>;

export interface AppleAdeDeps {
  config: { appleSetupReleaseTimeoutSeconds: number; appleGdmfUrl: string };
  db: Kysely<DB>;
  logger: Logger;
  teamStore: Pick<TeamStore, 'getById'>;
  appConfig: Pick<AppConfigService, 'get'>;
  activities: Pick<ActivityService, 'record'>;
  /** Builds the signed ADE enrollment profile (the Apple enrollment service). */
  enrollmentProfiles: { automaticProfile(opts: { enrollReference?: string }): Promise<Buffer> };
  /** The DEP slice: the automatic profile's token, setup-assistant storage, the syncer. */
  dep: {
    automaticEnrollmentToken(): Promise<string>;
    profiles: SetupAssistantDeps['profiles'];
    sync: { requestFullResync(tokenId?: number): Promise<void> };
  };
  appleMdmEvents: AppleMdmEvents;
  appleQueue: SetupExperienceDeps['queue'];
  applePush: SetupExperienceDeps['push'];
  bootstrap: SetupExperienceDeps['bootstrap'];
  hostEvents: HostEvents;
  /** Tests point the minimum-OS check at a stand-in of Apple's software lookup service. */
  latestOs?: LatestOsSource;
}

/**
 * Apple ADE, second slice: the automatic enrollment endpoint (machine info, minimum OS, end-user
 * reference), the setup experience (hold in Setup Assistant, bootstrap package, AccountConfiguration,
 * release with DeviceConfigured) and custom setup assistants.
 */
export function createAppleAde(deps: AppleAdeDeps) {
  const log = deps.logger.child({ component: 'apple-ade' });
  const store = new AdeStore(deps.db);
  const enrollment = new AdeEnrollmentService({
    store,
    teams: deps.teamStore,
    appConfig: deps.appConfig,
    automaticToken: () => deps.dep.automaticEnrollmentToken(),
    profiles: deps.enrollmentProfiles,
    latestOs: deps.latestOs ?? new GdmfClient(deps.config.appleGdmfUrl),
    logger: log,
  });
  const setup = new SetupExperienceService({
    store,
    teams: deps.teamStore,
    appConfig: deps.appConfig,
    bootstrap: deps.bootstrap,
    queue: deps.appleQueue,
    push: deps.applePush,
    releaseTimeoutSeconds: deps.config.appleSetupReleaseTimeoutSeconds,
    logger: log,
  });
  const assistants = new SetupAssistantService({
    profiles: deps.dep.profiles,
    requestResync: () => deps.dep.sync.requestFullResync(),
    teams: deps.teamStore,
    appConfig: deps.appConfig,
    activities: deps.activities,
  });
  deps.appleMdmEvents.onEnrolled((e) => setup.onEnrolled(e));
  deps.appleMdmEvents.onCommandResult((r) => setup.onCommandResult(r));
  deps.hostEvents.add({ hostsDeleted: (hosts) => setup.forgetHosts(hosts.map((h) => h.uuid)) });
  return { enrollment, setup, assistants };
}

export type AppleAde = ReturnType<typeof createAppleAde>;
