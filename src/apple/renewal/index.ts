import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { AppConfigService } from '../../appconfig/service.js';
import type { Config } from '../../config.js';
import type { DB } from '../../db/schema.js';
import type { HostStore } from '../../hosts/store.js';
import type { AppleCommandQueue } from '../commands/queue.js';
import { CommandQueueStore } from '../commands/store.js';
import type { PushTopicSource } from '../enrollment/service.js';
import type { AppleScepService } from '../scep/service.js';
import { ScepRenewalCheckinHooks } from './checkinHooks.js';
import { RenewalCompletion } from './completion.js';
import { ScepRenewalService } from './service.js';
import { ScepRenewalStore } from './store.js';

/** The check-in link that completes renewals (built with the check-in chain, before the cron's service). */
export function createScepRenewalCheckinHooks(deps: CompletionDeps): ScepRenewalCheckinHooks {
  return new ScepRenewalCheckinHooks(renewalCompletion(deps));
}

interface CompletionDeps {
  db: Kysely<DB>;
  hostStore: Pick<HostStore, 'findByUuid'>;
  activities?: Pick<ActivityService, 'record'>;
  logger?: Logger;
  queueStore?: CommandQueueStore;
}

function renewalCompletion(deps: CompletionDeps): RenewalCompletion {
  return new RenewalCompletion(
    new ScepRenewalStore(deps.db),
    deps.queueStore ?? new CommandQueueStore(deps.db),
    deps.hostStore,
    deps.activities,
    deps.logger,
  );
}

/** Apple SCEP identity renewal: the `renew_scep_certificates` cron's service and its store. */
export function createAppleScepRenewal(deps: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  hostStore: Pick<HostStore, 'findByUuid'>;
  activities?: Pick<ActivityService, 'record'>;
  appleScep: Pick<AppleScepService, 'issueChallenge' | 'caCertificate'>;
  pushCertificates: PushTopicSource;
  appConfig: Pick<AppConfigService, 'get' | 'serverUrl'>;
  appleQueue: Pick<AppleCommandQueue, 'enqueue'>;
  applePush: { pushEnrollments(ids: string[]): Promise<unknown> };
}) {
  const store = new ScepRenewalStore(deps.db);
  const service = new ScepRenewalService(
    store,
    renewalCompletion(deps),
    {
      scep: deps.appleScep,
      pushCertificates: deps.pushCertificates,
      appConfig: deps.appConfig,
      queue: deps.appleQueue,
      queueStore: new CommandQueueStore(deps.db),
      push: deps.applePush,
      activities: deps.activities,
      logger: deps.logger,
    },
    {
      windowDays: deps.config.appleScepRenewalWindowDays,
      batchSize: deps.config.appleScepRenewalBatchSize,
      retryMinutes: deps.config.appleScepRenewalRetryMinutes,
      migrationProfileFile: deps.config.appleMigrationEnrollmentProfileFile,
    },
  );
  return { service, store };
}
