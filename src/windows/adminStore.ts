import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import type { ActionOutcome, CommandRowFilter } from '../mdm/platform.js';
import { resultHostsByUuid, type ResultHost } from '../mdm/commands/resultHosts.js';

/** SQL behind Windows' part of the admin commands API and host actions (reads the SyncML queue tables). */
export class WindowsCommandAdminStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Windows commands for `GET /commands`: answered ones from the results table (status = the
   * SyncML status code), still queued ones as Pending. The request type is the command's first
   * LocURI (as Fleet shows it). Status filters map onto codes: Acknowledged = 2xx, Error = the rest.
   */
  listRows(f: CommandRowFilter) {
    const wantPending = !f.statuses?.length || f.statuses.includes('Pending');
    const wantOk = !f.statuses?.length || f.statuses.includes('Acknowledged');
    const wantFailed =
      !f.statuses?.length || f.statuses.includes('Error') || f.statuses.includes('CommandFormatError');
    let answered = this.db
      .selectFrom('windows_mdm_command_results as r')
      .innerJoin('windows_mdm_commands as c', 'c.command_uuid', 'r.command_uuid')
      .innerJoin('mdm_windows_enrollments as e', 'e.id', 'r.enrollment_id')
      .innerJoin('hosts as h', 'h.uuid', 'e.host_uuid');
    let pending = this.db
      .selectFrom('windows_mdm_command_queue as q')
      .innerJoin('windows_mdm_commands as c', 'c.command_uuid', 'q.command_uuid')
      .innerJoin('mdm_windows_enrollments as e', 'e.id', 'q.enrollment_id')
      .innerJoin('hosts as h', 'h.uuid', 'e.host_uuid')
      // A command answered and queued again shows once, with its answer.
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('windows_mdm_command_results as r')
              .select('r.command_uuid')
              .whereRef('r.enrollment_id', '=', 'q.enrollment_id')
              .whereRef('r.command_uuid', '=', 'q.command_uuid'),
          ),
        ),
      );
    for (const c of f.hostConditions) {
      answered = answered.where(c);
      pending = pending.where(c);
    }
    if (f.requestType) {
      answered = answered.where('c.target_loc_uri', '=', f.requestType);
      pending = pending.where('c.target_loc_uri', '=', f.requestType);
    }
    if (!wantPending) pending = pending.where(sql<boolean>`1 = 0`);
    if (!wantOk) answered = answered.where('r.status_code', 'not like', '2%');
    if (!wantFailed) answered = answered.where('r.status_code', 'like', '2%');
    const common = [
      sql<string>`h.uuid`.as('host_uuid'),
      sql<string>`c.command_uuid`.as('command_uuid'),
    ] as const;
    const tail = [
      sql<string>`c.target_loc_uri`.as('request_type'),
      sql<string>`h.hostname`.as('hostname'),
      sql<number | null>`h.team_id`.as('team_id'),
      sql<string>`h.platform`.as('platform'),
    ] as const;
    return [
      answered.select([
        ...common,
        sql<string>`r.status_code`.as('status'),
        sql<string>`r.updated_at`.as('updated_at'),
        ...tail,
      ]),
      pending.select([
        ...common,
        sql<string>`'Pending'`.as('status'),
        sql<string>`q.created_at`.as('updated_at'),
        ...tail,
      ]),
    ];
  }

  /**
   * The host's answers to its action commands (a wipe's Exec): any 2xx status = done, another
   * status = failed, none yet = pending. Windows has no "not now": every status ends the command.
   */
  async outcomes(hostUuid: string, commandUuids: string[]): Promise<Map<string, ActionOutcome>> {
    const out = new Map<string, ActionOutcome>();
    if (commandUuids.length === 0) return out;
    const rows = await this.db
      .selectFrom('windows_mdm_command_results as r')
      .innerJoin('mdm_windows_enrollments as e', 'e.id', 'r.enrollment_id')
      .select(['r.command_uuid', 'r.status_code'])
      .where('e.host_uuid', '=', hostUuid)
      .where('r.command_uuid', 'in', commandUuids)
      .execute();
    for (const r of rows) out.set(r.command_uuid, r.status_code.startsWith('2') ? 'done' : 'failed');
    return out;
  }

  /** Name and team of hosts by UUID, for the rows of `GET /commands/results`. */
  hostsByUuid(uuids: string[]): Promise<Map<string, ResultHost>> {
    return resultHostsByUuid(this.db, uuids);
  }
}
