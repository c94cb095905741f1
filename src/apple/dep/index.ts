import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfigService } from '../../appconfig/service.js';
import type { ConfigAssetService } from '../../configassets/service.js';
import { ConfigAssetStore } from '../../configassets/store.js';
import type { SecretBox } from '../../crypto/secretbox.js';
import type { DB } from '../../db/schema.js';
import type { HostEvents } from '../../hosts/events.js';
import type { HostStore } from '../../hosts/store.js';
import { DepAssignmentStore } from './assignmentStore.js';
import { DepClientPool } from './clientPool.js';
import { DeletedDepHostRestorer } from './deletedHosts.js';
import { DepProfileService } from './profiles.js';
import { DepProfileStore } from './profileStore.js';
import { DepSyncService, type DepSyncOptions } from './syncer.js';
import { AbmTokenService } from './tokenService.js';
import { AbmTokenStore } from './tokenStore.js';

export interface AppleDepDeps {
  config: { appleDepBaseUrl: string };
  db: Kysely<DB>;
  box: SecretBox;
  assets: ConfigAssetService;
  appConfig: AppConfigService;
  hostStore: HostStore;
  hostEvents: HostEvents;
  logger: Logger;
  /** Tests and benchmarks tune paging and batch sizes. */
  syncOptions?: Partial<DepSyncOptions>;
}

/**
 * Apple Automated Device Enrollment, first slice: ABM server tokens (the `/abm_tokens` API and the
 * ABM key pair), the DEP syncer cron (`apple_mdm_dep_profile_assigner`) that turns the devices ABM
 * assigns to this server into pending hosts and assigns them ADE profiles, and the restore of
 * deleted hosts ABM still assigns here.
 */
export function createAppleDep(deps: AppleDepDeps) {
  const { db, logger } = deps;
  const log = logger.child({ component: 'apple-dep' });
  const tokenStore = new AbmTokenStore(db);
  const assignmentStore = new DepAssignmentStore(db);
  const profiles = new DepProfileService(new DepProfileStore(db), deps.appConfig);
  const clients = new DepClientPool(deps.config.appleDepBaseUrl);
  const tokens = new AbmTokenService({
    tokens: tokenStore,
    assets: deps.assets,
    assetStore: new ConfigAssetStore(db),
    box: deps.box,
    appConfig: deps.appConfig,
    profiles,
    clients,
    logger: log,
  });
  const sync = new DepSyncService(
    {
      db,
      tokens: tokenStore,
      assignments: assignmentStore,
      hosts: deps.hostStore,
      profiles,
      clients,
      box: deps.box,
      appConfig: deps.appConfig,
      logger: log,
    },
    deps.syncOptions,
  );
  deps.hostEvents.add(new DeletedDepHostRestorer(db, assignmentStore, profiles, log));
  return {
    tokens,
    sync,
    profiles,
    /** For the ADE enrollment slice: is this host (id or serial) assigned to this server in ABM? */
    isDepAssigned: (by: { hostId: number } | { serial: string }) => assignmentStore.isDepAssigned(by),
    depState: (hostId: number) => assignmentStore.depState(hostId),
    /** For the ADE enrollment slice: the token of `/api/mdm/apple/enroll?token=` in ADE profiles. */
    automaticEnrollmentToken: () => profiles.automaticEnrollmentToken(),
    /** Points a token's DEP calls at another base URL (NanoDEP's config_base_url), null = default. */
    setDepBaseUrl: (orgName: string, url: string | null) => tokenStore.setConfigBaseUrl(orgName, url),
  };
}

export type AppleDep = ReturnType<typeof createAppleDep>;
