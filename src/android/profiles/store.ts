import { sql, type Kysely, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import { dialectOf } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import {
  countsByStatus,
  summaryOfStatusRows,
  upsertStatusRows,
  type StatusCounts,
} from '../../mdm/profiles/hostStatusSql.js';
import { DocumentProfileStore } from '../../mdm/profiles/documentStore.js';
import { appliesToHost, sameTeam, type EntityTables } from '../../mdm/profiles/targeting.js';
import type {
  AndroidPolicyRequestsTable,
  AndroidProfilesTable,
  HostAndroidProfilesTable,
} from '../tables.js';

type Db = Kysely<DB> | Transaction<DB>;
const CHUNK = 500;

export type AndroidProfileRow = Selectable<AndroidProfilesTable>;
export type HostAndroidProfileRow = Selectable<HostAndroidProfilesTable>;
export type HostAndroidProfileWrite = Omit<HostAndroidProfileRow, 'can_reverify'> & { can_reverify: number };
export type PolicyRequestRow = Selectable<AndroidPolicyRequestsTable>;

/**
 * Android profiles described for the shared label-targeting SQL (`appliesToHost`). Only the label
 * and definition names are read there; Android's status rows carry no content column.
 */
const androidTargeting: EntityTables = {
  defTable: 'mdm_android_configuration_profiles',
  defKey: 'profile_uuid',
  labelTable: 'mdm_configuration_profile_labels',
  labelKey: 'android_profile_uuid',
  hostTable: 'host_mdm_android_profiles',
  hostKey: 'profile_uuid',
  contentCol: 'checksum',
  defIdentifierCol: 'name',
  hostIdentifierCol: 'profile_name',
  hostNameCol: 'profile_name',
  platforms: ['android'],
  enrollmentJoin: sql``,
};

/**
 * Does profile `p` apply to host `h` (`cur`: the host's row of it, maybe absent)? Team and labels
 * as on the other platforms, except that a broken label (deleted) takes the profile off every host:
 * an Android host's policy is rebuilt whole each time, so nothing "stays where it is installed".
 */
const applies = sql`(${sameTeam}
  AND NOT EXISTS (SELECT 1 FROM mdm_configuration_profile_labels bl
    WHERE bl.android_profile_uuid = p.profile_uuid AND bl.label_id IS NULL)
  AND ${appliesToHost(androidTargeting)})`;

/** Android hosts the manager manages: MDM on (host_mdm enrolled) with an AMAPI device. */
const managedHosts = sql`hosts h
  JOIN android_devices ad ON ad.host_id = h.id
  JOIN host_mdm hm ON hm.host_id = h.id AND hm.enrolled = 1`;

/** Which hosts and profiles a query looks at. */
export interface AndroidScope {
  window?: { lo: number; hi: number };
  hostIds?: number[];
  profileUuids?: string[];
}

function hostFilter(scope: AndroidScope): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [sql`h.platform = 'android'`];
  if (scope.window) parts.push(sql`h.id > ${scope.window.lo} AND h.id <= ${scope.window.hi}`);
  if (scope.hostIds)
    parts.push(scope.hostIds.length ? sql`h.id IN (${sql.join(scope.hostIds)})` : sql`1 = 0`);
  return sql.join(parts, sql` AND `);
}

function profileFilter(column: string, scope: AndroidScope): RawBuilder<unknown> {
  if (!scope.profileUuids) return sql`1 = 1`;
  if (scope.profileUuids.length === 0) return sql`1 = 0`;
  return sql`${sql.ref(column)} IN (${sql.join(scope.profileUuids)})`;
}

/** A host the manager has to (re)build the policy of. */
export interface DirtyHost {
  host_id: number;
  host_uuid: string;
  device_id: string;
  applied_policy_id: string | null;
}

/** A request to Google, as android_policy_requests records it. */
export interface PolicyRequestWrite {
  request_uuid: string;
  request_name: string;
  policy_id: string;
  payload: string;
  status_code: string;
  error_details: string | null;
  policy_version: number | null;
}

/** Every SQL statement of Android profiles: definitions, labels, per-host status, requests. */
export class AndroidProfileStore extends DocumentProfileStore<AndroidProfileRow> {
  constructor(db: Kysely<DB>) {
    super(db, 'mdm_android_configuration_profiles', 'android_profile_uuid');
  }

  /** The bound enterprise's resource name (`enterprises/LC…`), or undefined when none is bound. */
  async enterpriseName(): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('android_enterprises')
      .select('enterprise_id')
      .where('enterprise_id', '!=', '')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    return row ? `enterprises/${row.enterprise_id}` : undefined;
  }

  /**
   * Deletes a definition in the caller's transaction. Host rows never sent to Google go away; the
   * others become pending removals, which the manager settles by re-sending each host's policy
   * without the profile.
   */
  async delete(uuid: string, now: string, db: Db): Promise<void> {
    await db
      .deleteFrom('host_mdm_android_profiles')
      .where('profile_uuid', '=', uuid)
      .where('included_in_policy_version', 'is', null)
      .execute();
    await db
      .updateTable('host_mdm_android_profiles')
      .set({ operation_type: 'remove', status: null, detail: null, request_fail_count: 0, updated_at: now })
      .where('profile_uuid', '=', uuid)
      .execute();
    await this.deleteDefinitionRows(uuid, db);
  }

  // ---- marking pending (immediately, before the manager runs) ----

  /**
   * Writes "decided, not yet sent" (status NULL) for every (host, profile) pair in scope that the
   * host should have and does not have as uploaded: missing, being removed, or last written
   * before the profile's content was (re)uploaded. One INSERT … SELECT.
   */
  async markInstallsPending(scope: AndroidScope, now: string, db: Db = this.db): Promise<void> {
    const mysql = dialectOf(db) === 'mysql';
    const set = mysql
      ? sql`status = NULL, operation_type = 'install', detail = NULL, request_fail_count = 0,
          profile_name = VALUES(profile_name), updated_at = VALUES(updated_at)`
      : sql`status = NULL, operation_type = 'install', detail = NULL, request_fail_count = 0,
          profile_name = excluded.profile_name, updated_at = excluded.updated_at`;
    const onConflict = mysql
      ? sql`ON DUPLICATE KEY UPDATE ${set}`
      : sql`ON CONFLICT (host_uuid, profile_uuid) DO UPDATE SET ${set}`;
    await sql`
      INSERT INTO host_mdm_android_profiles
        (host_uuid, profile_uuid, profile_name, status, operation_type, detail, request_fail_count, created_at, updated_at)
      SELECT h.uuid, p.profile_uuid, p.name, NULL, 'install', NULL, 0, ${now}, ${now}
      FROM ${managedHosts}
      JOIN mdm_android_configuration_profiles p ON ${sameTeam}
      LEFT JOIN host_mdm_android_profiles cur ON cur.host_uuid = h.uuid AND cur.profile_uuid = p.profile_uuid
      WHERE ${hostFilter(scope)} AND ${profileFilter('p.profile_uuid', scope)}
        AND (cur.host_uuid IS NULL OR cur.operation_type <> 'install' OR cur.updated_at < p.uploaded_at)
        AND ${applies}
      ORDER BY h.uuid, p.profile_uuid
      ${onConflict}`.execute(db);
  }

  /** Install rows in scope whose profile no longer applies become pending removals. */
  async markRemovalsPending(scope: AndroidScope, now: string, db: Db = this.db): Promise<void> {
    await sql`
      UPDATE host_mdm_android_profiles AS cur
      SET operation_type = 'remove', status = NULL, detail = NULL, request_fail_count = 0, updated_at = ${now}
      WHERE cur.operation_type = 'install' AND ${profileFilter('cur.profile_uuid', scope)}
        AND EXISTS (SELECT 1 FROM ${managedHosts} WHERE h.uuid = cur.host_uuid AND ${hostFilter(scope)})
        AND NOT EXISTS (SELECT 1 FROM hosts h JOIN mdm_android_configuration_profiles p
          ON p.profile_uuid = cur.profile_uuid WHERE h.uuid = cur.host_uuid AND ${applies})`.execute(db);
  }

  /**
   * Every profile row of these hosts back to "not yet sent" (a device that enrolled again starts
   * on the enrollment policy and needs its own policy and the move to it).
   */
  async resetHosts(hostIds: number[], now: string, db: Db = this.db): Promise<void> {
    if (hostIds.length === 0) return;
    await db
      .updateTable('host_mdm_android_profiles')
      .set({ status: null, detail: null, request_fail_count: 0, can_reverify: 0, updated_at: now })
      .where('host_uuid', 'in', (eb) => eb.selectFrom('hosts').select('uuid').where('id', 'in', hostIds))
      .execute();
  }

  // ---- the manager's reads ----

  /** The next window of host ids after `after` (at most `size` hosts); undefined at the end. */
  async nextHostWindow(after: number, size: number): Promise<{ lo: number; hi: number } | undefined> {
    const rows = await this.db
      .selectFrom('hosts')
      .select('id')
      .where('id', '>', after)
      .where('platform', '=', 'android')
      .orderBy('id')
      .limit(size)
      .execute();
    if (rows.length === 0) return undefined;
    return { lo: after, hi: Number(rows[rows.length - 1].id) };
  }

  /**
   * Managed hosts of the window whose policy must be (re)built: a row marked "not yet sent", a
   * profile the host should have and has not (or has as an older upload), or an install row whose
   * profile no longer applies. One query for the window.
   */
  async dirtyHosts(window: { lo: number; hi: number }): Promise<DirtyHost[]> {
    const res = await sql<DirtyHost>`
      SELECT h.id AS host_id, h.uuid AS host_uuid, ad.device_id AS device_id, ad.applied_policy_id AS applied_policy_id
      FROM ${managedHosts}
      WHERE ${hostFilter({ window })} AND (
        EXISTS (SELECT 1 FROM host_mdm_android_profiles r
          WHERE r.host_uuid = h.uuid AND (r.status IS NULL OR r.status = 'pending'))
        OR EXISTS (SELECT 1 FROM mdm_android_configuration_profiles p
          LEFT JOIN host_mdm_android_profiles cur ON cur.host_uuid = h.uuid AND cur.profile_uuid = p.profile_uuid
          WHERE ${sameTeam} AND (cur.host_uuid IS NULL OR cur.operation_type <> 'install' OR cur.updated_at < p.uploaded_at)
            AND ${applies})
        OR EXISTS (SELECT 1 FROM host_mdm_android_profiles cur
          LEFT JOIN mdm_android_configuration_profiles p ON p.profile_uuid = cur.profile_uuid
          WHERE cur.host_uuid = h.uuid AND cur.operation_type = 'install'
            AND NOT (p.profile_uuid IS NOT NULL AND ${applies}))
      )
      ORDER BY h.id`.execute(this.db);
    return res.rows.map((r) => ({ ...r, host_id: Number(r.host_id) }));
  }

  /** (host, profile) pairs the hosts should have now: team and label targeting, in one query. */
  async desiredPairs(hostIds: number[]): Promise<{ host_uuid: string; profile_uuid: string }[]> {
    const out: { host_uuid: string; profile_uuid: string }[] = [];
    for (let i = 0; i < hostIds.length; i += CHUNK) {
      const res = await sql<{ host_uuid: string; profile_uuid: string }>`
        SELECT h.uuid AS host_uuid, p.profile_uuid AS profile_uuid
        FROM hosts h
        JOIN mdm_android_configuration_profiles p ON ${sameTeam}
        LEFT JOIN host_mdm_android_profiles cur ON cur.host_uuid = h.uuid AND cur.profile_uuid = p.profile_uuid
        WHERE ${hostFilter({ hostIds: hostIds.slice(i, i + CHUNK) })} AND ${applies}`.execute(this.db);
      out.push(...res.rows);
    }
    return out;
  }

  async rowsOfHosts(hostUuids: string[], db: Db = this.db): Promise<HostAndroidProfileRow[]> {
    const out: HostAndroidProfileRow[] = [];
    for (let i = 0; i < hostUuids.length; i += CHUNK) {
      out.push(
        ...(await db
          .selectFrom('host_mdm_android_profiles')
          .selectAll()
          .where('host_uuid', 'in', hostUuids.slice(i, i + CHUNK))
          .execute()),
      );
    }
    return out;
  }

  /** Pairs of these hosts written after `since` (by an admin's change while the manager worked). */
  async changedSince(hostUuids: string[], since: string, db: Db): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < hostUuids.length; i += CHUNK) {
      const rows = await db
        .selectFrom('host_mdm_android_profiles')
        .select(['host_uuid', 'profile_uuid'])
        .where('host_uuid', 'in', hostUuids.slice(i, i + CHUNK))
        .where('updated_at', '>=', since)
        .execute();
      for (const r of rows) out.add(pairKey(r.host_uuid, r.profile_uuid));
    }
    return out;
  }

  // ---- the manager's and the verifier's writes ----

  async upsertHostRows(rows: HostAndroidProfileWrite[], db: Db = this.db): Promise<void> {
    await upsertStatusRows(db, 'host_mdm_android_profiles', 'profile_uuid', rows);
  }

  async deleteHostRows(
    pairs: { host_uuid: string; profile_uuid: string }[],
    db: Db = this.db,
  ): Promise<void> {
    for (let i = 0; i < pairs.length; i += CHUNK) {
      const part = pairs.slice(i, i + CHUNK);
      await db
        .deleteFrom('host_mdm_android_profiles')
        .where((eb) =>
          eb.or(
            part.map((p) =>
              eb.and([eb('host_uuid', '=', p.host_uuid), eb('profile_uuid', '=', p.profile_uuid)]),
            ),
          ),
        )
        .execute();
    }
  }

  async insertRequests(rows: PolicyRequestWrite[], now: string, db: Db = this.db): Promise<void> {
    for (let i = 0; i < rows.length; i += CHUNK) {
      await db
        .insertInto('android_policy_requests')
        .values(rows.slice(i, i + CHUNK).map((r) => ({ ...r, created_at: now, updated_at: now })))
        .execute();
    }
  }

  // ---- verification ----

  /**
   * The host's rows a status report for `version` of its policy settles: installs sent in that
   * version or an earlier one and still waiting (verifying, pending) or failed on the device
   * (can_reverify), and removals sent by then.
   */
  async rowsToVerify(hostUuid: string, version: number): Promise<HostAndroidProfileRow[]> {
    return this.db
      .selectFrom('host_mdm_android_profiles')
      .selectAll()
      .where('host_uuid', '=', hostUuid)
      .where('included_in_policy_version', 'is not', null)
      .where('included_in_policy_version', '<=', version)
      .where((eb) =>
        eb.or([
          eb('status', 'in', ['verifying', 'pending']),
          eb.and([eb('status', '=', 'failed'), eb('can_reverify', '=', 1)]),
        ]),
      )
      .execute();
  }

  /** The successful policies.patch that produced `version` of the host's policy, if recorded. */
  async requestForVersion(hostUuid: string, version: number): Promise<PolicyRequestRow | undefined> {
    return this.db
      .selectFrom('android_policy_requests')
      .selectAll()
      .where('policy_id', '=', hostUuid)
      .where('request_name', '=', 'policies.patch')
      .where('policy_version', '=', version)
      .executeTakeFirst();
  }

  async requestsByUuid(uuids: string[]): Promise<PolicyRequestRow[]> {
    if (uuids.length === 0) return [];
    return this.db
      .selectFrom('android_policy_requests')
      .selectAll()
      .where('request_uuid', 'in', uuids)
      .execute();
  }

  async markRequestApplied(requestUuid: string, version: number, now: string): Promise<void> {
    await this.db
      .updateTable('android_policy_requests')
      .set({ applied_policy_version: version, updated_at: now })
      .where('request_uuid', '=', requestUuid)
      .execute();
  }

  /**
   * Settles verified or failed rows, each only if it is still what the report answers (sent in
   * `version` or earlier, not re-marked since): a newer decision is never overwritten.
   */
  async settle(
    hostUuid: string,
    profileUuids: string[],
    version: number,
    to: { status: 'verified' | 'failed'; detail: string | null; can_reverify: number },
    now: string,
  ): Promise<void> {
    if (profileUuids.length === 0) return;
    await this.db
      .updateTable('host_mdm_android_profiles')
      .set({ ...to, updated_at: now })
      .where('host_uuid', '=', hostUuid)
      .where('profile_uuid', 'in', profileUuids)
      .where('operation_type', '=', 'install')
      .where('included_in_policy_version', '<=', version)
      .where((eb) =>
        eb.or([
          eb('status', 'in', ['verifying', 'pending']),
          eb.and([eb('status', '=', 'failed'), eb('can_reverify', '=', 1)]),
        ]),
      )
      .execute();
  }

  /** Removals the device has applied (its policy no longer has them): the rows go. */
  async deleteAppliedRemovals(hostUuid: string, profileUuids: string[], version: number): Promise<void> {
    if (profileUuids.length === 0) return;
    await this.db
      .deleteFrom('host_mdm_android_profiles')
      .where('host_uuid', '=', hostUuid)
      .where('profile_uuid', 'in', profileUuids)
      .where('operation_type', '=', 'remove')
      .where('included_in_policy_version', '<=', version)
      .where('status', 'is not', null)
      .execute();
  }

  // ---- reads for the API ----

  /** Status rows of one host, as the host details page lists them. */
  async rowsOfHost(hostUuid: string) {
    const rows = await this.db
      .selectFrom('host_mdm_android_profiles')
      .select(['profile_uuid as uuid', 'profile_name as name', 'status', 'operation_type', 'detail'])
      .where('host_uuid', '=', hostUuid)
      .orderBy('profile_name')
      .execute();
    return rows.map((r) => ({ ...r, scope: '' }));
  }

  /** Back to "decided, not yet sent" for one host's install row; returns how many rows. */
  async resetForResend(hostUuid: string, profileUuid: string, now: string): Promise<number> {
    const res = await this.db
      .updateTable('host_mdm_android_profiles')
      .set({ status: null, detail: null, request_fail_count: 0, can_reverify: 0, updated_at: now })
      .where('host_uuid', '=', hostUuid)
      .where('profile_uuid', '=', profileUuid)
      .where('operation_type', '=', 'install')
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async deleteRowsOfHosts(hostUuids: string[]): Promise<void> {
    for (let i = 0; i < hostUuids.length; i += CHUNK) {
      await this.db
        .deleteFrom('host_mdm_android_profiles')
        .where('host_uuid', 'in', hostUuids.slice(i, i + CHUNK))
        .execute();
    }
  }

  /** Hosts of a team per OS-settings status of their Android profiles (install rows; each host once). */
  async summary(teamId: number | null): Promise<StatusCounts> {
    return summaryOfStatusRows(
      this.db,
      sql`(SELECT host_uuid, status FROM host_mdm_android_profiles WHERE operation_type = 'install')`,
      teamId,
    );
  }

  async profileStatus(uuid: string): Promise<StatusCounts> {
    const rows = await this.db
      .selectFrom('host_mdm_android_profiles')
      .where('profile_uuid', '=', uuid)
      .where('operation_type', '=', 'install')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    return countsByStatus(rows);
  }
}

export const pairKey = (hostUuid: string, profileUuid: string) => `${hostUuid}\u0000${profileUuid}`;
