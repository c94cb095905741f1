import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { dbNow, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { LockStateSource } from './lockState.js';

/** A host named in an admin command request, with its Apple device-channel enrollment if any. */
export interface CommandTargetHost {
  id: number;
  uuid: string;
  platform: string;
  team_id: number | null;
  hostname: string;
  mdm_enrolled: boolean;
  /** The device-channel enrollment id (= host UUID), when the host is enrolled in Apple MDM. */
  enrollment_id: string | null;
}

export interface CommandListRow {
  host_uuid: string;
  command_uuid: string;
  status: string;
  updated_at: string;
  request_type: string;
  hostname: string;
  team_id: number | null;
  /** The host's platform: darwin/ios/ipados for Apple commands, windows for SyncML commands. */
  platform: string;
}

export interface CommandResultListRow extends Omit<CommandListRow, 'platform'> {
  payload: Buffer;
  result: Buffer | null;
}

export interface CommandListFilter {
  /** Teams whose hosts the caller may see; 'all' for global roles. */
  visibleTeams: 'all' | number[];
  hostIdentifier?: string;
  requestType?: string;
  statuses?: string[];
  orderKey: 'updated_at' | 'request_type' | 'hostname' | 'status' | 'command_uuid' | 'host_uuid';
  desc: boolean;
  limit?: number;
  offset?: number;
}

export interface HostMdmActionRow {
  host_id: number;
  lock_ref: string | null;
  wipe_ref: string | null;
  unlock_ref: string | null;
  unlock_pin: string | null;
  fleet_platform: string;
}

const deviceEnrollmentTypes = ['Device', 'User Enrollment (Device)'];

/** SQL behind the admin commands API and host lock/wipe state (reads the Apple queue tables). */
export class AppleCommandAdminStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** Hosts by UUID with their enabled device-channel enrollment (if any). */
  async targetHosts(uuids: string[]): Promise<CommandTargetHost[]> {
    if (uuids.length === 0) return [];
    const rows = await this.db
      .selectFrom('hosts as h')
      .leftJoin('host_mdm as m', 'm.host_id', 'h.id')
      .leftJoin('nano_enrollments as e', (j) =>
        j
          .onRef('e.device_id', '=', 'h.uuid')
          .on('e.enabled', '=', 1)
          .on('e.type', 'in', deviceEnrollmentTypes),
      )
      .select([
        'h.id',
        'h.uuid',
        'h.platform',
        'h.team_id',
        'h.hostname',
        'm.enrolled',
        'e.id as enrollment_id',
      ])
      .where('h.uuid', 'in', uuids)
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      uuid: r.uuid,
      platform: r.platform,
      team_id: r.team_id === null ? null : Number(r.team_id),
      hostname: r.hostname,
      mdm_enrolled: Boolean(Number(r.enrolled ?? 0)),
      enrollment_id: r.enrollment_id ?? null,
    }));
  }

  /**
   * Conditions on the host (alias `h`) both halves of the list share: team scope and the
   * host identifier (UUID, serial, hostname or computer name).
   */
  private hostConditions(f: Omit<CommandListFilter, 'orderKey' | 'desc'>): RawBuilder<boolean>[] {
    const out: RawBuilder<boolean>[] = [];
    if (f.visibleTeams !== 'all') {
      const teams = f.visibleTeams;
      out.push(teams.length === 0 ? sql<boolean>`1 = 0` : sql<boolean>`h.team_id in (${sql.join(teams)})`);
    }
    if (f.hostIdentifier) {
      const id = f.hostIdentifier;
      out.push(
        sql<boolean>`(h.uuid = ${id} or h.hardware_serial = ${id} or h.hostname = ${id} or h.computer_name = ${id})`,
      );
    }
    return out;
  }

  /** Apple commands: one row per queued (enrollment, command), with the latest result if any. */
  private appleRows(f: Omit<CommandListFilter, 'orderKey' | 'desc'>) {
    let q = this.db
      .selectFrom('nano_enrollment_queue as q')
      .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
      .innerJoin('nano_enrollments as e', 'e.id', 'q.id')
      .innerJoin('hosts as h', 'h.uuid', 'e.device_id')
      .leftJoin('nano_command_results as r', (j) =>
        j.onRef('r.id', '=', 'q.id').onRef('r.command_uuid', '=', 'q.command_uuid'),
      );
    for (const c of this.hostConditions(f)) q = q.where(c);
    if (f.requestType) q = q.where('c.request_type', '=', f.requestType);
    if (f.statuses?.length) {
      const named = f.statuses.filter((s) => s !== 'Pending');
      const wantPending = f.statuses.includes('Pending');
      q = q.where((eb) => {
        const ors = [];
        if (named.length) ors.push(eb('r.status', 'in', named));
        if (wantPending) ors.push(eb('r.status', 'is', null));
        return eb.or(ors);
      });
    }
    return q.select([
      sql<string>`h.uuid`.as('host_uuid'),
      sql<string>`q.command_uuid`.as('command_uuid'),
      sql<string>`COALESCE(r.status, 'Pending')`.as('status'),
      sql<string>`COALESCE(r.updated_at, c.updated_at)`.as('updated_at'),
      sql<string>`c.request_type`.as('request_type'),
      sql<string>`h.hostname`.as('hostname'),
      sql<number | null>`h.team_id`.as('team_id'),
      sql<string>`h.platform`.as('platform'),
    ]);
  }

  /**
   * Windows commands: answered ones from the results table (status = the SyncML status code),
   * still queued ones as Pending. The request type is the command's first LocURI (as Fleet shows it).
   * Apple status filters map onto status codes: Acknowledged = 2xx, Error = anything else.
   */
  private windowsRows(f: Omit<CommandListFilter, 'orderKey' | 'desc'>) {
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
    for (const c of this.hostConditions(f)) {
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
    return {
      answered: answered.select([
        ...common,
        sql<string>`r.status_code`.as('status'),
        sql<string>`r.updated_at`.as('updated_at'),
        ...tail,
      ]),
      pending: pending.select([
        ...common,
        sql<string>`'Pending'`.as('status'),
        sql<string>`q.created_at`.as('updated_at'),
        ...tail,
      ]),
    };
  }

  /**
   * Apple and Windows commands in one list: a UNION ALL of both, sorted and paged as one so
   * pages are stable across platforms (ties broken by command UUID, then host UUID).
   */
  async listCommands(f: CommandListFilter): Promise<CommandListRow[]> {
    const windows = this.windowsRows(f);
    const all = this.appleRows(f).unionAll(windows.answered).unionAll(windows.pending);
    let q = this.db
      .selectFrom(all.as('u'))
      .selectAll()
      .orderBy(f.orderKey, f.desc ? 'desc' : 'asc')
      .orderBy('command_uuid')
      .orderBy('host_uuid');
    if (f.limit !== undefined) q = q.limit(f.limit).offset(f.offset ?? 0);
    const rows = await q.execute();
    return rows.map((r) => ({ ...r, team_id: r.team_id === null ? null : Number(r.team_id) }));
  }

  async commandExists(commandUuid: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('nano_commands')
      .select('command_uuid')
      .where('command_uuid', '=', commandUuid)
      .executeTakeFirst();
    return r !== undefined;
  }

  /** Every (host, command) pair of one command, with the command payload and raw result. */
  async commandResults(commandUuid: string): Promise<CommandResultListRow[]> {
    const rows = await this.db
      .selectFrom('nano_enrollment_queue as q')
      .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
      .innerJoin('nano_enrollments as e', 'e.id', 'q.id')
      .innerJoin('hosts as h', 'h.uuid', 'e.device_id')
      .leftJoin('nano_command_results as r', (j) =>
        j.onRef('r.id', '=', 'q.id').onRef('r.command_uuid', '=', 'q.command_uuid'),
      )
      .select([
        'h.uuid as host_uuid',
        'q.command_uuid',
        'c.request_type',
        'h.hostname',
        'h.team_id',
        'c.command as payload',
        'r.result',
      ])
      .select([
        sql<string>`COALESCE(r.status, 'Pending')`.as('status'),
        sql<string>`COALESCE(r.updated_at, c.updated_at)`.as('updated_at'),
      ])
      .where('q.command_uuid', '=', commandUuid)
      .orderBy('h.uuid')
      .execute();
    return rows.map((r) => ({
      ...r,
      team_id: r.team_id === null ? null : Number(r.team_id),
      payload: Buffer.from(r.payload),
      result: r.result === null ? null : Buffer.from(r.result),
    }));
  }

  // ---- host lock / unlock / wipe state (host_mdm_actions) ----

  async hostAction(hostId: number): Promise<HostMdmActionRow | undefined> {
    return this.db
      .selectFrom('host_mdm_actions')
      .selectAll()
      .where('host_id', '=', hostId)
      .executeTakeFirst();
  }

  /**
   * The host's action row with the device's latest answer to its lock and wipe commands, in one
   * query (a lock or wipe command UUID is queued for that host only).
   */
  async hostLockSource(hostId: number): Promise<LockStateSource | undefined> {
    return this.db
      .selectFrom('host_mdm_actions as a')
      .leftJoin('nano_command_results as lr', 'lr.command_uuid', 'a.lock_ref')
      .leftJoin('nano_command_results as wr', 'wr.command_uuid', 'a.wipe_ref')
      .select([
        'a.lock_ref',
        'a.wipe_ref',
        'a.unlock_ref',
        'lr.status as lock_status',
        'wr.status as wipe_status',
      ])
      .where('a.host_id', '=', hostId)
      .executeTakeFirst();
  }

  async setHostAction(
    trx: Kysely<DB>,
    row: Pick<HostMdmActionRow, 'host_id' | 'fleet_platform'> &
      Partial<Omit<HostMdmActionRow, 'host_id' | 'fleet_platform'>>,
  ): Promise<void> {
    const cols = Object.keys(row).filter((k) => k !== 'host_id');
    await upsert(trx, 'host_mdm_actions', row, ['host_id'], cols);
  }

  /** Marks a refetch command in flight for a host (Fleet's host_mdm_commands). */
  async markRefetchInFlight(trx: Kysely<DB>, hostId: number, commandType: string): Promise<void> {
    const now = dbNow();
    await upsert(
      trx,
      'host_mdm_commands',
      { host_id: hostId, command_type: commandType, created_at: now, updated_at: now },
      ['host_id', 'command_type'],
      ['updated_at'],
    );
  }

  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }
}
