import type { Logger } from 'pino';

/** A deleted host as listeners need it to clean up their own state (MDM enrollments, profiles). */
export interface DeletedHost {
  id: number;
  uuid: string;
  platform: string;
  /** Serial and model (ADE restores a deleted host that ABM still assigns to this server). */
  hardware_serial?: string;
  hardware_model?: string;
}

/**
 * Reactions of other areas (MDM, profiles) to host, team and label changes made here. Every method
 * is optional; each runs after the change has committed.
 */
export interface HostEventListener {
  hostsDeleted?(hosts: DeletedHost[]): Promise<void>;
  hostsTransferred?(hostIds: number[], teamId: number | null): Promise<void>;
  labelMembershipChanged?(labelIds: number[], hostIds: number[]): Promise<void>;
  labelsDeleted?(labelIds: number[]): Promise<void>;
  labelsCreated?(labelIds: number[]): Promise<void>;
}

/**
 * In-process fan-out of host events. A failing listener is logged and does not stop the others or
 * undo the change (which has already committed); it must repair itself on its next cron pass.
 */
export class HostEvents {
  private readonly listeners: HostEventListener[] = [];

  constructor(private readonly logger?: Logger) {}

  add(listener: HostEventListener): void {
    this.listeners.push(listener);
  }

  private async emit<K extends keyof HostEventListener>(
    event: K,
    call: (l: HostEventListener) => Promise<void> | undefined,
  ): Promise<void> {
    for (const l of this.listeners) {
      if (!l[event]) continue;
      try {
        await call(l);
      } catch (err) {
        this.logger?.error({ err, event }, 'host event listener failed');
      }
    }
  }

  async emitHostsDeleted(hosts: DeletedHost[]): Promise<void> {
    if (hosts.length === 0) return;
    await this.emit('hostsDeleted', (l) => l.hostsDeleted?.(hosts));
  }

  async emitHostsTransferred(hostIds: number[], teamId: number | null): Promise<void> {
    if (hostIds.length === 0) return;
    await this.emit('hostsTransferred', (l) => l.hostsTransferred?.(hostIds, teamId));
  }

  async emitLabelMembershipChanged(labelIds: number[], hostIds: number[]): Promise<void> {
    if (labelIds.length === 0 || hostIds.length === 0) return;
    await this.emit('labelMembershipChanged', (l) => l.labelMembershipChanged?.(labelIds, hostIds));
  }

  async emitLabelsDeleted(labelIds: number[]): Promise<void> {
    if (labelIds.length === 0) return;
    await this.emit('labelsDeleted', (l) => l.labelsDeleted?.(labelIds));
  }

  async emitLabelsCreated(labelIds: number[]): Promise<void> {
    if (labelIds.length === 0) return;
    await this.emit('labelsCreated', (l) => l.labelsCreated?.(labelIds));
  }
}
