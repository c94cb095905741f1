import type { ActivityService } from '../../admin/activityService.js';
import type { Viewer } from '../../admin/authService.js';
import { canLockWipeHost, isAllowed } from '../../admin/roles.js';
import { badRequest, forbidden, HttpError, notFound } from '../../http/errors.js';
import type { ActionCommand, MdmHost, Platform } from '../platform.js';
import type { HostActionStore } from './hostActionStore.js';
import { deviceStatusJson, lockStateOf, type LockState } from './lockState.js';

const conflictAction = (reason: string) =>
  new HttpError(422, 'Validation Failed', [{ name: 'host_id', reason }]);

/** How the host actions read hosts (the hosts area's store). */
export interface HostLookup {
  getById(id: number): Promise<MdmHost | undefined>;
  setRefetchRequested(id: number, v: boolean): Promise<void>;
}

/**
 * Host actions for every platform: refetch, lock, unlock, wipe. Permissions, the lock/wipe state
 * machine (host_mdm_actions and the device's answers) and activities are here; the host's platform
 * adapter builds and queues the commands. `deviceStatus` feeds `GET /hosts/:id`.
 */
export class HostActionService {
  constructor(
    private readonly store: HostActionStore,
    private readonly hosts: HostLookup,
    private readonly platforms: readonly Platform[],
    private readonly activities: ActivityService,
  ) {}

  private platformOf(host: Pick<MdmHost, 'platform'>): Platform | undefined {
    return this.platforms.find((p) => p.hostPlatforms.includes(host.platform));
  }

  /** The host, checked for existence and the caller's permission (lock/wipe: maintainer or admin). */
  private async hostFor(viewer: Viewer, hostId: number, kind: 'refetch' | 'lock'): Promise<MdmHost> {
    const host = await this.hosts.getById(hostId);
    if (!host) throw notFound('Host');
    if (kind === 'refetch') {
      if (!isAllowed(viewer.principal, 'host', 'read', host.team_id)) throw forbidden();
    } else if (!canLockWipeHost(viewer.principal, host.team_id)) {
      throw forbidden();
    }
    return host;
  }

  /** The host's adapter, ready for `action` (MDM configured, host enrolled, action supported). */
  private async readyPlatform(host: MdmHost, action: 'lock' | 'unlock' | 'wipe'): Promise<Platform> {
    const platform = this.platformOf(host);
    if (!platform) {
      throw badRequest(
        `this action needs a host enrolled in MDM (${this.platforms.map((p) => p.label).join(', ')}); host ${host.id} is ${host.platform || 'unknown'}`,
        'host_id',
      );
    }
    await platform.hostActions.checkReady(host, action);
    return platform;
  }

  private async lockState(host: Pick<MdmHost, 'id' | 'uuid' | 'platform'>): Promise<LockState> {
    const row = await this.store.get(host.id);
    const refs = [row?.lock_ref, row?.wipe_ref].filter((r): r is string => Boolean(r));
    // Only a host with a lock or wipe on record costs its platform a query.
    const outcomes = refs.length ? await this.platformOf(host)?.hostActions.outcomes(host, refs) : undefined;
    const outcome = (ref: string | null) => (ref ? (outcomes?.get(ref) ?? 'pending') : null);
    return lockStateOf(
      row && { ...row, lock_outcome: outcome(row.lock_ref), wipe_outcome: outcome(row.wipe_ref) },
    );
  }

  /** `mdm.device_status` and `mdm.pending_action` for `GET /hosts/:id` (unlocked for hosts never locked). */
  async deviceStatus(host: Pick<MdmHost, 'id' | 'uuid' | 'platform'>) {
    return deviceStatusJson(await this.lockState(host));
  }

  /** Queues an action's command together with the host_mdm_actions write, then wakes the device. */
  private async send(command: ActionCommand, write: Parameters<HostActionStore['set']>[1]): Promise<void> {
    await this.store.transaction(async (trx) => {
      await command.enqueue(trx);
      await this.store.set(trx, write);
    });
    await command.wake();
  }

  /** Refetch: the host reports fresh vitals; MDM hosts may also be asked by their platform. */
  async refetch(viewer: Viewer, hostId: number): Promise<void> {
    const host = await this.hostFor(viewer, hostId, 'refetch');
    await this.hosts.setRefetchRequested(host.id, true);
    await this.platformOf(host)?.hostActions.refetch?.(host);
  }

  async lock(viewer: Viewer, hostId: number): Promise<{ unlockPin: string | null }> {
    const host = await this.hostFor(viewer, hostId, 'lock');
    const platform = await this.readyPlatform(host, 'lock');
    const st = await this.lockState(host);
    if (st.wiping || st.wiped) throw conflictAction('Host has a pending or completed wipe.');
    if (st.locking)
      throw conflictAction('Host has a pending lock request. The host will lock when it comes online.');
    if (st.unlocking) throw conflictAction('Host has a pending unlock request.');
    if (st.locked) throw conflictAction('Host is already locked.');
    const plan = await platform.hostActions.lock(host);
    await this.send(plan.command, {
      host_id: host.id,
      fleet_platform: host.platform,
      lock_ref: plan.command.ref,
      unlock_ref: null,
      unlock_pin: plan.unlockPin,
    });
    await this.activities.record(
      viewer,
      'locked_host',
      { host_id: host.id, host_display_name: host.computer_name || host.hostname },
      { hostIds: [host.id] },
    );
    return { unlockPin: plan.unlockPin };
  }

  async unlock(viewer: Viewer, hostId: number): Promise<{ unlockPin: string | null }> {
    const host = await this.hostFor(viewer, hostId, 'lock');
    const platform = await this.readyPlatform(host, 'unlock');
    const row = await this.store.get(host.id);
    const st = await this.lockState(host);
    if (st.wiping || st.wiped) throw conflictAction('Host has a pending or completed wipe.');
    if (!st.locked && !st.locking) throw conflictAction('Host is not locked.');
    const plan = await platform.hostActions.unlock(host, row);
    const write = { host_id: host.id, fleet_platform: host.platform };
    if (plan.command) await this.send(plan.command, { ...write, unlock_ref: plan.command.ref });
    else await this.store.transaction((trx) => this.store.set(trx, { ...write, unlock_ref: plan.unlockRef }));
    await this.activities.record(
      viewer,
      'unlocked_host',
      { host_id: host.id, host_display_name: host.computer_name || host.hostname },
      { hostIds: [host.id] },
    );
    return { unlockPin: plan.unlockPin };
  }

  /**
   * Turns MDM off for a host (`DELETE /hosts/:id/mdm`), in Fleet's order: the host (404), whether
   * its platform can (400), the MDM command permission on its team (403), then the adapter's own
   * checks (not enrolled: 409). The adapter queues what makes the device leave; the device's
   * check-out then turns MDM off through the platform's lifecycle.
   */
  async turnOffMdm(viewer: Viewer, hostId: number): Promise<void> {
    const host = await this.hosts.getById(hostId);
    if (!host) throw notFound('Host');
    const platform = this.platformOf(host);
    const turnOff = platform?.hostActions.turnOffMdm;
    if (platform && !turnOff) throw badRequest(`Can't turn off MDM for ${platform.label} hosts.`);
    turnOff?.check(host);
    if (!isAllowed(viewer.principal, 'mdm_command', 'write', host.team_id)) throw forbidden();
    if (!turnOff) throw new HttpError(409, `mdm is not enabled for host ${host.id}`);
    const res = await turnOff.run(host);
    await this.activities.record(viewer, 'mdm_unenrolled', res.activityDetails, { hostIds: [host.id] });
  }

  /** The wipe body's per-family options (`{"windows": {"wipe_type": …}}`), keyed by family. */
  wipeOptionSchemas(): Record<string, NonNullable<Platform['hostActions']['wipeOptions']>> {
    const out: Record<string, NonNullable<Platform['hostActions']['wipeOptions']>> = {};
    for (const p of this.platforms) if (p.hostActions.wipeOptions) out[p.family] = p.hostActions.wipeOptions;
    return out;
  }

  async wipe(viewer: Viewer, hostId: number, options: Record<string, unknown> = {}): Promise<void> {
    const host = await this.hostFor(viewer, hostId, 'lock');
    const platform = await this.readyPlatform(host, 'wipe');
    const st = await this.lockState(host);
    if (st.wiping) throw conflictAction('Host has a pending wipe request.');
    if (st.wiped) throw conflictAction('Host is already wiped.');
    if (st.locking) throw conflictAction('Host has a pending lock request.');
    if (st.unlocking) throw conflictAction('Host has a pending unlock request.');
    const command = await platform.hostActions.wipe(host, options[platform.family]);
    await this.send(command, { host_id: host.id, fleet_platform: host.platform, wipe_ref: command.ref });
    await this.activities.record(
      viewer,
      'wiped_host',
      { host_id: host.id, host_display_name: host.computer_name || host.hostname },
      { hostIds: [host.id] },
    );
  }
}
