import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { AppConfigService } from '../../appconfig/service.js';
import { notFound } from '../../http/errors.js';
import type { TeamStore } from '../../teams/store.js';
import type { MachineInfo } from './machineInfo.js';
import {
  isLessThanVersion,
  softwareUpdateRequired,
  type LatestOsSource,
  type SoftwareUpdateRequired,
} from './osUpdates.js';
import type { AdeStore } from './store.js';

export interface AdeEnrollRequest {
  machineInfo?: MachineInfo;
  /**
   * The machine info came in the `deviceinfo` query (the end-user authentication flow): the OS
   * check already ran on the SSO page, so it is not repeated (Fleet's rule).
   */
  machineInfoFromQuery: boolean;
  /** The IdP account the end user signed in as (`enrollment_reference`). */
  enrollmentReference?: string;
}

export type AdeEnrollResult =
  { kind: 'profile'; profile: Buffer } | { kind: 'software_update_required'; body: SoftwareUpdateRequired };

export interface AdeEnrollmentDeps {
  store: AdeStore;
  teams: Pick<TeamStore, 'getById'>;
  appConfig: Pick<AppConfigService, 'get'>;
  /** The automatic enrollment profile's token (the ADE profile's `url` carries it). */
  automaticToken: () => Promise<string>;
  /** Builds the signed ADE enrollment profile. */
  profiles: { automaticProfile(opts: { enrollReference?: string }): Promise<Buffer> };
  latestOs: LatestOsSource;
  logger?: Logger;
}

const updateKeys: Record<string, string> = {
  darwin: 'macos_updates',
  ios: 'ios_updates',
  ipados: 'ipados_updates',
};

/**
 * `GET|POST /api/mdm/apple/enroll?token=<automatic profile token>`: what Setup Assistant (or the
 * end-user authentication page) downloads. The device's machine info drives Fleet's minimum OS
 * rule; an `enrollment_reference` puts the IdP account into the MDM ServerURL.
 */
export class AdeEnrollmentService {
  constructor(private readonly deps: AdeEnrollmentDeps) {}

  /** Is `token` the automatic enrollment profile's token? Compared in constant time. */
  async isAutomaticToken(token: string): Promise<boolean> {
    const want = Buffer.from(await this.deps.automaticToken());
    const got = Buffer.from(token);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  async enroll(req: AdeEnrollRequest): Promise<AdeEnrollResult> {
    const m = req.machineInfo;
    if (m && !req.machineInfoFromQuery) {
      const body = await this.softwareUpdateRequired(m);
      if (body) return { kind: 'software_update_required', body };
    }
    const ref = req.enrollmentReference || undefined;
    if (ref) {
      const account = await this.deps.store.idpAccount(ref);
      if (!account) throw notFound('MDMIdPAccount');
      // The device is known by its UDID from here on, as Fleet links it at this step.
      if (m?.udid) await this.deps.store.linkIdpAccount(m.udid, account.uuid);
    }
    return { kind: 'profile', profile: await this.deps.profiles.automaticProfile({ enrollReference: ref }) };
  }

  /**
   * Fleet's rule for an ADE device: only when the device says MDM may request a software update;
   * the device is a live ADE host found by serial; its team's (or, for No team, the global)
   * `mdm.<platform>_updates.minimum_version` is set and above the device's OS_VERSION. Then the
   * device must update to the newest OS Apple offers it (Apple's software lookup service); when
   * that cannot be told, or the device already runs it, enrollment goes on.
   */
  async softwareUpdateRequired(m: MachineInfo): Promise<SoftwareUpdateRequired | null> {
    const log = this.deps.logger;
    if (!m.mdmCanRequestSoftwareUpdate) return null;
    const host = await this.deps.store.depHostBySerial(m.serial);
    if (!host) return null;
    const key = updateKeys[host.platform];
    if (!key) return null;
    let settings: Record<string, unknown> | undefined;
    if (host.teamId !== null) {
      const team = await this.deps.teams.getById(host.teamId);
      settings = ((team?.config.mdm ?? {}) as Record<string, unknown>)[key] as Record<string, unknown>;
    } else {
      const cfg = (await this.deps.appConfig.get()) as unknown as { mdm: Record<string, unknown> };
      settings = cfg.mdm[key] as Record<string, unknown>;
    }
    const minimum = typeof settings?.minimum_version === 'string' ? settings.minimum_version : '';
    if (!minimum) return null;
    const below = isLessThanVersion(m.osVersion, minimum);
    if (!below) {
      if (below === null) log?.info({ serial: m.serial }, 'ADE OS check: versions cannot be compared');
      return null;
    }
    try {
      const latest = await this.deps.latestOs.latest(m);
      if (!isLessThanVersion(m.osVersion, latest.productVersion)) return null;
      log?.info(
        { serial: m.serial, os_version: m.osVersion, minimum, required: latest.productVersion },
        'ADE enrollment refused until the OS is updated',
      );
      return softwareUpdateRequired(latest);
    } catch (err) {
      // As Fleet: without Apple's answer the device is let through rather than blocked.
      log?.warn({ serial: m.serial, err: (err as Error).message }, 'ADE OS check: latest OS unknown');
      return null;
    }
  }
}
