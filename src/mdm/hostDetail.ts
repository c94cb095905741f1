import type { HostMdmRow, HostRow } from '../hosts/store.js';
import type { MdmHostDetail } from '../hosts/service.js';
import type { HostActionService } from './commands/hostActions.js';
import type { Platform } from './platform.js';

/** What the host detail needs from the profiles area. */
export interface HostProfilesSource {
  hostProfilesJson(hostUuid: string): Promise<unknown[]>;
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
  ) {}

  async forHost(host: HostRow, mdm: HostMdmRow | undefined): Promise<Record<string, unknown>> {
    const list = mdm?.enrolled ? await this.profiles.hostProfilesJson(host.uuid) : [];
    let out: Record<string, unknown> = {
      profiles: list.length ? list : null,
      ...(await this.hostActions.deviceStatus(host)),
    };
    for (const p of this.platforms) if (p.hostDetail) out = { ...out, ...(await p.hostDetail(host)) };
    return out;
  }
}
