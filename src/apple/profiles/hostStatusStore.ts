import { sql, type Kysely, type Transaction } from 'kysely';
import { insertIgnore } from '../../db/dialect.js';
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

export type { StatusCounts } from '../../mdm/profiles/hostStatusSql.js';

import { groupBy } from '../../util/groupBy.js';

type Db = Kysely<DB> | Transaction<DB>;

const CHUNK = 500;

export type HostProfileWrite = {
  host_uuid: string;
  profile_uuid: string;
  profile_identifier: string;
  profile_name: string;
  status: string | null;
  operation_type: string;
  detail: string | null;
  command_uuid: string;
  checksum: string;
  retries: number;
  ignore_error: number;
  scope: string;
  secrets_updated_at: string | null;
  /** When the per-host expansion of `$FLEET_VAR_*` was last sent (NULL for shared content). */
  variables_updated_at: string | null;
  created_at: string;
  updated_at: string;
};

export type HostDeclarationWrite = {
  host_uuid: string;
  declaration_uuid: string;
  declaration_identifier: string;
  declaration_name: string;
  status: string | null;
  operation_type: string;
  detail: string | null;
  token: string;
  scope: string;
  secrets_updated_at: string | null;
  created_at: string;
  updated_at: string;
};

/**
 * Per-host status rows: bulk writes for the manager, compare-and-set updates for command results
 * (keyed on host + command UUID, so a late answer to a superseded command changes nothing), and
 * the summaries.
 */
export class HostStatusStore {
  constructor(private readonly db: Kysely<DB>) {}

  async upsertProfileRows(rows: HostProfileWrite[], db: Db = this.db): Promise<void> {
    await upsertStatusRows(db, 'host_mdm_apple_profiles', 'profile_uuid', rows);
  }

  async upsertDeclarationRows(rows: HostDeclarationWrite[], db: Db = this.db): Promise<void> {
    await upsertStatusRows(db, 'host_mdm_apple_declarations', 'declaration_uuid', rows);
  }

  async deleteProfileRows(pairs: { host_uuid: string; def_uuid: string }[], db: Db = this.db): Promise<void> {
    const byDef = groupBy(pairs, (p) => p.def_uuid);
    for (const [def, list] of byDef) {
      for (let i = 0; i < list.length; i += CHUNK) {
        await db
          .deleteFrom('host_mdm_apple_profiles')
          .where('profile_uuid', '=', def)
          .where(
            'host_uuid',
            'in',
            list.slice(i, i + CHUNK).map((p) => p.host_uuid),
          )
          .execute();
      }
    }
  }

  /** Marks removal rows of one profile as sent with `commandUuid`. */
  async markRemovalsSent(
    defUuid: string,
    hostUuids: string[],
    commandUuid: string,
    ignoreError: number,
    now: string,
    db: Db = this.db,
  ): Promise<void> {
    for (let i = 0; i < hostUuids.length; i += CHUNK) {
      await db
        .updateTable('host_mdm_apple_profiles')
        .set({
          status: 'pending',
          operation_type: 'remove',
          command_uuid: commandUuid,
          ignore_error: ignoreError,
          detail: null,
          updated_at: now,
        })
        .where('profile_uuid', '=', defUuid)
        .where('host_uuid', 'in', hostUuids.slice(i, i + CHUNK))
        .execute();
    }
  }

  /** Takes superseded commands out of the given enrollments' queues so they are never replayed. */
  async deactivateQueued(commandUuid: string, enrollmentIds: string[], db: Db = this.db): Promise<void> {
    for (let i = 0; i < enrollmentIds.length; i += CHUNK) {
      await db
        .updateTable('nano_enrollment_queue')
        .set({ active: 0 })
        .where('command_uuid', '=', commandUuid)
        .where('id', 'in', enrollmentIds.slice(i, i + CHUNK))
        .where('active', '=', 1)
        .execute();
    }
  }

  async profileRowByCommand(hostUuid: string, commandUuid: string) {
    return this.db
      .selectFrom('host_mdm_apple_profiles')
      .selectAll()
      .where('host_uuid', '=', hostUuid)
      .where('command_uuid', '=', commandUuid)
      .execute();
  }

  /** Compare-and-set: only the row still pointing at `commandUuid` with status `from` changes. */
  async setProfileStatusByCommand(
    hostUuid: string,
    commandUuid: string,
    operation: 'install' | 'remove',
    from: (string | null)[],
    fields: { status: string | null; detail?: string | null; retries?: number },
    now: string,
  ): Promise<number> {
    const res = await this.db
      .updateTable('host_mdm_apple_profiles')
      .set({ ...fields, updated_at: now })
      .where('host_uuid', '=', hostUuid)
      .where('command_uuid', '=', commandUuid)
      .where('operation_type', '=', operation)
      .where((eb) => statusIn(eb, from))
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async deleteProfileRowsByCommand(
    hostUuid: string,
    commandUuid: string,
    operation: 'remove',
  ): Promise<void> {
    await this.db
      .deleteFrom('host_mdm_apple_profiles')
      .where('host_uuid', '=', hostUuid)
      .where('command_uuid', '=', commandUuid)
      .where('operation_type', '=', operation)
      .execute();
  }

  /** Install rows of a host with their definition's PayloadUUID, for verification. */
  async installRowsForVerification(hostUuid: string) {
    return this.db
      .selectFrom('host_mdm_apple_profiles as r')
      .leftJoin('mdm_apple_configuration_profiles as p', 'p.profile_uuid', 'r.profile_uuid')
      .select([
        'r.profile_uuid',
        'r.profile_identifier',
        'r.status',
        'r.command_uuid',
        'r.retries',
        'r.scope',
        'r.updated_at',
        'p.payload_uuid',
      ])
      .where('r.host_uuid', '=', hostUuid)
      .where('r.operation_type', '=', 'install')
      .execute();
  }

  async setProfileRowCas(
    hostUuid: string,
    profileUuid: string,
    expect: { status: string | null; command_uuid: string },
    fields: { status: string | null; detail?: string | null; retries?: number },
    now: string,
  ): Promise<void> {
    await this.db
      .updateTable('host_mdm_apple_profiles')
      .set({ ...fields, updated_at: now })
      .where('host_uuid', '=', hostUuid)
      .where('profile_uuid', '=', profileUuid)
      .where('command_uuid', '=', expect.command_uuid)
      .where('operation_type', '=', 'install')
      .where((eb) => statusIn(eb, [expect.status]))
      .execute();
  }

  /**
   * Hosts due a ProfileList: after an install was acknowledged (rows found through the
   * definition/status index), or when their last check is old. Driven from those two small sets,
   * never from every host, so an idle fleet costs a scan of the checks table.
   */
  async hostsDueVerification(opts: { olderThan: string; outstandingSince: string; limit: number }) {
    const defs = await this.db
      .selectFrom('mdm_apple_configuration_profiles')
      .select('profile_uuid')
      .execute();
    const notOutstanding = sql`(c.answered_at IS NOT NULL OR c.requested_at < ${opts.outstandingSince})`;
    const acknowledged = defs.length
      ? sql`SELECT r.host_uuid FROM host_mdm_apple_profiles r
          LEFT JOIN host_mdm_apple_profile_checks c ON c.host_uuid = r.host_uuid
          WHERE r.profile_uuid IN (${sql.join(defs.map((d) => d.profile_uuid))}) AND r.status = 'verifying' AND r.operation_type = 'install'
            AND (c.host_uuid IS NULL OR (r.updated_at >= c.requested_at AND ${notOutstanding}))`
      : sql`SELECT host_uuid FROM host_mdm_apple_profile_checks WHERE 1 = 0`;
    const res = await sql<{ host_uuid: string; enrollment_id: string }>`
      SELECT h.uuid AS host_uuid, ne.id AS enrollment_id
      FROM (
        ${acknowledged}
        UNION
        SELECT c.host_uuid FROM host_mdm_apple_profile_checks c
        WHERE c.requested_at < ${opts.olderThan} AND ${notOutstanding}
          AND EXISTS (SELECT 1 FROM host_mdm_apple_profiles r WHERE r.host_uuid = c.host_uuid AND r.operation_type = 'install'
            AND r.status IN ('verifying', 'verified'))
      ) due
      JOIN hosts h ON h.uuid = due.host_uuid
      JOIN nano_enrollments ne ON ne.device_id = h.uuid AND ne.enabled = 1 AND ne.type IN ('Device', 'User Enrollment (Device)')
      WHERE h.platform IN ('darwin', 'ios', 'ipados')
      LIMIT ${opts.limit}`.execute(this.db);
    return res.rows;
  }

  /**
   * Of these hosts, the enabled user channels of those with user-scope profiles to verify (their
   * ProfileList is asked on the user channel, where user-scope profiles are installed).
   */
  async userChannelsToVerify(hostUuids: string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < hostUuids.length; i += CHUNK) {
      const part = hostUuids.slice(i, i + CHUNK);
      const rows = await this.db
        .selectFrom('nano_enrollments as ne')
        .select('ne.id')
        .where('ne.device_id', 'in', part)
        .where('ne.type', '=', 'User')
        .where('ne.enabled', '=', 1)
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('host_mdm_apple_profiles as r')
              .select('r.host_uuid')
              .whereRef('r.host_uuid', '=', 'ne.device_id')
              .where('r.scope', '=', 'User')
              .where('r.operation_type', '=', 'install')
              .where('r.status', 'in', ['verifying', 'verified']),
          ),
        )
        .execute();
      out.push(...rows.map((r) => r.id));
    }
    return out;
  }

  /**
   * Starts a host's verification clock without asking anything now: a check row answered at `now`
   * (none is written over an existing one), so the host is asked for its ProfileList one interval
   * later. For hosts whose installs are verified on acknowledgement (iOS, iPadOS).
   */
  async startCheckClock(hostUuid: string, now: string): Promise<void> {
    await insertIgnore(this.db, 'host_mdm_apple_profile_checks', {
      host_uuid: hostUuid,
      command_uuid: '',
      requested_at: now,
      answered_at: now,
    });
  }

  /**
   * A user channel appeared: user-scope installs that failed for want of one (never sent) go back
   * to "decided, not yet queued" so the manager delivers them. Returns how many.
   */
  async reopenUserScopeFailures(hostUuid: string, now: string): Promise<number> {
    const res = await this.db
      .updateTable('host_mdm_apple_profiles')
      .set({ status: null, detail: null, retries: 0, updated_at: now })
      .where('host_uuid', '=', hostUuid)
      .where('scope', '=', 'User')
      .where('operation_type', '=', 'install')
      .where('status', '=', 'failed')
      .where('command_uuid', '=', '')
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  /** A pending install that cannot be delivered (e.g. a secret gone at delivery) fails with `detail`. */
  async failPendingInstall(
    hostUuid: string,
    commandUuid: string,
    detail: string,
    now: string,
  ): Promise<number> {
    return this.setProfileStatusByCommand(
      hostUuid,
      commandUuid,
      'install',
      ['pending'],
      { status: 'failed', detail },
      now,
    );
  }

  async recordChecksRequested(
    hostUuids: string[],
    commandUuid: string,
    now: string,
    db: Db = this.db,
  ): Promise<void> {
    await recordCheckRequests(db, 'host_mdm_apple_profile_checks', hostUuids, commandUuid, now);
  }

  async checkFor(hostUuid: string, commandUuid: string) {
    return checkRowFor(this.db, 'host_mdm_apple_profile_checks', hostUuid, commandUuid);
  }

  async markCheckAnswered(hostUuid: string, commandUuid: string, now: string): Promise<void> {
    await markCheckRowAnswered(this.db, 'host_mdm_apple_profile_checks', hostUuid, commandUuid, now);
  }

  /** Resend: back to "decided, not yet queued" so the manager sends it again. */
  async resetForResend(hostUuid: string, profileUuid: string, now: string): Promise<number> {
    return resetInstallRowForResend(this.db, 'host_mdm_apple_profiles', hostUuid, profileUuid, now);
  }

  /** Batch resend: every install row of one profile with the given status goes back to NULL. */
  async resetForResendByStatus(profileUuid: string, status: string, now: string): Promise<number> {
    const res = await this.db
      .updateTable('host_mdm_apple_profiles')
      .set({ status: null, detail: null, retries: 0, updated_at: now })
      .where('profile_uuid', '=', profileUuid)
      .where('status', '=', status)
      .where('operation_type', '=', 'install')
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async deleteRowsOfHosts(hostUuids: string[]): Promise<void> {
    if (hostUuids.length === 0) return;
    await this.db.deleteFrom('host_mdm_apple_profiles').where('host_uuid', 'in', hostUuids).execute();
    await this.db.deleteFrom('host_mdm_apple_declarations').where('host_uuid', 'in', hostUuids).execute();
    await this.db.deleteFrom('host_mdm_apple_profile_checks').where('host_uuid', 'in', hostUuids).execute();
  }

  /** Profile and declaration rows of one host, as the host details page lists them. */
  async rowsOfHost(hostUuid: string) {
    const profiles = await this.db
      .selectFrom('host_mdm_apple_profiles')
      .select(['profile_uuid as uuid', 'profile_name as name', 'status', 'operation_type', 'detail', 'scope'])
      .where('host_uuid', '=', hostUuid)
      .orderBy('profile_name')
      .execute();
    const declarations = await this.db
      .selectFrom('host_mdm_apple_declarations')
      .select([
        'declaration_uuid as uuid',
        'declaration_name as name',
        'status',
        'operation_type',
        'detail',
        'scope',
      ])
      .where('host_uuid', '=', hostUuid)
      .orderBy('declaration_name')
      .execute();
    return [...profiles, ...declarations];
  }

  /** Hosts of a team per OS-settings status of their Apple profiles and declarations. */
  async summary(teamId: number | null): Promise<StatusCounts> {
    const statusRows = sql`(
      SELECT host_uuid, status FROM host_mdm_apple_profiles
      UNION ALL SELECT host_uuid, status FROM host_mdm_apple_declarations
    )`;
    return summaryOfStatusRows(this.db, statusRows, teamId);
  }

  /** Hosts per status for one profile or declaration (NULL counted as pending). */
  async profileStatus(kind: 'apple' | 'declaration', uuid: string): Promise<StatusCounts> {
    const rows =
      kind === 'apple'
        ? await this.db
            .selectFrom('host_mdm_apple_profiles')
            .where('profile_uuid', '=', uuid)
            .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
            .groupBy('status')
            .execute()
        : await this.db
            .selectFrom('host_mdm_apple_declarations')
            .where('declaration_uuid', '=', uuid)
            .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
            .groupBy('status')
            .execute();
    return countsByStatus(rows);
  }
}

function statusIn(eb: any, from: (string | null)[]) {
  const vals = from.filter((s): s is string => s !== null);
  const ors = [];
  if (vals.length) ors.push(eb('status', 'in', vals));
  if (from.includes(null)) ors.push(eb('status', 'is', null));
  return eb.or(ors);
}
