import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Platform, PlatformProfiles } from '../mdm/platform.js';
import { AndroidAdminCommands } from './commands/adminCommands.js';
import { AndroidHostActions } from './commands/hostActions.js';
import type { AndroidCommandService } from './commands/service.js';
import type { AndroidCommandStore } from './commands/store.js';
import type { AndroidDeviceStore } from './devices/store.js';

/** Android's adapter for the MDM core: AMAPI commands (lock, wipe, unenroll) and its profiles. */
export function createAndroidPlatform(deps: {
  db: Kysely<DB>;
  devices: Pick<AndroidDeviceStore, 'hostById' | 'boundEnterpriseId'>;
  commands: AndroidCommandService;
  commandStore: AndroidCommandStore;
  profiles: PlatformProfiles;
}): Platform {
  return {
    family: 'android',
    label: 'Android',
    hostPlatforms: ['android'],
    commands: new AndroidAdminCommands(deps.commandStore),
    hostActions: new AndroidHostActions(deps.db, deps.devices, deps.commands, deps.commandStore),
    profiles: deps.profiles,
  };
}
