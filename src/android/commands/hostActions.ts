import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';
import { badRequest, HttpError, invalid } from '../../http/errors.js';
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
import type { AndroidDeviceStore } from '../devices/store.js';
import {
  androidMdmOff,
  type AndroidCommandService,
  type CommandTarget,
  type IssuedCommand,
} from './service.js';
import type { AndroidCommandStore } from './store.js';

const actionCommand = (issued: IssuedCommand): ActionCommand => ({
  ref: issued.commandUuid,
  enqueue: (trx) => issued.record(trx),
  // Google delivers the command to the device itself; there is nothing to wake.
  wake: async () => {},
});

/**
 * Android's host actions, through AMAPI:
 * - lock: the LOCK command (the screen locks; the user unlocks it with their own passcode);
 * - unlock: AMAPI has no unlock command, so nothing is sent: the request is recorded and is over at
 *   the device's next status report (as Fleet treats a Mac unlocked with its PIN);
 * - wipe: `devices.delete`: a company-owned device is factory reset (external storage too), a
 *   personal device loses its work profile only; done when the device reports DELETED;
 * - turn off MDM: `devices.delete` of a personal device (its work profile goes). A company-owned
 *   device cannot leave management without a factory reset, so that is refused: use wipe.
 */
export class AndroidHostActions implements PlatformHostActions {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly devices: Pick<AndroidDeviceStore, 'hostById' | 'boundEnterpriseId'>,
    private readonly commands: AndroidCommandService,
    private readonly store: Pick<AndroidCommandStore, 'outcomes'>,
  ) {}

  /** The host's AMAPI device; throws Fleet's 4xx when Android MDM is off or the host is not enrolled. */
  private async target(
    host: MdmHost,
    notEnrolled: () => HttpError,
  ): Promise<CommandTarget & { serial: string }> {
    const enterpriseId = await this.devices.boundEnterpriseId();
    if (!enterpriseId) throw androidMdmOff();
    const row = await this.devices.hostById(host.id);
    if (!row?.enrolled || !row.device_id) throw notEnrolled();
    return {
      uuid: host.uuid,
      deviceName: `enterprises/${enterpriseId}/devices/${row.device_id}`,
      isPersonal: row.is_personal,
      serial: row.hardware_serial,
    };
  }

  private notEnrolledFor(action: 'lock' | 'unlock' | 'wipe') {
    return () => invalid(`Can't ${action} the host because it doesn't have MDM turned on.`, 'host_id');
  }

  async checkReady(host: MdmHost, action: 'lock' | 'unlock' | 'wipe'): Promise<void> {
    if (action === 'unlock') {
      // Nothing is sent to unlock; only Android MDM must be on.
      if (!(await this.devices.boundEnterpriseId())) throw androidMdmOff();
      return;
    }
    await this.target(host, this.notEnrolledFor(action));
  }

  async lock(host: MdmHost): Promise<LockPlan> {
    const t = await this.target(host, this.notEnrolledFor('lock'));
    return { command: actionCommand(await this.commands.lock(t)), unlockPin: null };
  }

  async unlock(_host: MdmHost, _current: HostActionRow | undefined): Promise<UnlockPlan> {
    return { command: null, unlockRef: randomUUID(), unlockPin: null };
  }

  async wipe(host: MdmHost): Promise<ActionCommand> {
    const t = await this.target(host, this.notEnrolledFor('wipe'));
    return actionCommand(await this.commands.delete(t, 'WIPE'));
  }

  readonly turnOffMdm = {
    check: (_host: MdmHost): void => {},
    run: async (host: MdmHost): Promise<TurnOffMdmResult> => {
      const t = await this.target(host, () => new HttpError(409, `mdm is not enabled for host ${host.id}`));
      if (!t.isPersonal) {
        throw badRequest(
          "Can't turn off MDM for company-owned Android hosts: Google factory resets a company-owned device that leaves management. Use wipe instead.",
        );
      }
      const issued = await this.commands.delete(t, 'UNENROLL');
      await issued.record(this.db);
      return {
        activityDetails: {
          host_serial: t.serial,
          host_display_name: host.computer_name || host.hostname,
          installed_from_dep: false,
          platform: 'android',
        },
      };
    },
  };

  outcomes(host: Pick<MdmHost, 'id' | 'uuid'>, commandUuids: string[]): Promise<Map<string, ActionOutcome>> {
    return this.store.outcomes(host.uuid, commandUuids);
  }
}
