import type { Kysely, Transaction } from 'kysely';
import { dbNow, insertIgnore, upsert } from '../db/dialect.js';
import type { DB } from '../db/schema.js';

type AnyDb = Kysely<DB> | Transaction<DB>;

export interface WindowsEnrollment {
  id: number;
  mdm_device_id: string;
  mdm_hardware_id: string;
  host_uuid: string;
  device_state: string;
  device_name: string;
  enroll_user_id: string;
  credentials_hash: Buffer | null;
  credentials_acknowledged: boolean;
  auth_nonce: string | null;
  auth_nonce_expires_at: string | null;
  last_seen_at: string | null;
  created_at: string;
}

export interface NewWindowsEnrollment {
  mdm_device_id: string;
  mdm_hardware_id: string;
  device_type: string;
  device_name: string;
  enroll_type: string;
  enroll_user_id: string;
  enroll_proto_version: string;
  enroll_client_version: string;
  not_in_oobe: boolean;
  host_uuid: string;
  credentials_hash: Buffer;
}

export interface QueuedCommand {
  command_uuid: string;
  raw_command: string;
}

export interface CommandResultToSave {
  commandUuid: string;
  rawResult: string;
  statusCode: string;
}

export const enrolledState = 'MDMDeviceEnrolledEnrolled';

const enrollmentColumns = [
  'id',
  'mdm_device_id',
  'mdm_hardware_id',
  'host_uuid',
  'device_state',
  'device_name',
  'enroll_user_id',
  'credentials_hash',
  'credentials_acknowledged',
  'auth_nonce',
  'auth_nonce_expires_at',
  'last_seen_at',
  'created_at',
] as const;

function toEnrollment(r: any): WindowsEnrollment {
  return {
    ...r,
    credentials_hash: r.credentials_hash ? Buffer.from(r.credentials_hash) : null,
    credentials_acknowledged: Boolean(r.credentials_acknowledged),
  };
}

/** Every SQL statement of Windows MDM: enrollments, the command queue, responses and results. */
export class WindowsMdmStore {
  constructor(readonly db: Kysely<DB>) {}

  /**
   * Records an enrollment. The same machine (HWDevID) re-enrolling keeps its row and id; its old
   * queue is dropped so the new device state gets everything again.
   */
  async saveEnrollment(e: NewWindowsEnrollment): Promise<{ id: number; reused: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      const now = dbNow();
      const values = {
        ...e,
        not_in_oobe: e.not_in_oobe ? 1 : 0,
        device_state: enrolledState,
        credentials_acknowledged: 1,
        auth_nonce: null,
        auth_nonce_expires_at: null,
        updated_at: now,
      };
      const existing = await trx
        .selectFrom('mdm_windows_enrollments')
        .select('id')
        .where('mdm_hardware_id', '=', e.mdm_hardware_id)
        .executeTakeFirst();
      if (existing) {
        await trx.updateTable('mdm_windows_enrollments').set({ ...values, created_at: now }).where('id', '=', existing.id).execute();
        await trx.deleteFrom('windows_mdm_command_queue').where('enrollment_id', '=', existing.id).execute();
        return { id: existing.id, reused: true };
      }
      const res = await trx
        .insertInto('mdm_windows_enrollments')
        .values({ ...values, created_at: now })
        .executeTakeFirstOrThrow();
      return { id: Number(res.insertId), reused: false };
    });
  }

  /** The newest enrollment for a DeviceID (the SyncHdr Source LocURI). */
  async enrollmentByDeviceId(deviceId: string): Promise<WindowsEnrollment | undefined> {
    const r = await this.db
      .selectFrom('mdm_windows_enrollments')
      .select(enrollmentColumns)
      .where('mdm_device_id', '=', deviceId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    return r ? toEnrollment(r) : undefined;
  }

  async enrollmentByHardwareId(hwDevId: string): Promise<WindowsEnrollment | undefined> {
    const r = await this.db
      .selectFrom('mdm_windows_enrollments')
      .select(enrollmentColumns)
      .where('mdm_hardware_id', '=', hwDevId)
      .executeTakeFirst();
    return r ? toEnrollment(r) : undefined;
  }

  /** Newest enrollment id per host UUID (hosts without one are absent from the map). */
  async newestEnrollmentIdsForHosts(hostUuids: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (hostUuids.length === 0) return out;
    const rows = await this.db
      .selectFrom('mdm_windows_enrollments')
      .select(['id', 'host_uuid', 'created_at'])
      .where('host_uuid', 'in', hostUuids)
      .where('device_state', '=', enrolledState)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    for (const r of rows) out.set(r.host_uuid, r.id);
    return out;
  }

  async setNonce(enrollmentId: number, nonce: string, expiresAt: string): Promise<void> {
    await this.db
      .updateTable('mdm_windows_enrollments')
      .set({ auth_nonce: nonce, auth_nonce_expires_at: expiresAt })
      .where('id', '=', enrollmentId)
      .execute();
  }

  async markSeen(enrollmentId: number): Promise<void> {
    await this.db
      .updateTable('mdm_windows_enrollments')
      .set({ last_seen_at: dbNow(), credentials_acknowledged: 1 })
      .where('id', '=', enrollmentId)
      .execute();
  }

  /** Removes an enrollment (queue, responses and results cascade); returns its host UUID. */
  async deleteEnrollment(enrollmentId: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Children first: SQLite only cascades with foreign keys on, MySQL always does.
      await trx.deleteFrom('windows_mdm_command_results').where('enrollment_id', '=', enrollmentId).execute();
      await trx.deleteFrom('windows_mdm_command_queue').where('enrollment_id', '=', enrollmentId).execute();
      await trx.deleteFrom('windows_mdm_responses').where('enrollment_id', '=', enrollmentId).execute();
      await trx.deleteFrom('mdm_windows_enrollments').where('id', '=', enrollmentId).execute();
    });
  }

  /** One command row and one queue row per enrollment, in one transaction. */
  async enqueue(
    enrollmentIds: number[],
    cmd: { commandUuid: string; rawCommand: string; targetLocUri: string },
    trx?: Transaction<DB>,
  ): Promise<void> {
    const run = async (t: Transaction<DB>) => {
      const now = dbNow();
      await t
        .insertInto('windows_mdm_commands')
        .values({ command_uuid: cmd.commandUuid, raw_command: cmd.rawCommand, target_loc_uri: cmd.targetLocUri.slice(0, 255), created_at: now, updated_at: now })
        .execute();
      await insertIgnore(
        t,
        'windows_mdm_command_queue',
        enrollmentIds.map((id) => ({ enrollment_id: id, command_uuid: cmd.commandUuid, created_at: now })),
      );
    };
    if (trx) await run(trx);
    else await this.db.transaction().execute(run);
  }

  /** Commands still owed to an enrollment, oldest first. */
  async pendingCommands(enrollmentId: number, db: AnyDb = this.db): Promise<QueuedCommand[]> {
    return db
      .selectFrom('windows_mdm_command_queue as q')
      .innerJoin('windows_mdm_commands as c', 'c.command_uuid', 'q.command_uuid')
      .select(['c.command_uuid', 'c.raw_command'])
      .where('q.enrollment_id', '=', enrollmentId)
      .orderBy('q.created_at', 'asc')
      .orderBy('c.command_uuid', 'asc')
      .execute();
  }

  /** Which of these command UUIDs are queued for the enrollment (so answers can be matched). */
  async queuedAmong(enrollmentId: number, commandUuids: string[], db: AnyDb = this.db): Promise<QueuedCommand[]> {
    if (commandUuids.length === 0) return [];
    return db
      .selectFrom('windows_mdm_command_queue as q')
      .innerJoin('windows_mdm_commands as c', 'c.command_uuid', 'q.command_uuid')
      .select(['c.command_uuid', 'c.raw_command'])
      .where('q.enrollment_id', '=', enrollmentId)
      .where('q.command_uuid', 'in', commandUuids)
      .execute();
  }

  /** Commands that exist at all (answers to commands already dequeued are idempotent resends). */
  async existingCommandUuids(commandUuids: string[], db: AnyDb = this.db): Promise<Set<string>> {
    if (commandUuids.length === 0) return new Set();
    const rows = await db.selectFrom('windows_mdm_commands').select('command_uuid').where('command_uuid', 'in', commandUuids).execute();
    return new Set(rows.map((r) => r.command_uuid));
  }

  /**
   * Stores a device message and its per-command results, dequeues the answered commands and
   * queues any follow-up commands (418 retries), all in one transaction.
   */
  async saveResponse(
    enrollmentId: number,
    rawResponse: string,
    results: CommandResultToSave[],
    followUps: { commandUuid: string; rawCommand: string; targetLocUri: string }[],
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const now = dbNow();
      const res = await trx
        .insertInto('windows_mdm_responses')
        .values({ enrollment_id: enrollmentId, raw_response: rawResponse, created_at: now })
        .executeTakeFirstOrThrow();
      const responseId = Number(res.insertId);
      if (results.length) {
        await upsert(
          trx,
          'windows_mdm_command_results',
          results.map((r) => ({
            enrollment_id: enrollmentId,
            command_uuid: r.commandUuid,
            raw_result: r.rawResult,
            response_id: responseId,
            status_code: r.statusCode,
            created_at: now,
            updated_at: now,
          })),
          ['enrollment_id', 'command_uuid'],
          ['raw_result', 'response_id', 'status_code', 'updated_at'],
        );
        await trx
          .deleteFrom('windows_mdm_command_queue')
          .where('enrollment_id', '=', enrollmentId)
          .where(
            'command_uuid',
            'in',
            results.map((r) => r.commandUuid),
          )
          .execute();
      }
      for (const f of followUps) await this.enqueue([enrollmentId], f, trx);
    });
  }

  async command(commandUuid: string): Promise<{ command_uuid: string; raw_command: string; target_loc_uri: string; created_at: string } | undefined> {
    return this.db.selectFrom('windows_mdm_commands').selectAll().where('command_uuid', '=', commandUuid).executeTakeFirst();
  }

  /** Per-host outcome of one command: queued (Pending) or answered (status code + raw result). */
  async commandResults(commandUuid: string) {
    const answered = await this.db
      .selectFrom('windows_mdm_command_results as r')
      .innerJoin('mdm_windows_enrollments as e', 'e.id', 'r.enrollment_id')
      .select(['e.host_uuid', 'r.status_code', 'r.raw_result', 'r.updated_at'])
      .where('r.command_uuid', '=', commandUuid)
      .execute();
    const pending = await this.db
      .selectFrom('windows_mdm_command_queue as q')
      .innerJoin('mdm_windows_enrollments as e', 'e.id', 'q.enrollment_id')
      .select(['e.host_uuid', 'q.created_at'])
      .where('q.command_uuid', '=', commandUuid)
      .execute();
    return { answered, pending };
  }
}
