import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { AmapiOperation, AndroidManagementClient } from '../../clients/amapi/types.js';
import type { DB } from '../../db/schema.js';
import { badRequest } from '../../http/errors.js';
import { googleErrorLog, googleFailure } from '../enterprise/googleErrors.js';
import type { AndroidCommandStore } from './store.js';

/** Android MDM is off (no bound enterprise or no service account), worded as Flotilla words Windows'. */
export const androidMdmOff = () => badRequest("Android MDM isn't turned on.", 'host_id');

/** What a command needs to know about its host. */
export interface CommandTarget {
  uuid: string;
  /** Full AMAPI device name `enterprises/{e}/devices/{d}`. */
  deviceName: string;
  isPersonal: boolean;
}

/** A command Google accepted, whose row is written inside the caller's transaction. */
export interface IssuedCommand {
  commandUuid: string;
  record(trx: Kysely<DB>): Promise<void>;
}

/** How a COMMAND notification was settled. */
export type SettleOutcome =
  | 'settled'
  | 'not_done'
  | 'already_settled'
  /** Not in our table but of our enterprise: the row may not be committed yet, so Pub/Sub should retry. */
  | 'unknown_ours'
  | 'foreign';

/**
 * Android device commands through AMAPI: LOCK by `devices.issueCommand` (settled by the COMMAND
 * notification of its Operation), wipe and unenroll by `devices.delete` (no Operation: settled when
 * the device reports DELETED). Every command has a row in `mdm_android_commands`.
 */
export class AndroidCommandService {
  constructor(
    private readonly store: AndroidCommandStore,
    private readonly client: () => Promise<AndroidManagementClient | undefined>,
    private readonly logger: Logger,
  ) {}

  private async google(): Promise<AndroidManagementClient> {
    const c = await this.client();
    if (!c) throw androidMdmOff();
    return c;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.logger.warn({ ...googleErrorLog(err), command: what }, 'android: Google refused a device command');
      throw googleFailure(err);
    }
  }

  /** Locks the device's screen (the user unlocks it with their own passcode). */
  async lock(t: CommandTarget): Promise<IssuedCommand> {
    const client = await this.google();
    const command = { type: 'LOCK' };
    const op = await this.call('LOCK', () => client.devicesIssueCommand(t.deviceName, command));
    const commandUuid = randomUUID();
    return {
      commandUuid,
      record: (trx) =>
        this.store.insert(trx, {
          command_uuid: commandUuid,
          host_uuid: t.uuid,
          operation_name: op.name,
          command_type: 'LOCK',
          request_payload: JSON.stringify(command),
        }),
    };
  }

  /**
   * Deletes the device at Google: a company-owned device is factory reset (external storage too),
   * a personally owned one loses only its work profile. `kind` names the row (WIPE or UNENROLL).
   */
  async delete(t: CommandTarget, kind: 'WIPE' | 'UNENROLL'): Promise<IssuedCommand> {
    const client = await this.google();
    const opts = kind === 'WIPE' && !t.isPersonal ? { wipeDataFlags: ['WIPE_EXTERNAL_STORAGE'] } : {};
    await this.call(kind, () => client.devicesDelete(t.deviceName, opts));
    const commandUuid = randomUUID();
    return {
      commandUuid,
      record: (trx) =>
        this.store.insert(trx, {
          command_uuid: commandUuid,
          host_uuid: t.uuid,
          // devices.delete answers no Operation; this name only keeps the column unique.
          operation_name: `${t.deviceName}/flotilla-delete/${commandUuid}`,
          command_type: kind,
          request_payload: JSON.stringify({ method: 'devices.delete', ...opts }),
        }),
    };
  }

  /**
   * A COMMAND notification: a done Operation acknowledges its command, or fails it with Google's
   * code and message. An operation not in the table is ours to retry only when its name is under
   * the bound enterprise.
   */
  async settle(trx: Transaction<DB>, op: AmapiOperation, enterpriseId: string): Promise<SettleOutcome> {
    if (!op.done) return 'not_done';
    const row = await this.store.byOperationName(trx, op.name);
    if (!row) return op.name.startsWith(`enterprises/${enterpriseId}/`) ? 'unknown_ours' : 'foreign';
    const failed = op.error !== undefined && op.error !== null;
    const ok = await this.store.settle(
      trx,
      row.command_uuid,
      failed ? 'error' : 'acknowledged',
      failed ? { code: String(op.error?.code ?? ''), message: String(op.error?.message ?? '') } : undefined,
    );
    return ok ? 'settled' : 'already_settled';
  }

  /** The device reported DELETED: its wipe and unenroll requests are done. */
  settleDeletes(trx: Transaction<DB>, hostUuid: string): Promise<number> {
    return this.store.settleDeletes(trx, hostUuid);
  }
}
