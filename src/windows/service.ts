import type { Logger } from 'pino';
import type { ActivityService } from '../admin/activityService.js';
import type { UserStore } from '../admin/userStore.js';
import type { AppConfigService } from '../appconfig/service.js';
import type { Config } from '../config.js';
import { AssetName, type ConfigAssetService } from '../configassets/service.js';
import type { Database } from '../db/database.js';
import type { HostStore } from '../hosts/store.js';
import { BatchWriter } from '../db/batchWriter.js';
import { WindowsCommandService } from './commands.js';
import { fleetMdmName, WindowsEnrollmentAuthorizer, WindowsMdmLifecycle } from './lifecycle.js';
import { WindowsCertificateRenewal } from './mde2/renewal.js';
import { WstepRenewalStore } from './mde2/renewalStore.js';
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
  const authorizer = new WindowsEnrollmentAuthorizer(deps.hostStore, deps.userStore, {
    onPremiseUsers: deps.config.windowsOnPremiseEnrollment,
  });
  // The enabled switch and the server URL are read on every device message; cache them briefly.
  // The promise is cached so concurrent messages share one read when the cache runs out.
  let settingsCache: { at: number; value: Promise<{ enabled: boolean; serverUrl: string }> } | undefined;
  const settings = () => {
    if (!settingsCache || Date.now() - settingsCache.at >= 1000) {
      const value = deps.appConfig.get().then((cfg) => ({
        enabled: cfg.mdm.windows_enabled_and_configured,
        serverUrl: cfg.server_settings.server_url || deps.config.serverUrl,
      }));
      settingsCache = { at: Date.now(), value };
      value.catch(() => (settingsCache = undefined));
    }
    return settingsCache.value;
  };
  const serverUrl = async () => (await settings()).serverUrl;
  const log = deps.logger.child({ area: 'windows-mdm' });
  // Last-seen times are written in batches (every 2 s or 1,000 enrollments), not per message.
  const lastSeen = new BatchWriter<number>((ids) => store.touchLastSeen(ids), {
    intervalMs: 2000,
    maxItems: 1000,
    logger: log,
    name: 'windows_last_seen',
  });
  const wstepCa = async () => {
    // Re-read at most once a minute, so a CA rotated by the CLI reaches a running server.
    const a = await deps.assets.get([AssetName.windowsWstepCert, AssetName.windowsWstepKey], {
      maxAgeMs: 60_000,
    });
    const cert = a[AssetName.windowsWstepCert];
    const key = a[AssetName.windowsWstepKey];
    if (!cert || !key) throw new Error('the Windows WSTEP CA is missing; run prepare or restart the server');
    return { certPem: cert.toString(), keyPem: key.toString() };
  };
  // MS-MDE2 certificate renewal: what the device is told, and the Renew request's handler.
  const renewalSchedule = {
    periodDays: deps.config.windowsCertRenewPeriodDays,
    retryIntervalDays: deps.config.windowsCertRenewRetryIntervalDays,
  };
  const renewal = new WindowsCertificateRenewal(
    new WstepRenewalStore(deps.database.db),
    { ca: wstepCa, schedule: renewalSchedule },
    log,
  );
  const enrollment = new WindowsEnrollmentService(
    store,
    authorizer,
    lifecycle,
    {
      serverUrl,
      pollIntervalMinutes: deps.config.windowsPollIntervalMinutes,
      ca: wstepCa,
      renewalSchedule,
      renewal,
    },
    log,
  );
  const management = new ManagementSessionService(
    store,
    lifecycle,
    {
      managementUrl: async () => (await serverUrl()) + windowsPaths.management,
      nonceTtlSeconds: deps.config.windowsDigestNonceTtlSeconds,
      lastSeen,
    },
    log,
  );
  const commands = new WindowsCommandService(store);

  const enabled = async (): Promise<boolean> => (await settings()).enabled;
  return {
    store,
    enrollment,
    management,
    commands,
    enabled,
    /** Forgets the cached switch and server URL (after a settings change, in tests). */
    invalidateEnabled: () => (settingsCache = undefined),
    /** Writes buffered last-seen times now (shutdown, tests). */
    flush: () => lastSeen.flush(),
    mdmName: fleetMdmName,
  };
}

export type WindowsServices = ReturnType<typeof createWindowsServices>;
