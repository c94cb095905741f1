import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { AppConfig, AppConfigService } from '../../appconfig/service.js';
import type { DiskEncryptionForAgents } from '../../diskencryption/forAgents.js';
import type { HostEvents } from '../../hosts/events.js';
import type { HostRow, HostStore } from '../../hosts/store.js';
import { invalid } from '../../http/errors.js';
import type { EnrollSecretService } from '../../teams/enrollSecretService.js';
import { windowsPaths } from '../../windows/mde2/service.js';
import { agentOptionsPart, type OrbitExtension, type OrbitUpdateChannels } from './agentOptions.js';
import {
  isEligibleForDepMigration,
  isEligibleForManualMigration,
  needsEnrollmentProfileRenewal,
  type DepAssignments,
  isEligibleForWindowsEnrollment,
  isEligibleForWindowsMigration,
  isEligibleForWindowsUnenrollment,
  isOsqueryEnrolled,
} from './eligibility.js';
import {
  AgentAuthError,
  AgentAuthFailedError,
  AgentBadRequest,
  mdmNotConfigured,
  windowsMdmNotConfiguredMessage,
} from './errors.js';
import type { OrbitStore } from './store.js';

/** Fleet's `osquery.node_key_size`: random bytes in a node key, sent as standard base64. */
export const orbitNodeKeyBytes = 24;

/**
 * How long the MDM-critical queries run on every osquery check-in after a migration starts (Fleet's
 * RefetchMDMUnenrollCriticalQueryDuration).
 */
export const criticalQueryWindowMs = 3 * 60 * 1000;

/** host_emails source for the end-user email orbit reports (Fleet's DeviceMappingCustomInstaller). */
export const orbitEmailSource = 'custom_installer';

export interface OrbitEnrollRequest {
  enroll_secret: string;
  hardware_uuid: string;
  hardware_serial: string;
  hostname: string;
  platform: string;
  osquery_identifier: string;
  computer_name: string;
  hardware_model: string;
}

/** Fleet's OrbitConfigNotifications; only true or non-empty values are sent. */
export interface OrbitNotifications {
  renew_enrollment_profile?: boolean;
  rotate_disk_encryption_key?: boolean;
  needs_mdm_migration?: boolean;
  needs_programmatic_windows_mdm_enrollment?: boolean;
  windows_mdm_discovery_endpoint?: string;
  needs_programmatic_windows_mdm_unenrollment?: boolean;
  pending_script_execution_ids?: string[];
  enforce_bitlocker_encryption?: boolean;
  enable_bitlocker_pin_protector_config?: boolean;
  pending_software_installer_ids?: string[];
  run_setup_experience?: boolean;
  run_disk_encryption_escrow?: boolean;
}

/** Fleet's notification keys in the order its struct has them. */
const notificationOrder: (keyof OrbitNotifications)[] = [
  'renew_enrollment_profile',
  'rotate_disk_encryption_key',
  'needs_mdm_migration',
  'needs_programmatic_windows_mdm_enrollment',
  'windows_mdm_discovery_endpoint',
  'needs_programmatic_windows_mdm_unenrollment',
  'pending_script_execution_ids',
  'enforce_bitlocker_encryption',
  'enable_bitlocker_pin_protector_config',
  'pending_software_installer_ids',
  'run_setup_experience',
  'run_disk_encryption_escrow',
];

/** Fleet's OrbitConfig: every key but `notifications` is left out when unset. */
export interface OrbitConfig {
  script_execution_timeout?: number;
  command_line_startup_flags?: unknown;
  extensions?: Record<string, OrbitExtension>;
  notifications: OrbitNotifications;
  update_channels?: OrbitUpdateChannels;
}

/** What orbit's device_token endpoint needs from the device-token area. */
export interface DeviceTokenRegistrar {
  register(hostId: number, token: string): Promise<void>;
}

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Fleet's display name: computer name, else hostname, else "model (serial)", else nothing. */
export function fleetDisplayName(h: {
  computerName: string;
  hostname: string;
  hardwareModel: string;
  hardwareSerial: string;
}): string {
  if (h.computerName) return h.computerName;
  if (h.hostname) return h.hostname;
  if (h.hardwareModel && h.hardwareSerial) return `${h.hardwareModel} (${h.hardwareSerial})`;
  return '';
}

/** Drops false and empty values, keeps Fleet's key order. */
function compact(n: OrbitNotifications): OrbitNotifications {
  const out: Record<string, unknown> = {};
  const keys = [
    ...notificationOrder,
    ...Object.keys(n).filter((k) => !notificationOrder.includes(k as never)),
  ];
  for (const k of keys) {
    const v = (n as Record<string, unknown>)[k];
    if (v === undefined || v === false || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out as OrbitNotifications;
}

/**
 * fleetd (orbit): enrollment, the config it polls (agent options and notifications), and what it
 * reports back (Fleet Desktop's device token, the end user's email, the BitLocker key).
 */
export class OrbitService {
  /** The clock (epoch ms); tests move it. */
  now: () => number = Date.now;

  constructor(
    private readonly hosts: Pick<HostStore, 'findByOrbitNodeKey'>,
    private readonly store: OrbitStore,
    private readonly secrets: Pick<EnrollSecretService, 'teamForSecret'>,
    private readonly appConfig: Pick<AppConfigService, 'get' | 'serverUrl'>,
    private readonly activities: Pick<ActivityService, 'record'>,
    private readonly hostEvents: Pick<HostEvents, 'emitHostsTransferred'>,
    private readonly diskEncryption: DiskEncryptionForAgents,
    private readonly deviceTokens: DeviceTokenRegistrar,
    private readonly dep: DepAssignments,
    private readonly logger?: Logger,
  ) {}

  /**
   * Matches or creates the host (see OrbitStore.enroll), gives it a new node key and the secret's
   * team, and records `fleet_enrolled`. 401 for an unknown secret.
   */
  async enroll(req: OrbitEnrollRequest): Promise<{ orbit_node_key: string }> {
    const team = await this.secrets.teamForSecret(req.enroll_secret);
    if (!team) throw new AgentAuthFailedError('invalid secret');
    if (!req.hardware_uuid) throw new AgentBadRequest('hardware_uuid is required');
    const app = await this.appConfig.get();
    const nodeKey = randomBytes(orbitNodeKeyBytes).toString('base64');
    const platform = req.platform.toLowerCase();
    // Fleet matches by serial only with Apple MDM on (ADE and MDM-only hosts are known by serial)
    // and never for Windows, whose serials are not reliable enough.
    const matchSerial = app.mdm.enabled_and_configured && platform !== 'windows';
    const host = await this.store.enroll(
      {
        hardwareUuid: req.hardware_uuid,
        hardwareSerial: req.hardware_serial,
        hostname: req.hostname,
        platform,
        osqueryIdentifier: req.osquery_identifier,
        computerName: req.computer_name,
        hardwareModel: req.hardware_model,
      },
      nodeKey,
      team.teamId,
      matchSerial,
    );
    this.logger?.info({ host_id: host.id, created: host.created, team_id: team.teamId }, 'orbit enrolled');
    await this.activities.record(
      null,
      'fleet_enrolled',
      {
        host_id: host.id,
        host_serial: req.hardware_serial,
        host_display_name: fleetDisplayName(host),
      },
      { hostIds: [host.id] },
    );
    if (!host.created && host.previousTeamId !== team.teamId) {
      await this.hostEvents.emitHostsTransferred([host.id], team.teamId);
    }
    return { orbit_node_key: nodeKey };
  }

  /** The host a node key belongs to; 401 (Fleet's body) when it is missing or unknown. */
  async authenticate(orbitNodeKey: string): Promise<HostRow> {
    if (!orbitNodeKey) throw new AgentAuthError('missing orbit node key');
    const host = await this.hosts.findByOrbitNodeKey(orbitNodeKey);
    if (!host) throw new AgentAuthError('invalid orbit node key');
    return host;
  }

  /**
   * `POST /api/fleet/orbit/config`. Costs one indexed query to authenticate (a statement compiled
   * once) and one for the settings; team hosts add one for the team's agent options, and the MDM
   * checks add queries only for the hosts they can apply to.
   */
  async config(orbitNodeKey: string, capabilities: ReadonlySet<string>): Promise<OrbitConfig> {
    const host = await this.authenticate(orbitNodeKey);
    // Independent reads run side by side. Disk encryption (FileVault key rotation, BitLocker) is
    // the disk-encryption area's call.
    const [app, disk, teamOptions] = await Promise.all([
      this.appConfig.get(),
      this.diskEncryption.orbitNotifications(host, capabilities),
      host.team_id !== null ? this.store.teamAgentOptions(host.team_id) : undefined,
    ]);
    let connected: Promise<boolean> | undefined;
    const connectedToFleet = () => (connected ??= this.store.connectedToFleetMdm(host));

    const notifications: OrbitNotifications = {
      ...(await this.macNotifications(host, app, connectedToFleet)),
      ...(await this.windowsNotifications(host, app, connectedToFleet)),
    };
    for (const [k, v] of Object.entries(disk)) if (v) (notifications as Record<string, unknown>)[k] = v;
    // Scripts and software installs are not served yet: pending_script_execution_ids and
    // pending_software_installer_ids are never sent, nor is nudge_config (macOS update nudges).

    const options = teamOptions ?? app.agent_options;
    const part = await agentOptionsPart(options, {
      platform: host.platform,
      cpuType: host.cpu_type,
      memberOfAll: (names) => this.store.memberOfAllLabels(host.id, names),
    });
    const { update_channels, ...rest } = part;
    return {
      ...rest,
      notifications: compact(notifications),
      ...(update_channels ? { update_channels } : {}),
    };
  }

  /**
   * macOS: `renew_enrollment_profile` for a Mac ABM assigns to us that is not MDM-enrolled, and
   * `needs_mdm_migration` for a Mac a user may move from another MDM (ADE-assigned or enrolled by
   * hand elsewhere). `run_setup_experience` is never sent: Flotilla does not advertise the
   * `setup_experience` capability, and for such clients the server releases the device itself
   * (the `apple_mdm_dep_release_devices` job), as Fleet does.
   */
  private async macNotifications(
    host: HostRow,
    app: AppConfig,
    connectedToFleet: () => Promise<boolean>,
  ): Promise<OrbitNotifications> {
    if (!app.mdm.enabled_and_configured || !isOsqueryEnrolled(host) || host.platform !== 'darwin') return {};
    const dep = await this.dep.depState(host.id);
    const out: OrbitNotifications = {};
    if (needsEnrollmentProfileRenewal(host, host.mdm, dep)) out.renew_enrollment_profile = true;
    if (!app.mdm.macos_migration.enable) return out;
    const eligible =
      (await isEligibleForDepMigration(host, host.mdm, dep, connectedToFleet)) ||
      (await isEligibleForManualMigration(host, host.mdm, dep, connectedToFleet));
    if (eligible) out.needs_mdm_migration = true;
    return out;
  }

  /**
   * Windows: programmatic enrollment into Flotilla's MDM when it is on and the PC is in no MDM;
   * migration when it is on, migration is enabled and the PC is in another MDM (which also opens
   * the critical-query window once, so the unenrollment is seen quickly); unenrollment when
   * Windows MDM is off but the PC is still connected to it.
   */
  private async windowsNotifications(
    host: HostRow,
    app: AppConfig,
    connectedToFleet: () => Promise<boolean>,
  ): Promise<OrbitNotifications> {
    if (host.platform !== 'windows') return {};
    if (app.mdm.windows_enabled_and_configured) {
      if (isEligibleForWindowsEnrollment(host, host.mdm)) {
        const serverUrl = app.server_settings.server_url || (await this.appConfig.serverUrl());
        return {
          needs_programmatic_windows_mdm_enrollment: true,
          windows_mdm_discovery_endpoint: serverUrl + windowsPaths.discovery,
        };
      }
      if (app.mdm.windows_migration_enabled && isEligibleForWindowsMigration(host, host.mdm)) {
        // Written once: later polls see the window already set and write nothing.
        if (host.refetch_critical_queries_until === null) {
          await this.store.setRefetchCriticalQueriesUntilIfUnset(
            host.id,
            new Date(this.now() + criticalQueryWindowMs),
          );
        }
        return { needs_mdm_migration: true };
      }
      return {};
    }
    return (await isEligibleForWindowsUnenrollment(host, host.mdm, connectedToFleet))
      ? { needs_programmatic_windows_mdm_unenrollment: true }
      : {};
  }

  /** `POST /api/fleet/orbit/device_token`: Fleet Desktop's token for this host. */
  async setDeviceToken(orbitNodeKey: string, token: string): Promise<void> {
    const host = await this.authenticate(orbitNodeKey);
    await this.deviceTokens.register(host.id, token);
  }

  /** `PUT /api/fleet/orbit/device_mapping`: the end user's email, from fleetd's setup dialog. */
  async setDeviceMapping(orbitNodeKey: string, email: string): Promise<void> {
    const host = await this.authenticate(orbitNodeKey);
    const trimmed = email.trim();
    if (!trimmed || trimmed.length > 255 || !emailPattern.test(trimmed)) {
      // Fleet stores whatever orbit sends; Flotilla refuses what cannot be an address (422, as
      // Fleet answers invalid arguments elsewhere), so the hosts' email filter stays meaningful.
      throw invalid('must be a valid email address', 'email');
    }
    await this.store.setHostEmail(host.id, trimmed, orbitEmailSource);
  }

  /**
   * `POST /api/fleet/orbit/disk_encryption_key`: the BitLocker recovery key (or the error orbit hit
   * making one). As in Fleet, Windows MDM must be on (checked before the node key), then the
   * disk-encryption area stores it (400 when the host is not enrolled in Flotilla's MDM).
   */
  async escrowDiskEncryptionKey(
    orbitNodeKey: string,
    key: Buffer | null,
    clientError: string,
  ): Promise<void> {
    const app = await this.appConfig.get();
    if (!app.mdm.windows_enabled_and_configured) throw mdmNotConfigured(windowsMdmNotConfiguredMessage);
    const host = await this.authenticate(orbitNodeKey);
    await this.diskEncryption.escrowBitLockerKey(host, key && key.length ? key : null, clientError);
  }
}
