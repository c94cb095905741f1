import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfigService } from '../../appconfig/service.js';
import type { DB } from '../../db/schema.js';
import type { HostStore } from '../../hosts/store.js';
import {
  DeviceService,
  type DeviceMdmFacts,
  type HostDetailSource,
  type ManualProfileSource,
} from './service.js';
import type { DepAssignments } from '../orbit/eligibility.js';
import { DeviceAuthStore } from './store.js';
import { DeviceTokenService } from './tokens.js';
import { MigrationWebhookPoster } from './webhook.js';

/**
 * Builds the Fleet Desktop device area: device tokens (orbit registers them, the device endpoints
 * check them) and the device service.
 */
export function createDeviceTokens(db: Kysely<DB>) {
  return new DeviceTokenService(new DeviceAuthStore(db));
}

export function createDevice(deps: {
  deviceTokens: DeviceTokenService;
  hostStore: HostStore;
  hostDetail: HostDetailSource;
  mdm: DeviceMdmFacts;
  appConfig: AppConfigService;
  enrollment: ManualProfileSource;
  dep: DepAssignments;
  logger?: Logger;
}) {
  const device = new DeviceService(
    deps.deviceTokens,
    deps.hostStore,
    deps.hostDetail,
    deps.mdm,
    deps.appConfig,
    deps.enrollment,
    new MigrationWebhookPoster(),
    deps.dep,
    deps.logger,
  );
  return { device };
}
