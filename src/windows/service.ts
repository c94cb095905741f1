import type { Logger } from 'pino';
import type { ActivityService } from '../admin/activityService.js';
import type { UserStore } from '../admin/userStore.js';
import type { AppConfigService } from '../appconfig/service.js';
import type { Config } from '../config.js';
import { AssetName, type ConfigAssetService } from '../configassets/service.js';
import type { Database } from '../db/database.js';
import type { HostStore } from '../hosts/store.js';
import { WindowsCommandService } from './commands.js';
import { fleetMdmName, WindowsEnrollmentAuthorizer, WindowsMdmLifecycle } from './lifecycle.js';
import { WindowsEnrollmentService, windowsPaths } from './mde2/service.js';
import { WindowsMdmStore } from './store.js';
import { ManagementSessionService } from './syncml/session.js';

/** Wires the Windows MDM services: enrollment (MS-MDE2), management (SyncML) and commands. */
export function createWindowsServices(deps: {
  config: Config;
  database: Database;
  appConfig: AppConfigService;
  assets: ConfigAssetService;
  hostStore: HostStore;
  userStore: UserStore;
  activities: ActivityService;
  logger: Logger;
}) {
  const store = new WindowsMdmStore(deps.database.db);
  const lifecycle = new WindowsMdmLifecycle(deps.hostStore, deps.activities);
  const authorizer = new WindowsEnrollmentAuthorizer(deps.hostStore, deps.userStore, { onPremiseUsers: deps.config.windowsOnPremiseEnrollment });
  const serverUrl = () => deps.appConfig.serverUrl();
  const log = deps.logger.child({ area: 'windows-mdm' });
  const enrollment = new WindowsEnrollmentService(
    store,
    authorizer,
    lifecycle,
    {
      serverUrl,
      pollIntervalMinutes: deps.config.windowsPollIntervalMinutes,
      ca: async () => {
        const a = await deps.assets.get([AssetName.windowsWstepCert, AssetName.windowsWstepKey]);
        const cert = a[AssetName.windowsWstepCert];
        const key = a[AssetName.windowsWstepKey];
        if (!cert || !key) throw new Error('the Windows WSTEP CA is missing; run prepare or restart the server');
        return { certPem: cert.toString(), keyPem: key.toString() };
      },
    },
    log,
  );
  const management = new ManagementSessionService(
    store,
    lifecycle,
    { managementUrl: async () => (await serverUrl()) + windowsPaths.management, nonceTtlSeconds: deps.config.windowsDigestNonceTtlSeconds },
    log,
  );
  const commands = new WindowsCommandService(store);

  // The enabled switch is read on every device request; cache it briefly.
  let enabledCache: { at: number; value: boolean } | undefined;
  const enabled = async (): Promise<boolean> => {
    if (enabledCache && Date.now() - enabledCache.at < 1000) return enabledCache.value;
    const value = (await deps.appConfig.get()).mdm.windows_enabled_and_configured;
    enabledCache = { at: Date.now(), value };
    return value;
  };
  return { store, enrollment, management, commands, enabled, invalidateEnabled: () => (enabledCache = undefined), mdmName: fleetMdmName };
}

export type WindowsServices = ReturnType<typeof createWindowsServices>;
