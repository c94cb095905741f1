import { sql, type Kysely, type Transaction } from 'kysely';
import { dbNow } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { ActionOutcome, CommandRowFilter } from '../../mdm/platform.js';
import { resultHostsByUuid, type ResultHost } from '../../mdm/commands/resultHosts.js';

/** A row of `mdm_android_commands`. */
export interface AndroidCommandRow {
  command_uuid: string;
  host_uuid: string;
  operation_name: string;
  command_type: string;
  status: string;
  error_code: string | null;
  error_message: string | null;
  request_payload: string;
  created_at: string;
  updated_at: string;
}

/** Command types whose Google call (devices.delete) answers no Operation: settled by the device's DELETED. */
export const deleteCommandTypes = ['WIPE', 'UNENROLL'] as const;

/** SQL of `mdm_android_commands`: lock / wipe / unenroll requests and how the device answered. */
export class AndroidCommandStore {
  constructor(private readonly db: Kysely<DB>) {}

  async insert(
    trx: Kysely<DB>,
    row: Pick<
      AndroidCommandRow,
      'command_uuid' | 'host_uuid' | 'operation_name' | 'command_type' | 'request_payload'
    >,
  ): Promise<void> {
    const now = dbNow();
    await trx
      .insertInto('mdm_android_commands')
      .values({ ...row, status: 'pending', created_at: now, updated_at: now })
      .execute();
  }

  async byOperationName(trx: Kysely<DB>, name: string): Promise<AndroidCommandRow | undefined> {
    return trx
      .selectFrom('mdm_android_commands')
      .selectAll()
      .where('operation_name', '=', name)
      .executeTakeFirst() as Promise<AndroidCommandRow | undefined>;
  }

  async byCommandUuid(uuid: string): Promise<AndroidCommandRow[]> {
    return (await this.db
      .selectFrom('mdm_android_commands')
      .selectAll()
      .where('command_uuid', '=', uuid)
      .execute()) as AndroidCommandRow[];
  }

  /** Settles a pending command (a settled one stays as it is: notifications come at least once). */
  async settle(
    trx: Transaction<DB>,
    commandUuid: string,
    status: 'acknowledged' | 'error',
    error?: { code: string; message: string },
  ): Promise<boolean> {
    const res = await trx
      .updateTable('mdm_android_commands')
      .set({
        status,
        error_code: error?.code ?? null,
        error_message: error?.message ?? null,
        updated_at: dbNow(),
      })
      .where('command_uuid', '=', commandUuid)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** The device left management: its pending wipe and unenroll requests are done. */
  async settleDeletes(trx: Transaction<DB>, hostUuid: string): Promise<number> {
    const res = await trx
      .updateTable('mdm_android_commands')
      .set({ status: 'acknowledged', updated_at: dbNow() })
      .where('host_uuid', '=', hostUuid)
      .where('status', '=', 'pending')
      .where('command_type', 'in', [...deleteCommandTypes])
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  /** acknowledged = done, error = failed, pending = not answered yet. */
  async outcomes(hostUuid: string, commandUuids: string[]): Promise<Map<string, ActionOutcome>> {
    const out = new Map<string, ActionOutcome>();
    if (commandUuids.length === 0) return out;
    const rows = await this.db
      .selectFrom('mdm_android_commands')
      .select(['command_uuid', 'status'])
      .where('host_uuid', '=', hostUuid)
      .where('command_uuid', 'in', commandUuids)
      .execute();
    for (const r of rows) {
      out.set(
        r.command_uuid,
        r.status === 'acknowledged' ? 'done' : r.status === 'error' ? 'failed' : 'pending',
      );
    }
    return out;
  }

  /**
   * Android's rows of `GET /commands`: status as Fleet names it (Pending, Acknowledged, Error),
   * request type = the command type (LOCK, WIPE, UNENROLL).
   */
  listRows(f: CommandRowFilter) {
    let q = this.db.selectFrom('mdm_android_commands as c').innerJoin('hosts as h', 'h.uuid', 'c.host_uuid');
    for (const c of f.hostConditions) q = q.where(c);
    if (f.requestType) q = q.where('c.command_type', '=', f.requestType);
    if (f.statuses?.length) {
      const wanted = [
        ...(f.statuses.includes('Pending') ? ['pending'] : []),
        ...(f.statuses.includes('Acknowledged') ? ['acknowledged'] : []),
        ...(f.statuses.includes('Error') || f.statuses.includes('CommandFormatError') ? ['error'] : []),
      ];
      q = wanted.length ? q.where('c.status', 'in', wanted) : q.where(sql<boolean>`1 = 0`);
    }
    return [
      q.select([
        sql<string>`h.uuid`.as('host_uuid'),
        sql<string>`c.command_uuid`.as('command_uuid'),
        sql<string>`(CASE c.status WHEN 'acknowledged' THEN 'Acknowledged' WHEN 'error' THEN 'Error' ELSE 'Pending' END)`.as(
          'status',
        ),
        sql<string>`c.updated_at`.as('updated_at'),
        sql<string>`c.command_type`.as('request_type'),
        sql<string>`h.hostname`.as('hostname'),
        sql<number | null>`h.team_id`.as('team_id'),
        sql<string>`h.platform`.as('platform'),
      ]),
    ];
  }

  /** Name and team of hosts by UUID, for the rows of `GET /commands/results`. */
  hostsByUuid(uuids: string[]): Promise<Map<string, ResultHost>> {
    return resultHostsByUuid(this.db, uuids);
  }

  /** Deleted hosts take their command rows with them. */
  async forgetHosts(hostUuids: string[]): Promise<void> {
    if (hostUuids.length === 0) return;
    await this.db.deleteFrom('mdm_android_commands').where('host_uuid', 'in', hostUuids).execute();
  }
}
