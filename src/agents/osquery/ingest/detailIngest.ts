import type { Logger } from 'pino';
import type { AppConfig } from '../../../appconfig/service.js';
import { EnrollmentIds } from '../../../apple/enrollment/profile.js';
import type { DiskEncryptionForAgents } from '../../../diskencryption/forAgents.js';
import type { HostStore } from '../../../hosts/store.js';
import { windowsProviderId } from '../../../windows/mde2/provisioning.js';
import { windowsPaths } from '../../../windows/mde2/service.js';
import type { ReadBack } from '../../../windows/profiles/results.js';
import type { AgentHost, OsqueryStore } from '../store.js';
import {
  diskEncrypted,
  fileVaultKeyFromKeyFile,
  fileVaultKeyFromLines,
  linuxDiskEncrypted,
} from './diskEncryption.js';
import { IngestError, type HostUpdate, type Row } from './hostUpdate.js';
import { leftOtherMdm, reportedAppleMdm, reportedWindowsMdm, type ReportedMdm } from './mdm.js';
import { installedAppleProfiles, windowsReadBack } from './profiles.js';
import {
  diskSpaceVitals,
  networkVitals,
  orbitInfoVitals,
  osqueryFlagsVitals,
  osqueryInfoVitals,
  osVersionVitals,
  systemInfoVitals,
  uptimeVitals,
  windowsVersionVitals,
} from './vitals.js';

/** The Apple verifier (ProfileResultHandler.verifyInstalled) that ProfileList answers feed too. */
export interface AppleProfileVerifier {
  verifyInstalled(
    hostUuid: string,
    installed: ReadonlyMap<string, string>,
    observedAtMs: number,
  ): Promise<void>;
}

/** The Windows verifier (WindowsProfileResults) that SyncML Get answers feed too. */
export interface WindowsProfileVerifier {
  readBackLocUris(hostUuid: string): Promise<string[]>;
  verifyReadBack(hostUuid: string, read: ReadonlyMap<string, ReadBack>): Promise<void>;
}

/** Settings an ingest may need, read at most once per request and only when needed. */
export interface HostSettings {
  appConfig(): Promise<AppConfig>;
  /** Whether disk encryption is enforced for the host's team (or, without a team, globally). */
  diskEncryptionEnforced(): Promise<boolean>;
  serverUrl(): Promise<string>;
}

export interface IngestContext {
  host: AgentHost;
  /** The agent's address as the server sees it (the host's public IP). */
  clientIp: string;
  now: number;
  settings: HostSettings;
}

/** Flotilla's own enrollment profile, by the payload identifier macOS reports for it. */
const ourEnrollmentPayloads = [EnrollmentIds.profileIdentifier];

/** The well-known Windows discovery path, besides the one Flotilla hands out (windowsPaths). */
const wellKnownDiscoveryPath = '/enrollmentserver/discovery.svc';

/**
 * Applies the results of detail queries: vitals become columns of the host row (returned, so the
 * caller writes them in one UPDATE with the detail timestamp); MDM state goes to host_mdm; profile
 * checks go to the platform's verifier; the FileVault key goes to disk encryption.
 */
export class DetailIngester {
  constructor(
    private readonly store: OsqueryStore,
    private readonly hosts: Pick<HostStore, 'upsertHostMdm'>,
    private readonly diskEncryption: Pick<DiskEncryptionForAgents, 'escrowFileVaultKey'>,
    private readonly appleProfiles: AppleProfileVerifier,
    private readonly windowsProfiles: WindowsProfileVerifier,
    private readonly logger?: Logger,
  ) {}

  /**
   * Ingests one successful detail query result. Returns the host columns it changes; a result
   * Flotilla cannot use is logged and skipped (IngestError), leaving the previous data.
   */
  async ingest(name: string, rows: Row[], ctx: IngestContext): Promise<HostUpdate> {
    try {
      return (await this.apply(name, rows, ctx)) ?? {};
    } catch (err) {
      if (!(err instanceof IngestError)) throw err;
      this.logger?.warn({ host_id: ctx.host.id, query: name, reason: err.message }, 'osquery result skipped');
      return {};
    }
  }

  private async apply(name: string, rows: Row[], ctx: IngestContext): Promise<HostUpdate | undefined> {
    const { host } = ctx;
    switch (name) {
      case 'network_interface_unix':
      case 'network_interface_windows':
        return networkVitals(rows, ctx.clientIp);
      case 'os_version':
        return osVersionVitals(rows);
      case 'os_version_windows':
        return windowsVersionVitals(rows);
      case 'osquery_flags':
        return osqueryFlagsVitals(rows);
      case 'osquery_info':
        return osqueryInfoVitals(rows);
      case 'system_info':
        return systemInfoVitals(rows);
      case 'uptime':
        return uptimeVitals(rows, ctx.now, host.last_restarted_at);
      case 'disk_space_unix':
      case 'disk_space_darwin':
      case 'disk_space_darwin_legacy':
      case 'disk_space_windows':
        return diskSpaceVitals(rows);
      case 'orbit_info':
        return orbitInfoVitals(rows);
      case 'disk_encryption_darwin':
      case 'disk_encryption_windows':
        return { disk_encryption_enabled: diskEncrypted(rows) };
      case 'disk_encryption_linux':
        return { disk_encryption_enabled: linuxDiskEncrypted(rows) };
      case 'mdm':
        return this.recordMdm(host, 'darwin', reportedAppleMdm(rows, ourEnrollmentPayloads));
      case 'mdm_windows': {
        const notInOobe = await this.store.windowsEnrolledNotInOobe(host.uuid);
        const serverUrl = await ctx.settings.serverUrl();
        const isOurs = (providerId: string, url: string) =>
          providerId === windowsProviderId || isOurDiscoveryUrl(url, serverUrl);
        return this.recordMdm(host, 'windows', reportedWindowsMdm(rows, isOurs, notInOobe));
      }
      case 'mdm_config_profiles_darwin':
      case 'mdm_config_profiles_darwin_with_user': {
        const installed = installedAppleProfiles(rows);
        if (installed && host.uuid) await this.appleProfiles.verifyInstalled(host.uuid, installed, ctx.now);
        return undefined;
      }
      case 'mdm_disk_encryption_key_file_darwin':
        return this.escrowFileVaultKey(host, fileVaultKeyFromKeyFile(rows), ctx);
      case 'mdm_disk_encryption_key_file_lines_darwin':
        return this.escrowFileVaultKey(host, fileVaultKeyFromLines(rows), ctx);
      case 'mdm_config_profiles_windows': {
        if (!host.uuid) return undefined;
        const read = windowsReadBack(rows, await this.windowsProfiles.readBackLocUris(host.uuid));
        if (read) await this.windowsProfiles.verifyReadBack(host.uuid, read);
        return undefined;
      }
      case 'mdm_device_id_windows': {
        // Only enrolled hosts have the key; without it there is nothing to link.
        if (rows.length === 0 || !host.uuid) return undefined;
        if (rows.length > 1) throw new IngestError('more than one MDM device id');
        if (rows[0].data) await this.store.linkWindowsEnrollment(rows[0].data, host.uuid);
        return undefined;
      }
      default:
        return undefined; // not a query Flotilla sends (an old agent's answer): ignored
    }
  }

  /** Records the reported MDM state; ends the critical window once the host left its other MDM. */
  private async recordMdm(
    host: AgentHost,
    platform: 'darwin' | 'windows',
    reported: ReportedMdm | undefined,
  ): Promise<HostUpdate | undefined> {
    if (!reported) return undefined;
    await this.hosts.upsertHostMdm(host.id, { ...reported, is_personal_enrollment: false });
    if (host.refetch_critical_queries_until && leftOtherMdm(platform, reported))
      return { refetch_critical_queries_until: null };
    return undefined;
  }

  /**
   * Hands the FileVault key of an encrypted disk ('' = encrypted without an escrow file) to disk
   * encryption, only while disk encryption is enforced for the host (as Fleet archives it).
   */
  private async escrowFileVaultKey(
    host: AgentHost,
    base64Cms: string | undefined,
    ctx: IngestContext,
  ): Promise<undefined> {
    if (base64Cms === undefined) return undefined;
    if (!(await ctx.settings.diskEncryptionEnforced())) return undefined;
    await this.diskEncryption.escrowFileVaultKey(host, base64Cms);
    return undefined;
  }
}

/** Whether a Windows discovery URL points at this server (the path Flotilla hands out, or the well-known one). */
export function isOurDiscoveryUrl(url: string, serverUrl: string): boolean {
  try {
    const got = new URL(url);
    const ours = new URL(serverUrl);
    const path = got.pathname.toLowerCase().replace(/\/+$/, '');
    return (
      got.host.toLowerCase() === ours.host.toLowerCase() &&
      (path === windowsPaths.discovery.toLowerCase() || path === wellKnownDiscoveryPath)
    );
  } catch {
    return false;
  }
}
