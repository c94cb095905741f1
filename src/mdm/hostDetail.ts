import type { HostMdmRow, HostRow } from '../hosts/store.js';
import type { MdmHostDetail } from '../hosts/service.js';
import type { HostActionService } from './commands/hostActions.js';
import type { Platform } from './platform.js';

/** What the host detail needs from the profiles area. */
export interface HostProfilesSource {
  hostProfilesJson(hostUuid: string): Promise<unknown[]>;
}

/**
 * What the host detail needs from the disk-encryption area: its `mdm` fields, and the status the
 * FileVault profile shows in the host's profile list (Fleet derives it from the disk-encryption
 * status, not from the profile row alone).
 */
export interface DiskEncryptionHostDetailSource {
  hostDetail(host: HostRow): Promise<{
    fields: Record<string, unknown>;
    fileVaultProfile?: { profileUuid: string; status: string };
  }>;
}

/**
 * The MDM part of `GET /hosts/:id`: the host's profiles (null when not MDM-enrolled or none, as
 * Fleet shows it), its lock/wipe state, and what each platform adds.
 */
export class MdmHostDetailProvider implements MdmHostDetail {
  constructor(
    private readonly profiles: HostProfilesSource,
    private readonly hostActions: Pick<HostActionService, 'deviceStatus'>,
    private readonly platforms: readonly Platform[],
    private readonly diskEncryption?: DiskEncryptionHostDetailSource,
  ) {}

  async forHost(host: HostRow, mdm: HostMdmRow | undefined): Promise<Record<string, unknown>> {
    let list = mdm?.enrolled ? await this.profiles.hostProfilesJson(host.uuid) : [];
    const encryption = await this.diskEncryption?.hostDetail(host);
    const fv = encryption?.fileVaultProfile;
    if (fv) {
      list = list.map((p) =>
        (p as { profile_uuid?: string }).profile_uuid === fv.profileUuid
          ? { ...(p as object), status: fv.status }
          : p,
      );
    }
    let out: Record<string, unknown> = {
      profiles: list.length ? list : null,
      ...(await this.hostActions.deviceStatus(host)),
      ...(encryption?.fields ?? {}),
    };
    for (const p of this.platforms) if (p.hostDetail) out = { ...out, ...(await p.hostDetail(host)) };
    return out;
  }
}

/** Where `mdm.macos_setup` comes from (the bootstrap package area); undefined keeps the default. */
export interface MacosSetupHostDetailSource {
  hostDetail(hostId: number): Promise<Record<string, unknown> | undefined>;
}

/** Host detail with `mdm.macos_setup` (bootstrap package status) from its area added. */
export function withMacosSetup(inner: MdmHostDetail, source: MacosSetupHostDetailSource): MdmHostDetail {
  return {
    async forHost(host, mdm) {
      const out = await inner.forHost(host, mdm);
      const macosSetup = await source.hostDetail(host.id);
      return macosSetup ? { ...out, macos_setup: macosSetup } : out;
    },
  };
}
