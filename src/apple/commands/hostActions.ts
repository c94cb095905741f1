import { randomInt, randomUUID } from 'node:crypto';
import { badRequest, HttpError } from '../../http/errors.js';
import type {
  ActionCommand,
  ActionOutcome,
  HostActionRow,
  LockPlan,
  MdmHost,
  PlatformHostActions,
  TurnOffMdmResult,
  UnlockPlan,
} from '../../mdm/platform.js';
import { EnrollmentIds } from '../enrollment/profile.js';
import { appleMdmNotConfigured, type ApnsCertificateService } from '../push/certificates.js';
import type { ApplePushService } from '../push/service.js';
import type { AppleCommandAdminStore } from './adminStore.js';
import { buildCommandPlist } from './build.js';
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

function sixDigitPin(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

/**
 * Apple's host actions: refetch (DeviceInformation), lock (DeviceLock with a PIN on macOS, Lost
 * Mode on iOS/iPadOS), unlock (the PIN on macOS, DisableLostMode on iOS/iPadOS), wipe (EraseDevice).
 * The core keeps the lock/wipe state and records activities.
 */
export class AppleHostActions implements PlatformHostActions {
  constructor(
    private readonly store: AppleCommandAdminStore,
    private readonly queue: Pick<AppleCommandQueue, 'enqueue'>,
    private readonly push: Pick<ApplePushService, 'pushEnrollments'>,
    private readonly certificates: Pick<ApnsCertificateService, 'current'>,
  ) {}

  private async enrollmentOf(host: MdmHost): Promise<string> {
    const e = (await this.store.enrollmentsOf([host.uuid])).get(host.uuid);
    if (!e?.mdm_enrolled || !e.enrollment_id)
      throw badRequest(`host ${host.id} is not enrolled in MDM`, 'host_id');
    return e.enrollment_id;
  }

  async checkReady(host: MdmHost): Promise<void> {
    await this.enrollmentOf(host);
    if (!(await this.certificates.current())) throw appleMdmNotConfigured();
  }

  /** A command for one enrollment, pushed once queued. */
  private async command(
    host: MdmHost,
    requestType: string,
    fields: Record<string, unknown>,
  ): Promise<ActionCommand> {
    const enrollmentId = await this.enrollmentOf(host);
    const cmd = buildCommandPlist(requestType, fields, randomUUID().toUpperCase());
    return {
      ref: cmd.commandUuid,
      enqueue: (trx) =>
        this.queue.enqueue(
          [enrollmentId],
          { commandUuid: cmd.commandUuid, requestType, plist: cmd.plist },
          trx,
        ),
      wake: async () => void (await this.push.pushEnrollments([enrollmentId])),
    };
  }

  /** Refetch on an Apple MDM host also sends DeviceInformation (and notes it in host_mdm_commands). */
  async refetch(host: MdmHost): Promise<void> {
    const e = (await this.store.enrollmentsOf([host.uuid])).get(host.uuid);
    if (!e?.mdm_enrolled || !e.enrollment_id || !(await this.certificates.current())) return;
    const enrollmentId = e.enrollment_id;
    const prefix = 'REFETCH-DEVICE-';
    const cmd = buildCommandPlist(
      'DeviceInformation',
      { Queries: refetchDeviceQueries },
      `${prefix}${randomUUID().toUpperCase()}`,
    );
    await this.store.transaction(async (trx) => {
      await this.queue.enqueue(
        [enrollmentId],
        { commandUuid: cmd.commandUuid, requestType: 'DeviceInformation', plist: cmd.plist },
        trx,
      );
      await this.store.markRefetchInFlight(trx, host.id, prefix);
    });
    await this.push.pushEnrollments([enrollmentId]);
  }

  /** macOS: DeviceLock with a new 6-digit PIN (kept for unlocking); iOS/iPadOS: Lost Mode. */
  async lock(host: MdmHost): Promise<LockPlan> {
    const macos = host.platform === 'darwin';
    const pin = macos ? sixDigitPin() : null;
    const command = await this.command(
      host,
      macos ? 'DeviceLock' : 'EnableLostMode',
      macos ? { PIN: pin } : { Message: lostModeMessage },
    );
    return { command, unlockPin: pin };
  }

  /**
   * macOS: nothing is sent; the admin gets the PIN to type on the Mac (the unlock is pending until
   * the Mac checks in again). iOS/iPadOS: DisableLostMode.
   */
  async unlock(host: MdmHost, current: HostActionRow | undefined): Promise<UnlockPlan> {
    if (host.platform === 'darwin') {
      return { command: null, unlockRef: new Date().toISOString(), unlockPin: current?.unlock_pin ?? null };
    }
    return { command: await this.command(host, 'DisableLostMode', {}), unlockPin: null };
  }

  /** EraseDevice (macOS with a 6-digit PIN and ObliterationBehavior Default). */
  async wipe(host: MdmHost): Promise<ActionCommand> {
    const macos = host.platform === 'darwin';
    return this.command(
      host,
      'EraseDevice',
      macos ? { PIN: sixDigitPin(), ObliterationBehavior: 'Default' } : {},
    );
  }

  /**
   * Turning MDM off (Fleet's rules): Macs only (iOS/iPadOS are wiped instead), and only while the
   * device channel is enrolled. A RemoveProfile of the enrollment profile is queued and pushed; the
   * Mac then checks out, and the check-in lifecycle turns MDM off.
   */
  readonly turnOffMdm = {
    check: (host: MdmHost): void => {
      if (host.platform === 'ios' || host.platform === 'ipados')
        throw badRequest("Can't turn off MDM for iOS or iPadOS hosts. Use wipe instead.");
    },
    run: async (host: MdmHost): Promise<TurnOffMdmResult> => {
      const e = (await this.store.enrollmentsOf([host.uuid])).get(host.uuid);
      if (!e?.enrollment_id) {
        const reason = `mdm is not enabled for host ${host.id}`;
        throw new HttpError(409, reason);
      }
      if (!(await this.certificates.current())) throw appleMdmNotConfigured();
      const enrollmentId = e.enrollment_id;
      const facts = await this.store.unenrollFacts(host.id);
      const cmd = buildCommandPlist(
        'RemoveProfile',
        { Identifier: EnrollmentIds.profileIdentifier },
        randomUUID().toUpperCase(),
      );
      await this.queue.enqueue([enrollmentId], {
        commandUuid: cmd.commandUuid,
        requestType: 'RemoveProfile',
        plist: cmd.plist,
      });
      try {
        await this.push.pushEnrollments([enrollmentId]);
      } catch {
        // The command stays queued; the Mac gets it at its next check-in.
      }
      return {
        activityDetails: {
          host_serial: facts.hardware_serial,
          host_display_name: host.computer_name || host.hostname,
          installed_from_dep: facts.installed_from_dep,
        },
      };
    },
  };

  outcomes(_host: Pick<MdmHost, 'id' | 'uuid'>, commandUuids: string[]): Promise<Map<string, ActionOutcome>> {
    return this.store.outcomes(commandUuids);
  }
}
