import type { Logger } from 'pino';
import type { AppConfig, AppConfigService } from '../../appconfig/service.js';
import { serverFacts } from '../../appconfig/defaults.js';
import { fromDbTime } from '../../db/dialect.js';
import { HttpError } from '../../http/errors.js';
import type { HostRow, HostStore } from '../../hosts/store.js';
import {
  isEligibleForDepMigration,
  isEligibleForManualMigration,
  needsEnrollmentProfileRenewal,
  type DepAssignments,
} from '../orbit/eligibility.js';
import {
  AgentAuthError,
  AgentBadRequest,
  appleMdmNotConfiguredMessage,
  mdmNotConfigured,
} from '../orbit/errors.js';
import { criticalQueryWindowMs } from '../orbit/service.js';
import type { DeviceTokenService } from './tokens.js';
import { WebhookError, type MigrationWebhookPoster } from './webhook.js';

/** Platforms whose hosts cannot use device tokens (no fleetd; Fleet refuses them). */
const noDeviceTokenPlatforms = new Set(['ios', 'ipados']);

/** What the device endpoints need from the MDM side of a host. */
export interface DeviceMdmFacts {
  connectedToFleetMdm(host: { id: number; uuid: string; platform: string }): Promise<boolean>;
  setRefetchCriticalQueriesUntil(hostId: number, until: Date): Promise<void>;
}

/** The host detail JSON (`GET /hosts/:id`), which the device's own page shows. */
export interface HostDetailSource {
  detail(host: HostRow): Promise<Record<string, unknown>>;
}

/** Builds the manual enrollment profile (signed .mobileconfig). */
export interface ManualProfileSource {
  manualProfile(): Promise<Buffer>;
}

/**
 * Fleet Desktop and the "My device" page: everything is authenticated by the device token in the
 * path (see DeviceTokenService) and answers only about that host.
 */
export class DeviceService {
  /** The clock (epoch ms); tests move it. */
  now: () => number = Date.now;

  constructor(
    private readonly tokens: Pick<DeviceTokenService, 'hostIdFor'>,
    private readonly hosts: Pick<HostStore, 'getById' | 'setRefetchRequested'>,
    private readonly hostDetail: HostDetailSource,
    private readonly mdm: DeviceMdmFacts,
    private readonly appConfig: Pick<AppConfigService, 'get'>,
    private readonly enrollment: ManualProfileSource,
    private readonly webhook: Pick<MigrationWebhookPoster, 'post'>,
    private readonly dep: DepAssignments,
    private readonly logger?: Logger,
  ) {}

  /** The host a device token belongs to; 401 (Fleet's body) when it is unknown, expired or for iOS/iPadOS. */
  async authenticate(token: string): Promise<HostRow> {
    if (!token) throw new AgentAuthError('missing device authentication token');
    const hostId = await this.tokens.hostIdFor(token);
    const host = hostId === undefined ? undefined : await this.hosts.getById(hostId);
    if (!host || noDeviceTokenPlatforms.has(host.platform)) {
      throw new AgentAuthError('invalid device authentication token');
    }
    return host;
  }

  /** `GET /device/{token}`: the host's detail plus what the page needs from the settings. */
  async hostJson(host: HostRow) {
    const [detail, app] = await Promise.all([this.hostDetail.detail(host), this.appConfig.get()]);
    return {
      host: { ...detail, dep_assigned_to_fleet: (await this.dep.depState(host.id)).assigned },
      self_service: false,
      org_logo_url: app.org_info.org_logo_url,
      org_logo_url_light_background: app.org_info.org_logo_url_light_background,
      org_contact_url: app.org_info.contact_url,
      license: serverFacts({ debug: false }).license,
      global_config: {
        // Fleet sends Apple MDM's switch whatever the device's platform.
        mdm: { enabled_and_configured: app.mdm.enabled_and_configured },
        features: { enable_software_inventory: app.features.enable_software_inventory },
      },
    };
  }

  /**
   * `GET /device/{token}/desktop`: what Fleet Desktop shows. No policies or self-service software
   * exist yet, so those read 0 and false. `renew_enrollment_profile`: a Mac ABM assigns to this
   * server that is not MDM-enrolled (Fleet Desktop then offers the ADE enrollment prompt).
   */
  async desktopSummary(host: HostRow) {
    const app = await this.appConfig.get();
    const notifications: { needs_mdm_migration?: boolean; renew_enrollment_profile?: boolean } = {};
    if (app.mdm.enabled_and_configured && host.platform === 'darwin') {
      const dep = await this.dep.depState(host.id);
      if (needsEnrollmentProfileRenewal(host, host.mdm, dep)) notifications.renew_enrollment_profile = true;
      if (app.mdm.macos_migration.enable && (await this.migrationEligible(host)))
        notifications.needs_mdm_migration = true;
    }
    const o = app.org_info;
    const alternativeHost = app.fleet_desktop.alternative_browser_host;
    return {
      failing_policies_count: 0,
      self_service: false,
      notifications,
      config: {
        org_info: {
          org_name: o.org_name,
          org_logo_url: o.org_logo_url,
          org_logo_url_light_background: o.org_logo_url_light_background,
          org_logo_url_dark_mode: o.org_logo_url_dark_mode,
          org_logo_url_light_mode: o.org_logo_url_light_mode,
          contact_url: o.contact_url,
        },
        mdm: { macos_migration: { mode: app.mdm.macos_migration.mode } },
      },
      ...(alternativeHost ? { alternative_browser_host: alternativeHost } : {}),
    };
  }

  private async migrationEligible(host: HostRow): Promise<boolean> {
    const dep = await this.dep.depState(host.id);
    const connected = () => this.mdm.connectedToFleetMdm(host);
    return (
      (await isEligibleForDepMigration(host, host.mdm, dep, connected)) ||
      (await isEligibleForManualMigration(host, host.mdm, dep, connected))
    );
  }

  /** `POST /device/{token}/refetch`: the host reports fresh vitals on its next check-in. */
  async refetch(host: HostRow): Promise<void> {
    await this.hosts.setRefetchRequested(host.id, true);
  }

  /** `GET /device/{token}/transparency`: where Fleet Desktop's "About" link goes. */
  async transparencyUrl(): Promise<string> {
    return (await this.appConfig.get()).fleet_desktop.transparency_url || 'https://fleetdm.com/transparency';
  }

  /** Fleet's "Apple MDM must be configured" gate of the device MDM routes (400). */
  async requireAppleMdm(): Promise<AppConfig> {
    const app = await this.appConfig.get();
    if (!app.mdm.enabled_and_configured) throw mdmNotConfigured(appleMdmNotConfiguredMessage);
    return app;
  }

  /** `GET /device/{token}/mdm/apple/manual_enrollment_profile`: the signed .mobileconfig. */
  async manualEnrollmentProfile(): Promise<Buffer> {
    await this.requireAppleMdm();
    return this.enrollment.manualProfile();
  }

  /**
   * `POST /device/{token}/migrate_mdm`: the user clicked "Start" in Fleet Desktop's migration
   * dialog. While a migration's critical-query window is open this does nothing (the webhook
   * already went out). Otherwise migration must be enabled with a webhook URL and the Mac eligible
   * (Fleet answers 400 with an empty reason, the cause is only logged); the webhook gets the host,
   * and the critical-query window opens so osquery reports the unenrollment quickly.
   */
  async migrateMdm(host: HostRow): Promise<void> {
    const app = await this.requireAppleMdm();
    const until = fromDbTime(host.refetch_critical_queries_until);
    const now = this.now();
    if (until && until.getTime() > now) {
      this.logger?.debug(
        { host_id: host.id },
        'migration webhook already sent, waiting for critical queries',
      );
      return;
    }
    const migration = app.mdm.macos_migration;
    if (!migration.enable) throw new AgentBadRequest('', 'macOS migration not enabled');
    if (!migration.webhook_url) throw new AgentBadRequest('', 'macOS migration webhook URL not configured');
    if (!(await this.migrationEligible(host))) {
      throw new AgentBadRequest('', 'host not eligible for macOS migration');
    }
    try {
      await this.webhook.post(migration.webhook_url, {
        timestamp: new Date(now).toISOString(),
        host: { id: host.id, uuid: host.uuid, hardware_serial: host.hardware_serial },
      });
    } catch (err) {
      if (!(err instanceof WebhookError)) throw err;
      this.logger?.warn(
        { host_id: host.id, status: err.status, reason: err.message },
        'migration webhook failed',
      );
      // Fleet passes the webhook's own status through; a gateway error says what happened without
      // the device reading the admin's status codes as its own (a 401 there is not the token's).
      throw new HttpError(502, 'Bad Gateway', [
        { name: 'base', reason: 'error posting to the MDM migration webhook' },
      ]);
    }
    await this.mdm.setRefetchCriticalQueriesUntil(host.id, new Date(now + criticalQueryWindowMs));
    this.logger?.info({ host_id: host.id }, 'migration webhook sent');
  }
}
