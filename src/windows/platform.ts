import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { Platform } from '../mdm/platform.js';
import type { WindowsProfiles } from './profiles/adapter.js';
import { WindowsAdminCommands } from './adminCommands.js';
import { WindowsCommandAdminStore } from './adminStore.js';
import { WindowsHostActions } from './hostActions.js';
import type { WindowsServices } from './service.js';

/** Windows' adapter for the MDM core: SyncML commands on the Windows queue, fetched by polling PCs. */
export function createWindowsPlatform(deps: {
  db: Kysely<DB>;
  windows: Pick<WindowsServices, 'store' | 'commands' | 'enabled' | 'push'>;
  profiles: WindowsProfiles;
}): Platform {
  const store = new WindowsCommandAdminStore(deps.db);
  return {
    family: 'windows',
    label: 'Windows',
    hostPlatforms: ['windows'],
    commands: new WindowsAdminCommands(deps.windows.commands, store),
    profiles: deps.profiles,
    hostActions: new WindowsHostActions(
      deps.windows.store,
      store,
      () => deps.windows.enabled(),
      deps.windows.push,
    ),
  };
}
