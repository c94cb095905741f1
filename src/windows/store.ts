import type { Kysely, Selectable, Transaction } from 'kysely';
import { dbNow, insertIgnore, toDbTime, upsert } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import type { MdmWindowsEnrollmentsTable } from './tables.js';

/** The enrollment columns the management endpoint reads. */
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
  'user_signed_in_at',
  'created_at',
] as const;

/** A Windows enrollment as the management endpoint uses it (credentials_acknowledged as a boolean). */
export type WindowsEnrollment = Omit<
  Pick<Selectable<MdmWindowsEnrollmentsTable>, (typeof enrollmentColumns)[number]>,
  'credentials_acknowledged'
> & {
  credentials_acknowledged: boolean;
};

/** What enrollment stores about a new (or re-enrolling) PC. */
export type NewWindowsEnrollment = Pick<
  MdmWindowsEnrollmentsTable,
  | 'mdm_device_id'
  | 'mdm_hardware_id'
  | 'device_type'
  | 'device_name'
  | 'enroll_type'
  | 'enroll_user_id'
  | 'enroll_proto_version'
  | 'enroll_client_version'
> & { not_in_oobe: boolean; host_uuid: string; credentials_hash: Buffer };

/** What the store records about a certificate the WSTEP CA issued. */
export interface IssuedWstepCertificate {
  /** Subject CN (the HWDevID). */
  name: string;
  certPem: string;
  thumbprint: string;
  notBefore: Date;
  notAfter: Date;
}

export interface QueuedCommand {
  command_uuid: string;
  raw_command: string;
}

/** A command queued because of an answer (an Add answered 418 goes again as Replace). */
export interface FollowUpCommand {
  commandUuid: string;
  rawCommand: string;
  targetLocUri: string;
  /** The answered command it replaces in the queue. */
  replaces: string;
}

/**
 * A device message's digest nonce and the one that replaces it. A nonce authenticates one message:
 * the message's writes happen only if the stored nonce is still `used` (compare-and-set).
 */
export interface NonceRotation {
  used: string;
  next: string;
  expiresAt: string;
}

export interface CommandResultToSave {
  commandUuid: string;
  rawResult: string;
  statusCode: string;
}

export const enrolledState = 'MDMDeviceEnrolledEnrolled';

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function toEnrollment(r: any): WindowsEnrollment {
  const { queued_at: _q, command_uuid: _c, raw_command: _r, ...e } = r;
  return {
    ...e,
    credentials_hash: r.credentials_hash ? Buffer.from(r.credentials_hash) : null,
    credentials_acknowledged: Boolean(r.credentials_acknowledged),
  };
}

/** Every SQL statement of Windows MDM: enrollments, the command queue, responses and results. */
export class WindowsMdmStore {
  constructor(readonly db: Kysely<DB>) {}

  /**
   * Records an enrollment and the certificate issued for it, in one transaction: a WSTEP serial
   * is allocated, `issue` signs the certificate with it, and both rows are written (a failed
   * signature leaves nothing behind). The same machine (HWDevID) re-enrolling keeps its row and
   * id; its old queue is dropped so the new device state gets everything again.
   */
  async saveEnrollment<C extends IssuedWstepCertificate>(
    e: NewWindowsEnrollment,
    issue: (serial: number) => C,
  ): Promise<{ id: number; reused: boolean; certificate: C }> {
    return this.db.transaction().execute(async (trx) => {
      const now = dbNow();
      const serialRow = await trx
        .insertInto('wstep_serials')
        .values({ created_at: now })
        .executeTakeFirstOrThrow();
      const certificate = issue(Number(serialRow.insertId));
      const values = {
        ...e,
        not_in_oobe: e.not_in_oobe ? 1 : 0,
        device_state: enrolledState,
        credentials_acknowledged: 1,
        auth_nonce: null,
        auth_nonce_expires_at: null,
        // A user enrolling with their own credentials (no fleetd host behind it) from a running
        // desktop is signed in; otherwise the device says so in its sessions (Alert 1224).
        user_signed_in_at: e.host_uuid === '' && e.not_in_oobe ? now : null,
        updated_at: now,
      };
      const existing = await trx
        .selectFrom('mdm_windows_enrollments')
        .select('id')
        .where('mdm_hardware_id', '=', e.mdm_hardware_id)
        .executeTakeFirst();
      let id: number;
      if (existing) {
        id = existing.id;
        await trx
          .updateTable('mdm_windows_enrollments')
          .set({ ...values, created_at: now })
          .where('id', '=', id)
          .execute();
        await trx.deleteFrom('windows_mdm_command_queue').where('enrollment_id', '=', id).execute();
      } else {
        const res = await trx
          .insertInto('mdm_windows_enrollments')
          .values({ ...values, created_at: now })
          .executeTakeFirstOrThrow();
        id = Number(res.insertId);
      }
      await trx
        .insertInto('wstep_certificates')
        .values({
          serial: Number(serialRow.insertId),
          name: certificate.name.slice(0, 1024),
          not_valid_before: toDbTime(certificate.notBefore),
          not_valid_after: toDbTime(certificate.notAfter),
          certificate_pem: certificate.certPem,
          sha1_thumbprint: certificate.thumbprint,
          enrollment_id: id,
          host_uuid: e.host_uuid,
          created_at: now,
          updated_at: now,
        })
        .execute();
      return { id, reused: Boolean(existing), certificate };
    });
  }

  /** Certificates the WSTEP CA issued for an enrollment, oldest first (serial as lower-case hex). */
  async wstepCertificates(enrollmentId: number) {
    const rows = await this.db
      .selectFrom('wstep_certificates')
      .select([
        'serial',
        'name',
        'not_valid_before',
        'not_valid_after',
        'sha1_thumbprint',
        'revoked',
        'host_uuid',
      ])
      .where('enrollment_id', '=', enrollmentId)
      .orderBy('serial', 'asc')
      .execute();
    return rows.map((r) => ({
      serial_hex: Number(r.serial).toString(16),
      common_name: r.name,
      not_valid_before: r.not_valid_before,
      not_valid_after: r.not_valid_after,
      sha1_thumbprint: r.sha1_thumbprint,
      revoked: Boolean(r.revoked),
      host_uuid: r.host_uuid,
    }));
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

  /**
   * The management hot path's only read: the device's newest enrollment and the commands queued
   * for it, oldest first, in one indexed query (device id index, then the queue's primary key).
   * Sorted here rather than by ORDER BY, which would make MySQL build a temporary table (the
   * command text is a MEDIUMTEXT) and cost it several times the query itself.
   */
  async managementState(
    deviceId: string,
  ): Promise<{ enrollment: WindowsEnrollment; queued: QueuedCommand[] } | undefined> {
    const rows = await this.db
      .selectFrom('mdm_windows_enrollments as e')
      .leftJoin('windows_mdm_command_queue as q', 'q.enrollment_id', 'e.id')
      .leftJoin('windows_mdm_commands as c', 'c.command_uuid', 'q.command_uuid')
      .select(enrollmentColumns.map((col) => `e.${col}` as const))
      .select(['q.created_at as queued_at', 'c.command_uuid', 'c.raw_command'])
      .where('e.mdm_device_id', '=', deviceId)
      .execute();
    if (rows.length === 0) return undefined;
    // Several enrollments may share a DeviceID (different machines); the newest one answers.
    let newest = rows[0];
    for (const r of rows)
      if (r.created_at > newest.created_at || (r.created_at === newest.created_at && r.id > newest.id))
        newest = r;
    const queued = rows
      .filter((r) => r.id === newest.id && r.command_uuid && r.raw_command !== null)
      .sort(
        (a, b) =>
          compare(a.queued_at ?? '', b.queued_at ?? '') ||
          compare(a.command_uuid ?? '', b.command_uuid ?? ''),
      )
      .map((r) => ({ command_uuid: r.command_uuid as string, raw_command: r.raw_command as string }));
    return { enrollment: toEnrollment(newest), queued };
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

  /** Whether a user is signed in on the enrollment: when one was seen signing in, or NULL. */
  async setUserSignedIn(enrollmentId: number, at: string | null): Promise<void> {
    await this.db
      .updateTable('mdm_windows_enrollments')
      .set({ user_signed_in_at: at })
      .where('id', '=', enrollmentId)
      .execute();
  }

  async setNonce(enrollmentId: number, nonce: string, expiresAt: string): Promise<void> {
    await this.db
      .updateTable('mdm_windows_enrollments')
      .set({ auth_nonce: nonce, auth_nonce_expires_at: expiresAt })
      .where('id', '=', enrollmentId)
      .execute();
  }

  /**
   * Consumes a digest nonce: replaces it with the next one only while it is still the stored one
   * (`WHERE auth_nonce = used`), so of two messages carrying the same nonce, one at most gets
   * through. False when the nonce was already used (or replaced by a newer challenge).
   */
  async consumeNonce(enrollmentId: number, nonce: NonceRotation, trx?: Transaction<DB>): Promise<boolean> {
    const res = await (trx ?? this.db)
      .updateTable('mdm_windows_enrollments')
      .set({ auth_nonce: nonce.next, auth_nonce_expires_at: nonce.expiresAt })
      .where('id', '=', enrollmentId)
      .where('auth_nonce', '=', nonce.used)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** Marks enrollments as seen now; called in batches from a buffer, not per message. */
  async touchLastSeen(enrollmentIds: number[]): Promise<void> {
    if (enrollmentIds.length === 0) return;
    await this.db
      .updateTable('mdm_windows_enrollments')
      .set({ last_seen_at: dbNow(), credentials_acknowledged: 1 })
      .where(
        'id',
        'in',
        [...enrollmentIds].sort((a, b) => a - b),
      )
      .execute();
  }

  /** Removes an enrollment (queue, responses and results cascade); returns its host UUID. */
  async deleteEnrollment(enrollmentId: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Children first: SQLite only cascades with foreign keys on, MySQL always does.
      await trx.deleteFrom('windows_mdm_command_results').where('enrollment_id', '=', enrollmentId).execute();
      await trx.deleteFrom('windows_mdm_command_queue').where('enrollment_id', '=', enrollmentId).execute();
      await trx.deleteFrom('windows_mdm_responses').where('enrollment_id', '=', enrollmentId).execute();
      await trx.deleteFrom('windows_mdm_push_channels').where('enrollment_id', '=', enrollmentId).execute();
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
        .values({
          command_uuid: cmd.commandUuid,
          raw_command: cmd.rawCommand,
          target_loc_uri: cmd.targetLocUri.slice(0, 255),
          created_at: now,
          updated_at: now,
        })
        .execute();
      // Ascending ids: the foreign-key checks then lock enrollment rows in the same order as the
      // batched last-seen UPDATE does, so the two cannot deadlock. Chunked to keep statements small.
      const ids = [...new Set(enrollmentIds)].sort((a, b) => a - b);
      for (let i = 0; i < ids.length; i += 1000) {
        await insertIgnore(
          t,
          'windows_mdm_command_queue',
          ids
            .slice(i, i + 1000)
            .map((id) => ({ enrollment_id: id, command_uuid: cmd.commandUuid, created_at: now })),
        );
      }
    };
    if (trx) await run(trx);
    else await this.db.transaction().execute(run);
  }

  /**
   * Stores a device message and its per-command results and dequeues the answered commands, all
   * in one transaction and without reading first: results are upserted by (enrollment, command),
   * so a resend or a second session answering the same command overwrites rather than duplicates.
   * A follow-up (an Add answered 418, re-sent as Replace) is queued only by the transaction whose
   * DELETE removed the original queue row, so two sessions of one device never queue it twice.
   *
   * With `nonce`, the message's digest nonce is consumed first, in the same transaction (one
   * commit for both); when it was already used the call stores nothing and returns undefined.
   * Without results only the nonce is consumed. Returns the follow-ups this call queued.
   */
  async saveResponse(
    enrollmentId: number,
    rawResponse: string,
    results: CommandResultToSave[],
    followUps: FollowUpCommand[],
    nonce?: NonceRotation,
  ): Promise<FollowUpCommand[] | undefined> {
    if (results.length === 0) {
      if (nonce && !(await this.consumeNonce(enrollmentId, nonce))) return undefined;
      return [];
    }
    return this.db.transaction().execute(async (trx) => {
      // First, and locking the enrollment row: nothing below runs for a nonce already used.
      if (nonce && !(await this.consumeNonce(enrollmentId, nonce, trx))) return undefined;
      return this.saveAnswered(trx, enrollmentId, rawResponse, results, followUps);
    });
  }

  private async saveAnswered(
    trx: Transaction<DB>,
    enrollmentId: number,
    rawResponse: string,
    results: CommandResultToSave[],
    followUps: FollowUpCommand[],
  ): Promise<FollowUpCommand[]> {
    const now = dbNow();
    const res = await trx
      .insertInto('windows_mdm_responses')
      .values({ enrollment_id: enrollmentId, raw_response: rawResponse, created_at: now })
      .executeTakeFirstOrThrow();
    const responseId = Number(res.insertId);
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
    const queued: FollowUpCommand[] = [];
    for (const f of followUps) {
      const gone = await trx
        .deleteFrom('windows_mdm_command_queue')
        .where('enrollment_id', '=', enrollmentId)
        .where('command_uuid', '=', f.replaces)
        .executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0) continue; // another session already answered it
      await this.enqueue([enrollmentId], f, trx);
      // The retry stands in for its original: a profile row waiting on the original now waits on
      // the retry, so the profile's status follows the retry's answer (in the same commit).
      await trx
        .updateTable('host_mdm_windows_profiles')
        .set({ command_uuid: f.commandUuid, updated_at: now })
        .where('command_uuid', '=', f.replaces)
        .where('host_uuid', '=', (eb) =>
          eb.selectFrom('mdm_windows_enrollments').select('host_uuid').where('id', '=', enrollmentId),
        )
        .execute();
      queued.push(f);
    }
    const rest = results.map((r) => r.commandUuid).filter((u) => !followUps.some((f) => f.replaces === u));
    if (rest.length) {
      await trx
        .deleteFrom('windows_mdm_command_queue')
        .where('enrollment_id', '=', enrollmentId)
        .where('command_uuid', 'in', rest)
        .execute();
    }
    return queued;
  }

  async command(
    commandUuid: string,
  ): Promise<
    { command_uuid: string; raw_command: string; target_loc_uri: string; created_at: string } | undefined
  > {
    return this.db
      .selectFrom('windows_mdm_commands')
      .selectAll()
      .where('command_uuid', '=', commandUuid)
      .executeTakeFirst();
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
