import { sql, type Kysely, type Transaction } from 'kysely';
import { dbNow, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { ActionOutcome, CommandRowFilter } from '../../mdm/platform.js';

/** A host's enabled Apple device-channel enrollment, if any, and whether MDM is on for it. */
export interface HostEnrollment {
  mdm_enrolled: boolean;
  /** The device-channel enrollment id (= host UUID), when the host is enrolled in Apple MDM. */
  enrollment_id: string | null;
}

export interface CommandResultListRow {
  host_uuid: string;
  command_uuid: string;
  status: string;
  updated_at: string;
  request_type: string;
  hostname: string;
  team_id: number | null;
  payload: Buffer;
  result: Buffer | null;
}

const deviceEnrollmentTypes = ['Device', 'User Enrollment (Device)'];

/** SQL behind Apple's part of the admin commands API and host actions (reads the Apple queue tables). */
export class AppleCommandAdminStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** Each host's (by UUID) enabled device-channel enrollment and MDM state. */
  async enrollmentsOf(uuids: string[]): Promise<Map<string, HostEnrollment>> {
    const out = new Map<string, HostEnrollment>();
    if (uuids.length === 0) return out;
    const rows = await this.db
      .selectFrom('hosts as h')
      .leftJoin('host_mdm as m', 'm.host_id', 'h.id')
      .leftJoin('nano_enrollments as e', (j) =>
        j
          .onRef('e.device_id', '=', 'h.uuid')
          .on('e.enabled', '=', 1)
          .on('e.type', 'in', deviceEnrollmentTypes),
      )
      .select(['h.uuid', 'm.enrolled', 'e.id as enrollment_id'])
      .where('h.uuid', 'in', uuids)
      .execute();
    for (const r of rows) {
      out.set(r.uuid, {
        mdm_enrolled: Boolean(Number(r.enrolled ?? 0)),
        enrollment_id: r.enrollment_id ?? null,
      });
    }
    return out;
  }

  /** What the `mdm_unenrolled` activity names: the host's serial and whether it enrolled through DEP. */
  async unenrollFacts(hostId: number): Promise<{ hardware_serial: string; installed_from_dep: boolean }> {
    const r = await this.db
      .selectFrom('hosts as h')
      .leftJoin('host_mdm as m', 'm.host_id', 'h.id')
      .select(['h.hardware_serial', 'm.installed_from_dep'])
      .where('h.id', '=', hostId)
      .executeTakeFirst();
    return {
      hardware_serial: r?.hardware_serial ?? '',
      installed_from_dep: Boolean(Number(r?.installed_from_dep ?? 0)),
    };
  }

  /** Apple commands for `GET /commands`: one row per queued (enrollment, command), with the latest result if any. */
  listRows(f: CommandRowFilter) {
    let q = this.db
      .selectFrom('nano_enrollment_queue as q')
      .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
      .innerJoin('nano_enrollments as e', 'e.id', 'q.id')
      .innerJoin('hosts as h', 'h.uuid', 'e.device_id')
      .leftJoin('nano_command_results as r', (j) =>
        j.onRef('r.id', '=', 'q.id').onRef('r.command_uuid', '=', 'q.command_uuid'),
      );
    for (const c of f.hostConditions) q = q.where(c);
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

  /**
   * The device's latest answer to each of a host's lock and wipe commands (each is queued for that
   * host only): Acknowledged = done; Error or CommandFormatError = failed; none yet or NotNow = pending.
   */
  async outcomes(commandUuids: string[]): Promise<Map<string, ActionOutcome>> {
    const out = new Map<string, ActionOutcome>();
    if (commandUuids.length === 0) return out;
    const rows = await this.db
      .selectFrom('nano_command_results')
      .select(['command_uuid', 'status'])
      .where('command_uuid', 'in', commandUuids)
      .execute();
    for (const r of rows) {
      out.set(
        r.command_uuid,
        r.status === 'Acknowledged' ? 'done' : r.status === 'NotNow' ? 'pending' : 'failed',
      );
    }
    return out;
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
