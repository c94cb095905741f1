import type { Kysely } from 'kysely';
import type { ActivityService } from '../../admin/activityService.js';
import type { DB } from '../../db/schema.js';
import type { HostStore } from '../../hosts/store.js';
import type { ApnsCertificateService } from '../push/certificates.js';
import type { ApplePushService } from '../push/service.js';
import { AppleCommandAdminService, type WindowsCommands } from './adminService.js';
import { AppleCommandAdminStore } from './adminStore.js';
import { AppleHostActionService } from './hostActions.js';
import type { AppleCommandQueue } from './queue.js';

/** Wires the admin commands API and the Apple host actions. */
export function createAppleCommandAdmin(deps: {
  db: Kysely<DB>;
  queue: AppleCommandQueue;
  push: ApplePushService;
  certificates: ApnsCertificateService;
  activities: ActivityService;
  hostStore: HostStore;
  windowsCommands?: WindowsCommands;
}) {
  const store = new AppleCommandAdminStore(deps.db);
  const queue = () => deps.queue;
  const commands = new AppleCommandAdminService(
    store,
    queue,
    deps.push,
    deps.certificates,
    deps.activities,
    deps.windowsCommands,
  );
  const hostActions = new AppleHostActionService(
    store,
    deps.hostStore,
    queue,
    deps.push,
    deps.certificates,
    deps.activities,
  );
  return { store, commands, hostActions };
}
