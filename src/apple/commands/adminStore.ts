import { sql, type Kysely, type Transaction } from 'kysely';
import { dbNow, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';

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
}

export interface CommandResultListRow extends CommandListRow {
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
        j.onRef('e.device_id', '=', 'h.uuid').on('e.enabled', '=', 1).on('e.type', 'in', deviceEnrollmentTypes),
      )
      .select(['h.id', 'h.uuid', 'h.platform', 'h.team_id', 'h.hostname', 'm.enrolled', 'e.id as enrollment_id'])
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

  private listBase(f: Omit<CommandListFilter, 'orderKey' | 'desc'>) {
    let q = this.db
      .selectFrom('nano_enrollment_queue as q')
      .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
      .innerJoin('nano_enrollments as e', 'e.id', 'q.id')
      .innerJoin('hosts as h', 'h.uuid', 'e.device_id')
      .leftJoin('nano_command_results as r', (j) => j.onRef('r.id', '=', 'q.id').onRef('r.command_uuid', '=', 'q.command_uuid'));
    if (f.visibleTeams !== 'all') {
      const teams = f.visibleTeams;
      if (teams.length === 0) q = q.where(sql<boolean>`1 = 0`);
      else q = q.where('h.team_id', 'in', teams);
    }
    if (f.hostIdentifier) {
      const id = f.hostIdentifier;
      q = q.where((eb) => eb.or([eb('h.uuid', '=', id), eb('h.hardware_serial', '=', id), eb('h.hostname', '=', id), eb('h.computer_name', '=', id)]));
    }
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
    return q;
  }

  async listCommands(f: CommandListFilter): Promise<CommandListRow[]> {
    const status = sql<string>`COALESCE(r.status, 'Pending')`;
    const updated = sql<string>`COALESCE(r.updated_at, c.updated_at)`;
    const orderExpr = {
      updated_at: updated,
      request_type: sql`c.request_type`,
      hostname: sql`h.hostname`,
      status,
      command_uuid: sql`q.command_uuid`,
      host_uuid: sql`h.uuid`,
    }[f.orderKey];
    let q = this.listBase(f)
      .select(['h.uuid as host_uuid', 'q.command_uuid', 'c.request_type', 'h.hostname', 'h.team_id'])
      .select([status.as('status'), updated.as('updated_at')])
      .orderBy(orderExpr, f.desc ? 'desc' : 'asc')
      .orderBy('q.command_uuid')
      .orderBy('h.uuid');
    if (f.limit !== undefined) q = q.limit(f.limit).offset(f.offset ?? 0);
    const rows = await q.execute();
    return rows.map((r) => ({ ...r, team_id: r.team_id === null ? null : Number(r.team_id) }));
  }

  async commandExists(commandUuid: string): Promise<boolean> {
    const r = await this.db.selectFrom('nano_commands').select('command_uuid').where('command_uuid', '=', commandUuid).executeTakeFirst();
    return r !== undefined;
  }

  /** Every (host, command) pair of one command, with the command payload and raw result. */
  async commandResults(commandUuid: string): Promise<CommandResultListRow[]> {
    const rows = await this.db
      .selectFrom('nano_enrollment_queue as q')
      .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
      .innerJoin('nano_enrollments as e', 'e.id', 'q.id')
      .innerJoin('hosts as h', 'h.uuid', 'e.device_id')
      .leftJoin('nano_command_results as r', (j) => j.onRef('r.id', '=', 'q.id').onRef('r.command_uuid', '=', 'q.command_uuid'))
      .select(['h.uuid as host_uuid', 'q.command_uuid', 'c.request_type', 'h.hostname', 'h.team_id', 'c.command as payload', 'r.result'])
      .select([sql<string>`COALESCE(r.status, 'Pending')`.as('status'), sql<string>`COALESCE(r.updated_at, c.updated_at)`.as('updated_at')])
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
    return this.db.selectFrom('host_mdm_actions').selectAll().where('host_id', '=', hostId).executeTakeFirst();
  }

  /** Latest status of one command for one enrollment; undefined when not answered yet. */
  async resultStatus(enrollmentId: string, commandUuid: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('nano_command_results')
      .select('status')
      .where('id', '=', enrollmentId)
      .where('command_uuid', '=', commandUuid)
      .executeTakeFirst();
    return r?.status;
  }

  async setHostAction(
    trx: Kysely<DB>,
    row: Pick<HostMdmActionRow, 'host_id' | 'fleet_platform'> & Partial<Omit<HostMdmActionRow, 'host_id' | 'fleet_platform'>>,
  ): Promise<void> {
    const cols = Object.keys(row).filter((k) => k !== 'host_id');
    await upsert(trx, 'host_mdm_actions', row, ['host_id'], cols);
  }

  /** Marks a refetch command in flight for a host (Fleet's host_mdm_commands). */
  async markRefetchInFlight(trx: Kysely<DB>, hostId: number, commandType: string): Promise<void> {
    const now = dbNow();
    await upsert(trx, 'host_mdm_commands', { host_id: hostId, command_type: commandType, created_at: now, updated_at: now }, ['host_id', 'command_type'], ['updated_at']);
  }

  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }
}
