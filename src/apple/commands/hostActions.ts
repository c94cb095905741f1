import { randomInt, randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { ActivityService } from '../../admin/activityService.js';
import type { Viewer } from '../../admin/authService.js';
import { canLockWipeHost, isAllowed } from '../../admin/roles.js';
import { badRequest, forbidden, HttpError, notFound } from '../../http/errors.js';
import type { DB } from '../../db/schema.js';
import type { HostRow } from '../../hosts/store.js';
import { appleMdmNotConfigured, type ApnsCertificateService } from '../push/certificates.js';
import type { ApplePushService } from '../push/service.js';
import type { AppleCommandAdminStore } from './adminStore.js';
import { applePlatforms } from './adminService.js';
import { buildCommandPlist } from './build.js';
import { deviceStatusJson, lockStateOf, type LockState } from './lockState.js';
import type { AppleCommandQueue } from './queue.js';

/** What DeviceInformation asks for on an MDM refetch (Fleet's list plus identity fields). */
export const refetchDeviceQueries = [
  'DeviceName',
  'DeviceCapacity',
  'AvailableDeviceCapacity',
  'OSVersion',
  'SupplementalOSVersionExtra',
  'WiFiMAC',
  'ProductName',
  'IsMDMLostModeEnabled',
  'TimeZone',
  'SerialNumber',
  'Model',
  'ModelName',
  'BuildVersion',
];

export const lostModeMessage = 'This device is locked by your organization. Contact your IT department.';

const conflictAction = (reason: string) =>
  new HttpError(422, 'Validation Failed', [{ name: 'host_id', reason }]);

function sixDigitPin(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

/**
 * Host actions on Apple hosts through MDM: refetch (DeviceInformation), lock (DeviceLock with a
 * PIN on macOS, Lost Mode on iOS/iPadOS), unlock, wipe (EraseDevice). Lock and wipe state live in
 * host_mdm_actions; each action writes an activity.
 */
export class AppleHostActionService {
  constructor(
    private readonly store: AppleCommandAdminStore,
    private readonly hosts: {
      getById(id: number): Promise<HostRow | undefined>;
      setRefetchRequested(id: number, v: boolean): Promise<void>;
    },
    private readonly queue: () => Pick<AppleCommandQueue, 'enqueue'>,
    private readonly push: Pick<ApplePushService, 'pushEnrollments'>,
    private readonly certificates: Pick<ApnsCertificateService, 'current'>,
    private readonly activities: ActivityService,
  ) {}

  /** The host, checked for existence and the caller's permission (lock/wipe: maintainer or admin). */
  private async hostFor(viewer: Viewer, hostId: number, kind: 'refetch' | 'lock'): Promise<HostRow> {
    const host = await this.hosts.getById(hostId);
    if (!host) throw notFound('Host');
    if (kind === 'refetch') {
      if (!isAllowed(viewer.principal, 'host', 'read', host.team_id)) throw forbidden();
    } else if (!canLockWipeHost(viewer.principal, host.team_id)) {
      throw forbidden();
    }
    return host;
  }

  private async enrollmentOf(host: HostRow): Promise<string> {
    if (!applePlatforms.includes(host.platform)) {
      throw badRequest(
        `this action needs an Apple host enrolled in MDM; host ${host.id} is ${host.platform || 'unknown'}`,
        'host_id',
      );
    }
    const [target] = await this.store.targetHosts([host.uuid]);
    if (!target?.mdm_enrolled || !target.enrollment_id)
      throw badRequest(`host ${host.id} is not enrolled in MDM`, 'host_id');
    if (!(await this.certificates.current())) throw appleMdmNotConfigured();
    return target.enrollment_id;
  }

  private async lockState(hostId: number): Promise<LockState> {
    return lockStateOf(await this.store.hostLockSource(hostId));
  }

  /** `mdm.device_status` and `mdm.pending_action` for `GET /hosts/:id` (unlocked for hosts never locked). */
  async deviceStatus(hostId: number) {
    return deviceStatusJson(await this.lockState(hostId));
  }

  private async send(
    enrollmentId: string,
    requestType: string,
    fields: Record<string, unknown>,
    apply: (commandUuid: string, trx: Transaction<DB>) => Promise<void>,
    prefix = '',
  ): Promise<string> {
    const cmd = buildCommandPlist(requestType, fields, `${prefix}${randomUUID().toUpperCase()}`);
    await this.store.transaction(async (trx) => {
      await this.queue().enqueue(
        [enrollmentId],
        { commandUuid: cmd.commandUuid, requestType, plist: cmd.plist },
        trx,
      );
      await apply(cmd.commandUuid, trx);
    });
    await this.push.pushEnrollments([enrollmentId]);
    return cmd.commandUuid;
  }

  /** Refetch: the host reports fresh vitals; Apple MDM hosts also get a DeviceInformation command. */
  async refetch(viewer: Viewer, hostId: number): Promise<void> {
    const host = await this.hostFor(viewer, hostId, 'refetch');
    await this.hosts.setRefetchRequested(host.id, true);
    if (!applePlatforms.includes(host.platform)) return;
    const [target] = await this.store.targetHosts([host.uuid]);
    if (!target?.mdm_enrolled || !target.enrollment_id || !(await this.certificates.current())) return;
    await this.send(
      target.enrollment_id,
      'DeviceInformation',
      { Queries: refetchDeviceQueries },
      (_uuid, trx) => this.store.markRefetchInFlight(trx, host.id, 'REFETCH-DEVICE-'),
      'REFETCH-DEVICE-',
    );
  }

  /** Lock: macOS DeviceLock with a new 6-digit PIN (returned); iOS/iPadOS Lost Mode. */
  async lock(viewer: Viewer, hostId: number): Promise<{ unlockPin: string | null }> {
    const host = await this.hostFor(viewer, hostId, 'lock');
    const enrollmentId = await this.enrollmentOf(host);
    const st = await this.lockState(host.id);
    if (st.wiping || st.wiped) throw conflictAction('Host has a pending or completed wipe.');
    if (st.locking)
      throw conflictAction('Host has a pending lock request. The host will lock when it comes online.');
    if (st.unlocking) throw conflictAction('Host has a pending unlock request.');
    if (st.locked) throw conflictAction('Host is already locked.');
    const macos = host.platform === 'darwin';
    const pin = macos ? sixDigitPin() : null;
    await this.send(
      enrollmentId,
      macos ? 'DeviceLock' : 'EnableLostMode',
      macos ? { PIN: pin } : { Message: lostModeMessage },
      (uuid, trx) =>
        this.store.setHostAction(trx, {
          host_id: host.id,
          fleet_platform: host.platform,
          lock_ref: uuid,
          unlock_ref: null,
          unlock_pin: pin,
        }),
    );
    await this.activities.record(
      viewer,
      'locked_host',
      { host_id: host.id, host_display_name: host.computer_name || host.hostname },
      { hostIds: [host.id] },
    );
    return { unlockPin: pin };
  }

  /**
   * Unlock. macOS: nothing is sent; the admin gets the PIN to type on the Mac (the unlock is
   * pending until the Mac checks in again). iOS/iPadOS: DisableLostMode.
   */
  async unlock(viewer: Viewer, hostId: number): Promise<{ unlockPin: string | null }> {
    const host = await this.hostFor(viewer, hostId, 'lock');
    const enrollmentId = await this.enrollmentOf(host);
    const row = await this.store.hostAction(host.id);
    const st = await this.lockState(host.id);
    if (st.wiping || st.wiped) throw conflictAction('Host has a pending or completed wipe.');
    if (!st.locked && !st.locking) throw conflictAction('Host is not locked.');
    if (host.platform === 'darwin') {
      await this.store.transaction((trx) =>
        this.store.setHostAction(trx, {
          host_id: host.id,
          fleet_platform: host.platform,
          unlock_ref: new Date().toISOString(),
        }),
      );
    } else {
      await this.send(enrollmentId, 'DisableLostMode', {}, (uuid, trx) =>
        this.store.setHostAction(trx, { host_id: host.id, fleet_platform: host.platform, unlock_ref: uuid }),
      );
    }
    await this.activities.record(
      viewer,
      'unlocked_host',
      { host_id: host.id, host_display_name: host.computer_name || host.hostname },
      { hostIds: [host.id] },
    );
    return { unlockPin: host.platform === 'darwin' ? (row?.unlock_pin ?? null) : null };
  }

  /** Wipe: EraseDevice (macOS with a 6-digit PIN and ObliterationBehavior Default). */
  async wipe(viewer: Viewer, hostId: number): Promise<void> {
    const host = await this.hostFor(viewer, hostId, 'lock');
    const enrollmentId = await this.enrollmentOf(host);
    const st = await this.lockState(host.id);
    if (st.wiping) throw conflictAction('Host has a pending wipe request.');
    if (st.wiped) throw conflictAction('Host is already wiped.');
    if (st.locking) throw conflictAction('Host has a pending lock request.');
    if (st.unlocking) throw conflictAction('Host has a pending unlock request.');
    const macos = host.platform === 'darwin';
    await this.send(
      enrollmentId,
      'EraseDevice',
      macos ? { PIN: sixDigitPin(), ObliterationBehavior: 'Default' } : {},
      (uuid, trx) =>
        this.store.setHostAction(trx, { host_id: host.id, fleet_platform: host.platform, wipe_ref: uuid }),
    );
    await this.activities.record(
      viewer,
      'wiped_host',
      { host_id: host.id, host_display_name: host.computer_name || host.hostname },
      { hostIds: [host.id] },
    );
  }
}
