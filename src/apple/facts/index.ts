import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../../db/schema.js';
import type { HostEvents } from '../../hosts/events.js';
import type { AppleCommandQueue } from '../commands/queue.js';
import type { AppleMdmEvents } from '../events.js';
import type { ApnsCertificateService } from '../push/certificates.js';
import type { ApplePushService } from '../push/service.js';
import { AppleFactsService, type AppleFactsOptions } from './service.js';
import { AppleFactsStore } from './store.js';

export interface AppleFactsDeps {
  db: Kysely<DB>;
  logger: Logger;
  appleMdmEvents: AppleMdmEvents;
  appleQueue: Pick<AppleCommandQueue, 'enqueue'>;
  applePush: Pick<ApplePushService, 'pushEnrollments'>;
  pushCertificates: Pick<ApnsCertificateService, 'current'>;
  hostEvents: HostEvents;
  options: AppleFactsOptions;
}

/**
 * Apple device facts: the refetch jobs (DeviceInformation, SecurityInfo), SecurityInfo answers
 * and the host detail's `mdm.security_info`. A deleted host's facts go with it.
 */
export function createAppleFacts(deps: AppleFactsDeps) {
  const store = new AppleFactsStore(deps.db);
  const service = new AppleFactsService(
    store,
    deps.appleQueue,
    deps.applePush,
    deps.pushCertificates,
    deps.options,
    deps.logger,
  );
  deps.appleMdmEvents.onCommandResult((e) => service.handleCommandResult(e));
  deps.hostEvents.add({ hostsDeleted: (hosts) => store.deleteForHosts(hosts.map((h) => h.id)) });
  return service;
}
