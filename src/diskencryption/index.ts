import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../admin/activityService.js';
import type { AppConfigService } from '../appconfig/service.js';
import type { ProfileManager } from '../apple/profiles/manager.js';
import { ProfileStore } from '../apple/profiles/store.js';
import type { AppleScepService } from '../apple/scep/service.js';
import { AssetName, type ConfigAssetService } from '../configassets/service.js';
import { pemPairs } from '../crypto/pemBundle.js';
import type { DB } from '../db/schema.js';
import type { TeamStore } from '../teams/store.js';
import { BitLockerKeys } from './bitlocker.js';
import { DiskEncryptionStore } from './keyStore.js';
import { DiskEncryptionService } from './service.js';

/** Builds the disk-encryption area. */
export function createDiskEncryption(deps: {
  db: Kysely<DB>;
  logger: Logger;
  appConfig: AppConfigService;
  teamStore: TeamStore;
  activities: ActivityService;
  appleScep: Pick<AppleScepService, 'caCertificate' | 'previousCas'>;
  assets: ConfigAssetService;
  appleProfileManager: Pick<ProfileManager, 'markPending'>;
}) {
  // Re-read at most once a minute, so a CA rotated by the CLI reaches a running server.
  const maxAgeMs = 60_000;
  const bitLocker = new BitLockerKeys(
    async () => {
      const a = await deps.assets.get([AssetName.windowsWstepCert, AssetName.windowsWstepKey], { maxAgeMs });
      const cert = a[AssetName.windowsWstepCert];
      const key = a[AssetName.windowsWstepKey];
      if (!cert || !key)
        throw new Error('the Windows WSTEP CA is missing; run prepare or restart the server');
      return { certPem: cert.toString(), keyPem: key.toString() };
    },
    async () => {
      const a = await deps.assets.get([AssetName.windowsPreviousCaCerts, AssetName.windowsPreviousCaKeys], {
        maxAgeMs,
      });
      return pemPairs(
        a[AssetName.windowsPreviousCaCerts]?.toString(),
        a[AssetName.windowsPreviousCaKeys]?.toString(),
      );
    },
  );
  const diskEncryption = new DiskEncryptionService({
    store: new DiskEncryptionStore(deps.db),
    profiles: new ProfileStore(deps.db),
    profileManager: deps.appleProfileManager,
    appleCa: () => deps.appleScep.caCertificate(),
    retiredAppleCas: () => deps.appleScep.previousCas(),
    bitLocker,
    appConfig: deps.appConfig,
    teams: deps.teamStore,
    activities: deps.activities,
    logger: deps.logger,
  });
  return { diskEncryption };
}
