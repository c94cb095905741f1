import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Platform } from '../mdm/platform.js';
import type { AppleProfiles } from './profiles/adapter.js';
import { AppleAdminCommands } from './commands/adminCommands.js';
import { AppleCommandAdminStore } from './commands/adminStore.js';
import { AppleHostActions } from './commands/hostActions.js';
import type { AppleCommandQueue } from './commands/queue.js';
import type { EnrollmentConflicts } from './checkin/conflicts.js';
import type { ApnsCertificateService } from './push/certificates.js';
import type { ApplePushService } from './push/service.js';

/** Host platforms Apple MDM manages. */
export const applePlatforms = ['darwin', 'ios', 'ipados'];

/** Apple's adapter for the MDM core: plist commands on the Apple queue, woken by APNs. */
export function createApplePlatform(deps: {
  db: Kysely<DB>;
  queue: Pick<AppleCommandQueue, 'enqueue'>;
  push: Pick<ApplePushService, 'pushEnrollments'>;
  certificates: Pick<ApnsCertificateService, 'current'>;
  conflicts: Pick<EnrollmentConflicts, 'forHost'>;
  profiles: AppleProfiles;
}): Platform {
  const store = new AppleCommandAdminStore(deps.db);
  return {
    family: 'apple',
    label: 'Apple',
    hostPlatforms: applePlatforms,
    commands: new AppleAdminCommands(store, deps.queue, deps.push, deps.certificates),
    profiles: deps.profiles,
    hostActions: new AppleHostActions(store, deps.queue, deps.push, deps.certificates),
    // A refused attempt by another identity to claim the host's enrollment, if any (null otherwise).
    hostDetail: async (host) => ({ enrollment_conflict: await deps.conflicts.forHost(host.uuid) }),
  };
}
