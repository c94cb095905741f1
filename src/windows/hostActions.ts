import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { badRequest, HttpError } from '../http/errors.js';
import type {
  ActionCommand,
  ActionOutcome,
  LockPlan,
  MdmHost,
  PlatformHostActions,
  UnlockPlan,
} from '../mdm/platform.js';
import type { WindowsCommandAdminStore } from './adminStore.js';
import { prepareCommand } from './commands.js';
import type { WindowsMdmStore } from './store.js';
import type { WindowsPush } from './push/service.js';

/**
 * RemoteWipe CSP methods Fleet offers. `doWipeProtected` (its default) keeps trying until the reset
 * succeeds, even across power loss, and cleans the drive more thoroughly than `doWipe`.
 */
export const windowsWipeTypes = ['doWipe', 'doWipeProtected'] as const;
export type WindowsWipeType = (typeof windowsWipeTypes)[number];

/** The wipe body's Windows part: `{"windows": {"wipe_type": "doWipe" | "doWipeProtected"}}`. */
const wipeOptions = z.object({ wipe_type: z.enum(windowsWipeTypes) }).strict();

/** The RemoteWipe Exec: an empty chr item on the chosen method node. */
export function wipeCommandXml(wipeType: WindowsWipeType): string {
  return (
    `<Exec><Item><Target><LocURI>./Device/Vendor/MSFT/RemoteWipe/${wipeType}</LocURI></Target>` +
    `<Meta><Format xmlns="syncml:metinf">chr</Format><Type xmlns="syncml:metinf">text/plain</Type></Meta>` +
    `<Data></Data></Item></Exec>`
  );
}

const windowsMdmOff = () => badRequest("Windows MDM isn't turned on.", 'host_id');

/**
 * Windows desktop has no MDM CSP that locks a PC (RemoteLock is for Windows Mobile and
 * HoloLens); Fleet locks and unlocks Windows with a PowerShell script run by fleetd, and Flotilla
 * has no script runner yet. So lock and unlock are refused with Fleet's error for a host whose
 * fleetd cannot run scripts.
 */
const lockNeedsScripts = (action: 'lock' | 'unlock') =>
  new HttpError(422, 'Validation Failed', [
    {
      name: 'host_id',
      reason: `Couldn't ${action} host. To ${action}, deploy the fleetd agent with --enable-scripts and refetch host vitals.`,
    },
  ]);

/**
 * Windows' host actions: wipe through the RemoteWipe CSP (`doWipe` or `doWipeProtected` as the
 * request asks, `doWipeProtected` by default, as Fleet does). The PC takes the Exec at its next
 * management session; its Status (2xx) marks the host wiped.
 */
export class WindowsHostActions implements PlatformHostActions {
  readonly wipeOptions = wipeOptions;

  constructor(
    private readonly store: Pick<WindowsMdmStore, 'newestEnrollmentIdsForHosts' | 'enqueue'>,
    private readonly adminStore: Pick<WindowsCommandAdminStore, 'outcomes'>,
    private readonly enabled: () => Promise<boolean>,
    private readonly push: WindowsPush = { push: () => {} },
  ) {}

  private async enrollmentOf(host: MdmHost): Promise<number> {
    const id = (await this.store.newestEnrollmentIdsForHosts([host.uuid])).get(host.uuid);
    if (id === undefined) throw badRequest(`host ${host.id} is not enrolled in MDM`, 'host_id');
    return id;
  }

  async checkReady(host: MdmHost, action: 'lock' | 'unlock' | 'wipe'): Promise<void> {
    if (!(await this.enabled())) throw windowsMdmOff();
    if (action !== 'wipe') throw lockNeedsScripts(action);
    await this.enrollmentOf(host);
  }

  async lock(): Promise<LockPlan> {
    throw lockNeedsScripts('lock');
  }

  async unlock(): Promise<UnlockPlan> {
    throw lockNeedsScripts('unlock');
  }

  async wipe(host: MdmHost, options: unknown): Promise<ActionCommand> {
    const wipeType: WindowsWipeType = options ? wipeOptions.parse(options).wipe_type : 'doWipeProtected';
    const enrollmentId = await this.enrollmentOf(host);
    const prepared = prepareCommand(wipeCommandXml(wipeType), randomUUID());
    return {
      ref: prepared.commandUuid,
      enqueue: (trx) => this.store.enqueue([enrollmentId], prepared, trx),
      // A PC with a WNS channel is woken at once; the others fetch it at their next poll.
      wake: async () => this.push.push([enrollmentId]),
    };
  }

  outcomes(host: Pick<MdmHost, 'id' | 'uuid'>, commandUuids: string[]): Promise<Map<string, ActionOutcome>> {
    return this.adminStore.outcomes(host.uuid, commandUuids);
  }
}
