import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import {
  checkRowFor,
  countsByStatus,
  markCheckRowAnswered,
  recordCheckRequests,
  resetInstallRowForResend,
  summaryOfStatusRows,
  upsertStatusRows,
  type StatusCounts,
} from '../../mdm/profiles/hostStatusSql.js';
import { DocumentProfileStore } from '../../mdm/profiles/documentStore.js';
import type { HostWindowsProfilesTable, WindowsProfilesTable } from './tables.js';
import {
  deleteUnsentInstallRows,
  installCommandsOf,
  markInstallRowsForRemoval,
} from '../../mdm/profiles/retireHostRows.js';
import { resolveScepCertificateId } from './scep.js';
import { hasFleetVariables } from './variables.js';

type Db = Kysely<DB> | Transaction<DB>;
const CHUNK = 500;

export type WindowsProfileRow = Selectable<WindowsProfilesTable>;
export type HostWindowsProfileRow = Selectable<HostWindowsProfilesTable>;
export type HostWindowsProfileWrite = Omit<HostWindowsProfileRow, 'ignore_error'> & { ignore_error: number };

export type { StatusCounts } from '../../mdm/profiles/hostStatusSql.js';

/** Every SQL statement of Windows profiles: definitions, labels, per-host status, checks. */
export class WindowsProfileStore extends DocumentProfileStore<WindowsProfileRow> {
  constructor(db: Kysely<DB>) {
    super(db, 'mdm_windows_configuration_profiles', 'windows_profile_uuid');
  }

  /**
   * Deletes a definition in the caller's transaction: rows never sent go away, install commands
   * still waiting in a queue are taken out, every other host row becomes a pending removal (the
   * manager then sends Delete for its LocURIs).
   */
  async delete(uuid: string, now: string, db: Db): Promise<void> {
    await deleteUnsentInstallRows(db, 'host_mdm_windows_profiles', uuid);
    await db
      .deleteFrom('windows_mdm_command_queue')
      .where('command_uuid', 'in', installCommandsOf(db, 'host_mdm_windows_profiles', uuid))
      .execute();
    await markInstallRowsForRemoval(db, 'host_mdm_windows_profiles', uuid, now);
    await this.deleteDefinitionRows(uuid, db);
  }

  // ---- per-host status ----

  async upsertHostRows(rows: HostWindowsProfileWrite[], db: Db = this.db): Promise<void> {
    await upsertStatusRows(db, 'host_mdm_windows_profiles', 'profile_uuid', rows);
  }

  async deleteHostRow(hostUuid: string, profileUuid: string, db: Db = this.db): Promise<void> {
    await db
      .deleteFrom('host_mdm_windows_profiles')
      .where('host_uuid', '=', hostUuid)
      .where('profile_uuid', '=', profileUuid)
      .execute();
  }

  /** Status rows of one host, as the host details page lists them. */
  async rowsOfHost(hostUuid: string, db: Db = this.db) {
    return db
      .selectFrom('host_mdm_windows_profiles')
      .select(['profile_uuid as uuid', 'profile_name as name', 'status', 'operation_type', 'detail', 'scope'])
      .where('host_uuid', '=', hostUuid)
      .orderBy('profile_name')
      .execute();
  }

  /** Install rows of these hosts (what stays on each host while another profile is removed). */
  async installRowsOfHosts(
    hostUuids: string[],
    db: Db = this.db,
  ): Promise<{ host_uuid: string; profile_uuid: string; command_uuid: string }[]> {
    const out: { host_uuid: string; profile_uuid: string; command_uuid: string }[] = [];
    for (let i = 0; i < hostUuids.length; i += CHUNK) {
      out.push(
        ...(await db
          .selectFrom('host_mdm_windows_profiles')
          .select(['host_uuid', 'profile_uuid', 'command_uuid'])
          .where('host_uuid', 'in', hostUuids.slice(i, i + CHUNK))
          .where('operation_type', '=', 'install')
          .execute()),
      );
    }
    return out;
  }

  /** Rows of a host that point at one of these commands (install, remove) — what an answer settles. */
  async rowsByCommands(
    hostUuid: string,
    commandUuids: string[],
    db: Db = this.db,
  ): Promise<HostWindowsProfileRow[]> {
    if (commandUuids.length === 0) return [];
    return db
      .selectFrom('host_mdm_windows_profiles')
      .selectAll()
      .where('host_uuid', '=', hostUuid)
      .where('command_uuid', 'in', commandUuids)
      .execute();
  }

  /** Compare-and-set on (host, profile, command, operation, status): late answers change nothing. */
  async setRowCas(
    row: {
      host_uuid: string;
      profile_uuid: string;
      command_uuid: string;
      operation_type: string;
      status: string | null;
    },
    fields: Partial<Pick<HostWindowsProfileRow, 'status' | 'detail' | 'retries' | 'command_uuid'>>,
    now: string,
    db: Db = this.db,
  ): Promise<number> {
    const res = await db
      .updateTable('host_mdm_windows_profiles')
      .set({ ...fields, updated_at: now })
      .where('host_uuid', '=', row.host_uuid)
      .where('profile_uuid', '=', row.profile_uuid)
      .where('command_uuid', '=', row.command_uuid)
      .where('operation_type', '=', row.operation_type)
      .where((eb) => (row.status === null ? eb('status', 'is', null) : eb('status', '=', row.status)))
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async deleteRowCas(
    row: { host_uuid: string; profile_uuid: string; command_uuid: string; operation_type: string },
    db: Db = this.db,
  ): Promise<void> {
    await db
      .deleteFrom('host_mdm_windows_profiles')
      .where('host_uuid', '=', row.host_uuid)
      .where('profile_uuid', '=', row.profile_uuid)
      .where('command_uuid', '=', row.command_uuid)
      .where('operation_type', '=', row.operation_type)
      .execute();
  }

  /**
   * Pairs the manager holds back (user-scoped, no user signed in): shown as pending (status NULL)
   * and left out of the queue. Rows already held are not rewritten.
   */
  async holdInstallRows(
    rows: {
      host_uuid: string;
      def_uuid: string;
      name: string;
      identifier: string;
      scope: string;
      cur_exists: number;
      cur_op: string | null;
      cur_status: string | null;
    }[],
    now: string,
    db: Db = this.db,
  ): Promise<void> {
    const fresh = rows.filter((r) => !(r.cur_exists && r.cur_op === 'install' && r.cur_status === null));
    for (let i = 0; i < fresh.length; i += CHUNK) {
      await upsert(
        db,
        'host_mdm_windows_profiles',
        fresh.slice(i, i + CHUNK).map((r) => ({
          host_uuid: r.host_uuid,
          profile_uuid: r.def_uuid,
          profile_name: r.name,
          profile_identifier: r.identifier,
          status: null,
          operation_type: 'install',
          detail: null,
          scope: r.scope,
          created_at: now,
          updated_at: now,
        })),
        ['host_uuid', 'profile_uuid'],
        ['status', 'operation_type', 'detail', 'updated_at'],
      );
    }
  }

  /** A removal held back (its ./User/ settings need a signed-in user): pending, not sent. */
  async holdRemoval(hostUuid: string, profileUuid: string, now: string, db: Db = this.db): Promise<void> {
    await db
      .updateTable('host_mdm_windows_profiles')
      .set({ operation_type: 'remove', status: null, updated_at: now })
      .where('host_uuid', '=', hostUuid)
      .where('profile_uuid', '=', profileUuid)
      .where((eb) => eb.or([eb('operation_type', '=', 'install'), eb('status', 'is not', null)]))
      .execute();
  }

  /**
   * A command that could not be handed to the host (a secret it uses is gone): its rows fail
   * with the reason, and the command leaves the host's queue.
   */
  async failUndeliverable(
    hostUuid: string,
    enrollmentId: number,
    commandUuid: string,
    detail: string,
    now: string,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('host_mdm_windows_profiles')
        .set({ status: 'failed', detail, updated_at: now })
        .where('host_uuid', '=', hostUuid)
        .where('command_uuid', '=', commandUuid)
        .execute();
      await trx
        .deleteFrom('windows_mdm_command_queue')
        .where('enrollment_id', '=', enrollmentId)
        .where('command_uuid', '=', commandUuid)
        .execute();
    });
  }

  /** Of these enrollments, those on which a user is signed in. */
  async signedInEnrollments(enrollmentIds: number[], db: Db = this.db): Promise<Set<number>> {
    const out = new Set<number>();
    for (let i = 0; i < enrollmentIds.length; i += CHUNK) {
      const rows = await db
        .selectFrom('mdm_windows_enrollments')
        .select('id')
        .where('id', 'in', enrollmentIds.slice(i, i + CHUNK))
        .where('user_signed_in_at', 'is not', null)
        .execute();
      for (const r of rows) out.add(Number(r.id));
    }
    return out;
  }

  async resetForResend(hostUuid: string, profileUuid: string, now: string): Promise<number> {
    return resetInstallRowForResend(this.db, 'host_mdm_windows_profiles', hostUuid, profileUuid, now);
  }

  async deleteRowsOfHosts(hostUuids: string[]): Promise<void> {
    if (hostUuids.length === 0) return;
    await this.db.deleteFrom('host_mdm_windows_profiles').where('host_uuid', 'in', hostUuids).execute();
    await this.db.deleteFrom('host_mdm_windows_profile_checks').where('host_uuid', 'in', hostUuids).execute();
  }

  /** Hosts of a team per OS-settings status of their Windows profiles (each host counted once). */
  async summary(teamId: number | null): Promise<StatusCounts> {
    return summaryOfStatusRows(this.db, sql`host_mdm_windows_profiles`, teamId);
  }

  async profileStatus(uuid: string): Promise<StatusCounts> {
    const rows = await this.db
      .selectFrom('host_mdm_windows_profiles')
      .where('profile_uuid', '=', uuid)
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    return countsByStatus(rows);
  }

  // ---- the Windows command queue, as the manager needs it ----

  /** Takes superseded commands out of the given enrollments' queues so they are never delivered. */
  async dequeue(commandUuid: string, enrollmentIds: number[], db: Db = this.db): Promise<void> {
    for (let i = 0; i < enrollmentIds.length; i += CHUNK) {
      await db
        .deleteFrom('windows_mdm_command_queue')
        .where('command_uuid', '=', commandUuid)
        .where('enrollment_id', 'in', enrollmentIds.slice(i, i + CHUNK))
        .execute();
    }
  }

  async rawCommands(commandUuids: string[], db: Db = this.db): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < commandUuids.length; i += CHUNK) {
      const rows = await db
        .selectFrom('windows_mdm_commands')
        .select(['command_uuid', 'raw_command'])
        .where('command_uuid', 'in', commandUuids.slice(i, i + CHUNK))
        .execute();
      for (const r of rows) out.set(r.command_uuid, r.raw_command);
    }
    return out;
  }

  /**
   * Pending rows whose command already has a result for the host's enrollment (normally settled as
   * the answer arrives; this sweep repairs a missed notification), at most `limit`.
   */
  async answeredPendingRows(limit: number) {
    const res = await sql<{
      host_uuid: string;
      enrollment_id: number;
      command_uuid: string;
      raw_result: string;
    }>`
      SELECT DISTINCT r.host_uuid AS host_uuid, e.id AS enrollment_id, r.command_uuid AS command_uuid, res.raw_result AS raw_result
      FROM host_mdm_windows_profiles r
      JOIN mdm_windows_enrollments e ON e.host_uuid = r.host_uuid
      JOIN windows_mdm_command_results res ON res.enrollment_id = e.id AND res.command_uuid = r.command_uuid
      WHERE r.status = 'pending'
      LIMIT ${limit}`.execute(this.db);
    return res.rows.map((r) => ({ ...r, enrollment_id: Number(r.enrollment_id) }));
  }

  /**
   * Pending rows whose command is neither queued for nor answered by the host's enrollment (the
   * queue was dropped, e.g. by a re-enrollment): back to NULL so the manager sends them again.
   */
  async resetLostPending(now: string): Promise<number> {
    const res = await sql`
      UPDATE host_mdm_windows_profiles SET status = NULL, updated_at = ${now}
      WHERE status = 'pending' AND command_uuid <> ''
        AND NOT EXISTS (SELECT 1 FROM mdm_windows_enrollments e JOIN windows_mdm_command_queue q ON q.enrollment_id = e.id
          WHERE e.host_uuid = host_mdm_windows_profiles.host_uuid AND q.command_uuid = host_mdm_windows_profiles.command_uuid)
        AND NOT EXISTS (SELECT 1 FROM mdm_windows_enrollments e JOIN windows_mdm_command_results x ON x.enrollment_id = e.id
          WHERE e.host_uuid = host_mdm_windows_profiles.host_uuid AND x.command_uuid = host_mdm_windows_profiles.command_uuid)`.execute(
      this.db,
    );
    return Number(res.numAffectedRows ?? 0);
  }

  // ---- verification checks ----

  /** Hosts due a read-back: a profile acknowledged since the last check, or the last check is old. */
  async hostsDueVerification(opts: {
    olderThan: string;
    recheckBefore: string;
    outstandingSince: string;
    limit: number;
  }) {
    const res = await sql<{ host_uuid: string; enrollment_id: number }>`
      SELECT h.uuid AS host_uuid, MAX(e.id) AS enrollment_id
      FROM hosts h
      JOIN mdm_windows_enrollments e ON e.host_uuid = h.uuid AND e.device_state = 'MDMDeviceEnrolledEnrolled'
      LEFT JOIN host_mdm_windows_profile_checks c ON c.host_uuid = h.uuid
      WHERE h.platform = 'windows'
        AND (c.host_uuid IS NULL OR c.answered_at IS NOT NULL OR c.requested_at < ${opts.outstandingSince})
        AND (
          EXISTS (SELECT 1 FROM host_mdm_windows_profiles r WHERE r.host_uuid = h.uuid AND r.operation_type = 'install'
            AND r.status = 'verifying' AND (c.host_uuid IS NULL OR r.updated_at >= c.requested_at OR c.requested_at < ${opts.recheckBefore}))
          OR ((c.host_uuid IS NULL OR c.requested_at < ${opts.olderThan})
            AND EXISTS (SELECT 1 FROM host_mdm_windows_profiles r WHERE r.host_uuid = h.uuid AND r.operation_type = 'install'
              AND r.status = 'verified'))
        )
      GROUP BY h.uuid
      LIMIT ${opts.limit}`.execute(this.db);
    return res.rows.map((r) => ({ host_uuid: r.host_uuid, enrollment_id: Number(r.enrollment_id) }));
  }

  /** Install rows of a host being verified, with their definition's SyncML. */
  async rowsToVerify(hostUuid: string) {
    return this.db
      .selectFrom('host_mdm_windows_profiles as r')
      .innerJoin('mdm_windows_configuration_profiles as p', 'p.profile_uuid', 'r.profile_uuid')
      .select([
        'r.host_uuid',
        'r.profile_uuid',
        'r.profile_name',
        'r.status',
        'r.operation_type',
        'r.command_uuid',
        'r.retries',
        'r.updated_at',
        'r.checksum',
        'p.syncml',
        'p.checksum as def_checksum',
      ])
      .where('r.host_uuid', '=', hostUuid)
      .where('r.operation_type', '=', 'install')
      .where('r.status', 'in', ['verifying', 'verified'])
      .execute();
  }

  /**
   * The current versions of a host's verifying and verified install rows, each with the SyncML
   * the host received: a profile filled in per host (Fleet variables, SCEP certificate ID) is
   * read from the host's own command.
   */
  async currentRowsToVerify(hostUuid: string) {
    const rows = (await this.rowsToVerify(hostUuid)).filter((r) => r.checksum === r.def_checksum);
    const perHost = rows.filter((r) => hasFleetVariables(r.syncml));
    const raw = await this.rawCommands(perHost.map((r) => r.command_uuid));
    return rows.map((r) => ({
      ...r,
      syncml: raw.get(r.command_uuid) ?? resolveScepCertificateId(r.syncml, r.profile_uuid),
    }));
  }

  async recordCheck(hostUuid: string, commandUuid: string, now: string, db: Db = this.db): Promise<void> {
    await recordCheckRequests(db, 'host_mdm_windows_profile_checks', [hostUuid], commandUuid, now);
  }

  async checkFor(hostUuid: string, commandUuid: string) {
    return checkRowFor(this.db, 'host_mdm_windows_profile_checks', hostUuid, commandUuid);
  }

  async markCheckAnswered(hostUuid: string, commandUuid: string, now: string): Promise<void> {
    await markCheckRowAnswered(this.db, 'host_mdm_windows_profile_checks', hostUuid, commandUuid, now);
  }
}
