import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../admin/activityService.js';
import { AssetName, type ConfigAssetService } from '../configassets/service.js';
import type { DB } from '../db/schema.js';
import { CertificateExpiryService, type CertificateSources } from './service.js';
import { CertificateExpiryStore } from './store.js';
import { DiskEncryptionStore } from '../diskencryption/keyStore.js';
import { CaRotationService, previousCaPems, rotatedCaActivity } from './rotation.js';

/**
 * Builds expiry monitoring over the areas that own the certificates: the APNs certificate and
 * ABM tokens come through their services, the built-in CAs from the config assets, device
 * certificates from this module's own read-only store.
 */
export function createCertificates(deps: {
  db: Kysely<DB>;
  logger: Logger;
  config: { certificateExpiryWarningDays: number[] };
  assets: ConfigAssetService;
  activities: ActivityService;
  apns: { status(): Promise<{ common_name: string; renew_date: string } | null> };
  abmTokens: { list(): Promise<{ id: number; org_name: string; renew_date: string | null }[]> };
}) {
  const sources: CertificateSources = {
    apns: () => deps.apns.status(),
    abmTokens: () => deps.abmTokens.list(),
    builtinCas: async () => {
      const a = await deps.assets.get(
        [
          AssetName.appleScepCaCert,
          AssetName.windowsWstepCert,
          AssetName.applePreviousCaCerts,
          AssetName.windowsPreviousCaCerts,
        ],
        { maxAgeMs: 60_000 },
      );
      return {
        appleScep: a[AssetName.appleScepCaCert]?.toString(),
        windowsWstep: a[AssetName.windowsWstepCert]?.toString(),
        appleScepPrevious: previousCaPems(a[AssetName.applePreviousCaCerts]?.toString()),
        windowsWstepPrevious: previousCaPems(a[AssetName.windowsPreviousCaCerts]?.toString()),
      };
    },
  };
  return new CertificateExpiryService(
    new CertificateExpiryStore(deps.db),
    sources,
    { record: (type, details, trx) => deps.activities.record(null, type, details, { trx }) },
    { warningDays: deps.config.certificateExpiryWarningDays },
    deps.logger.child({ area: 'certificates' }),
  );
}

/** Builds the rotation of the built-in CAs (`flotilla certs rotate-ca`). */
export function createCaRotation(deps: {
  db: Kysely<DB>;
  logger: Logger;
  assets: ConfigAssetService;
  activities: ActivityService;
}): CaRotationService {
  const keys = new DiskEncryptionStore(deps.db);
  return new CaRotationService({
    assets: deps.assets,
    recordActivity: (details, trx) => deps.activities.record(null, rotatedCaActivity, details, { trx }),
    escrowedKeys: (platform) => keys.countEscrowed(platform),
    logger: deps.logger.child({ area: 'certificates' }),
  });
}

export type { CertificateStatus } from './service.js';
export { CaRotationError, CaRotationService, type CaPlatform, type CaRotationSummary } from './rotation.js';
export { CertificateExpiryService } from './service.js';
