import { randomBytes } from 'node:crypto';
import type { AppConfigService } from '../../appconfig/service.js';
import type { HostStore } from '../../hosts/store.js';
import type { EnrollSecretService } from '../../teams/enrollSecretService.js';
import { windowsPaths } from '../../windows/mde2/service.js';
import { fleetMdmName } from '../../windows/lifecycle.js';

/** Fleet answers bad orbit credentials with 401 and this body; fleetd then re-enrolls. */
export class OrbitAuthError extends Error {}

export interface OrbitEnrollRequest {
  enroll_secret: string;
  hardware_uuid: string;
  hardware_serial?: string;
  hostname?: string;
  platform?: string;
  platform_like?: string;
  osquery_identifier?: string;
  computer_name?: string;
  hardware_model?: string;
}

export interface OrbitNotifications {
  needs_programmatic_windows_mdm_enrollment?: boolean;
  windows_mdm_discovery_endpoint?: string;
  needs_programmatic_windows_mdm_unenrollment?: boolean;
}

export interface OrbitConfig {
  script_execution_timeout: number;
  command_line_startup_flags: Record<string, unknown>;
  extensions: Record<string, unknown>;
  nudge_config: null;
  update_channels: { orbit: string; osqueryd: string; desktop: string };
  notifications: OrbitNotifications;
}

/** fleetd (orbit) enrollment and configuration, as far as MDM needs them. */
export class OrbitService {
  constructor(
    private readonly hosts: HostStore,
    private readonly secrets: EnrollSecretService,
    private readonly appConfig: AppConfigService,
  ) {}

  /** Creates or matches the host by hardware UUID (then serial) and gives it a fresh node key. */
  async enroll(req: OrbitEnrollRequest): Promise<{ orbit_node_key: string }> {
    const team = await this.secrets.teamForSecret(req.enroll_secret);
    if (!team) throw new OrbitAuthError('invalid enroll secret');
    const platform = (req.platform ?? '').toLowerCase();
    const vitals = {
      hostname: req.hostname || undefined,
      computer_name: req.computer_name || undefined,
      hardware_model: req.hardware_model || undefined,
      hardware_serial: req.hardware_serial || undefined,
      platform: platform || undefined,
    };
    const existing = await this.hosts.findByUuidOrSerial(req.hardware_uuid, req.hardware_serial || undefined);
    let hostId: number;
    if (existing) {
      hostId = existing.id;
      await this.hosts.updateVitals(hostId, vitals);
    } else {
      hostId = await this.hosts.create({
        uuid: req.hardware_uuid,
        hardware_serial: req.hardware_serial ?? '',
        platform,
        hostname: req.hostname ?? '',
        computer_name: req.computer_name ?? '',
        hardware_model: req.hardware_model ?? '',
        team_id: team.teamId,
      });
    }
    const key = randomBytes(24).toString('base64url');
    await this.hosts.setOrbitNodeKey(hostId, key);
    await this.hosts.setLastEnrolledAt(hostId, new Date());
    return { orbit_node_key: key };
  }

  async config(orbitNodeKey: string): Promise<OrbitConfig> {
    const host = await this.hosts.findByOrbitNodeKey(orbitNodeKey);
    if (!host) throw new OrbitAuthError('invalid orbit node key');
    const app = await this.appConfig.get();
    const notifications: OrbitNotifications = {};
    if (host.platform === 'windows') {
      const mdm = await this.hosts.getHostMdm(host.id);
      const windowsOn = app.mdm.windows_enabled_and_configured;
      const enrolledAnywhere = Boolean(mdm?.enrolled);
      const enrolledInFleet = enrolledAnywhere && mdm?.mdm_name === fleetMdmName;
      if (windowsOn && !mdm?.is_server && !enrolledAnywhere) {
        notifications.needs_programmatic_windows_mdm_enrollment = true;
        notifications.windows_mdm_discovery_endpoint =
          (await this.appConfig.serverUrl()) + windowsPaths.discovery;
      }
      if (!windowsOn && enrolledInFleet) notifications.needs_programmatic_windows_mdm_unenrollment = true;
    }
    return {
      script_execution_timeout: 300,
      command_line_startup_flags: {},
      extensions: {},
      nudge_config: null,
      update_channels: { orbit: 'stable', osqueryd: 'stable', desktop: 'stable' },
      notifications,
    };
  }
}
