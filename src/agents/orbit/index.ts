import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { AppConfigService } from '../../appconfig/service.js';
import type { DB } from '../../db/schema.js';
import type { DiskEncryptionForAgents } from '../../diskencryption/forAgents.js';
import type { HostEvents } from '../../hosts/events.js';
import type { HostStore } from '../../hosts/store.js';
import type { EnrollSecretService } from '../../teams/enrollSecretService.js';
import type { DepAssignments } from './eligibility.js';
import { OrbitService, type DeviceTokenRegistrar } from './service.js';
import { OrbitStore } from './store.js';

/** Builds the fleetd (orbit) area: its store and service. */
export function createOrbit(deps: {
  db: Kysely<DB>;
  hostStore: HostStore;
  enrollSecrets: EnrollSecretService;
  appConfig: AppConfigService;
  activities: ActivityService;
  hostEvents: HostEvents;
  diskEncryption: DiskEncryptionForAgents;
  deviceTokens: DeviceTokenRegistrar;
  dep: DepAssignments;
  logger?: Logger;
}) {
  const orbitStore = new OrbitStore(deps.db);
  const orbit = new OrbitService(
    deps.hostStore,
    orbitStore,
    deps.enrollSecrets,
    deps.appConfig,
    deps.activities,
    deps.hostEvents,
    deps.diskEncryption,
    deps.deviceTokens,
    deps.dep,
    deps.logger,
  );
  return { orbit, orbitStore };
}
