import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { dialectOf } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { appliesToHost, sameTeam, type EntityTables } from './targeting.js';

type Db = Kysely<DB> | Transaction<DB>;

/** Which hosts (and optionally which definitions) a reconcile query looks at. */
export interface ReconcileScope {
  /** Host ids in (lo, hi]: one window of the cron's cursor walk. */
  window?: { lo: number; hi: number };
  hostIds?: number[];
  defUuids?: string[];
  /**
   * Definitions that have label rows, read just before the query. When given, definitions not in
   * it skip the label predicate (most profiles have no labels, and the per-pair label subqueries
   * are the expensive part of every query). A label added between that read and the query is
   * settled by the next pass.
   */
  labeled?: string[];
}

/** A (host, definition) pair the host should have but does not have as it is now. */
export interface InstallCandidate {
  host_id: number;
  host_uuid: string;
  platform: string;
  enrollment_id: string;
  def_uuid: string;
  identifier: string;
  name: string;
  content: string;
  scope: string;
  secrets_updated_at: string | null;
  cur_exists: number;
  cur_status: string | null;
  cur_op: string | null;
  cur_content: string | null;
  cur_command: string | null;
  cur_retries: number | null;
}

/** A current host row whose definition no longer applies (or a removal not yet sent). */
export interface RemoveCandidate {
  host_id: number;
  host_uuid: string;
  platform: string;
  enrollment_id: string;
  def_uuid: string;
  identifier: string;
  cur_status: string | null;
  cur_op: string;
  /** The host row's scope (System / User): where a removal has to be sent. */
  cur_scope: string;
  cur_command: string | null;
  cur_ignore_error: number | null;
}

function hostFilter(scope: ReconcileScope): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (scope.window) parts.push(sql`h.id > ${scope.window.lo} AND h.id <= ${scope.window.hi}`);
  if (scope.hostIds)
    parts.push(scope.hostIds.length ? sql`h.id IN (${sql.join(scope.hostIds)})` : sql`1 = 0`);
  return parts.length ? sql.join(parts, sql` AND `) : sql`1 = 1`;
}

function defFilter(t: EntityTables, alias: string, key: string, scope: ReconcileScope): RawBuilder<unknown> {
  if (!scope.defUuids) return sql`1 = 1`;
  if (scope.defUuids.length === 0) return sql`1 = 0`;
  return sql`${sql.ref(`${alias}.${key}`)} IN (${sql.join(scope.defUuids)})`;
}

/**
 * Host id lists go to SQL in chunks: MariaDB turns an IN list of 1,000 values or more into a
 * derived table and may then drive the join from the enrollments table instead of the hosts.
 */
const HOST_ID_CHUNK = 900;

async function byHostChunks<T>(
  scope: ReconcileScope,
  run: (s: ReconcileScope) => Promise<T[]>,
): Promise<T[]> {
  if (!scope.hostIds || scope.hostIds.length <= HOST_ID_CHUNK) return run(scope);
  const out: T[] = [];
  for (let i = 0; i < scope.hostIds.length; i += HOST_ID_CHUNK) {
    out.push(...(await run({ ...scope, hostIds: scope.hostIds.slice(i, i + HOST_ID_CHUNK) })));
  }
  return out;
}

/** Does the definition apply to the host? The label predicate only for labeled definitions. */
function targeting(t: EntityTables, scope: ReconcileScope): RawBuilder<unknown> {
  const labels = !scope.labeled
    ? appliesToHost(t)
    : scope.labeled.length === 0
      ? sql`1 = 1`
      : sql`(${sql.ref(`p.${t.defKey}`)} NOT IN (${sql.join(scope.labeled)}) OR ${appliesToHost(t)})`;
  return t.pairFilter ? sql`(${t.pairFilter} AND ${labels})` : labels;
}

const platformFilter = (t: EntityTables) => sql`h.platform IN (${sql.join(t.platforms)})`;

/** Does the host table carry per-row commands (profiles) or not (declarations)? */
const hasCommandColumns = (t: EntityTables) => t.commandColumns !== false;

/** Rows inserted in the status table's primary-key order, so the inserts walk the index in order. */
function statusKeyOrder(t: EntityTables): RawBuilder<unknown> {
  const def = sql.ref(`p.${t.defKey}`);
  return t.statusKeyOrder === 'definition_host' ? sql`ORDER BY ${def}, h.uuid` : sql`ORDER BY h.uuid, ${def}`;
}

/** A secret the definition uses changed after the host row was queued: its content changed too. */
const secretsNewer = sql`(p.secrets_updated_at IS NOT NULL AND (cur.secrets_updated_at IS NULL OR cur.secrets_updated_at < p.secrets_updated_at))`;

/** FROM and WHERE of the install candidates: desired pairs missing, edited, re-arriving or marked NULL. */
function installSource(t: EntityTables, scope: ReconcileScope): RawBuilder<unknown> {
  const p = (c: string) => sql.ref(`p.${c}`);
  const cur = (c: string) => sql.ref(`cur.${c}`);
  return sql`FROM hosts h
      ${t.enrollmentJoin}
      JOIN ${sql.table(t.defTable)} p ON ${sameTeam}
      LEFT JOIN ${sql.table(t.hostTable)} cur ON cur.host_uuid = h.uuid AND ${cur(t.hostKey)} = ${p(t.defKey)}
      WHERE ${platformFilter(t)} AND ${hostFilter(scope)} AND ${defFilter(t, 'p', t.defKey, scope)}
        AND (cur.host_uuid IS NULL OR cur.operation_type <> 'install' OR cur.status IS NULL
          OR ${cur(t.contentCol)} <> ${p(t.contentCol)} OR ${secretsNewer})
        AND ${targeting(t, scope)}`;
}

/**
 * The set algebra of reconciliation: desired pairs (team + label targeting) against current host
 * status rows, in SQL, one bounded scope at a time. Generic over Apple profiles and declarations
 * (and any other entity described by EntityTables).
 */
export class ReconcileStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** Desired pairs that need (re)delivery: missing, edited, coming back from a removal, or marked NULL. */
  async installCandidates(
    t: EntityTables,
    scope: ReconcileScope,
    db: Db = this.db,
  ): Promise<InstallCandidate[]> {
    return byHostChunks(scope, (s) => this.installCandidatesOnce(t, s, db));
  }

  /** Current install rows that are no longer desired, plus removals marked but not yet sent. */
  async removeCandidates(
    t: EntityTables,
    scope: ReconcileScope,
    db: Db = this.db,
  ): Promise<RemoveCandidate[]> {
    return byHostChunks(scope, (s) => this.removeCandidatesOnce(t, s, db));
  }

  private async installCandidatesOnce(
    t: EntityTables,
    scope: ReconcileScope,
    db: Db,
  ): Promise<InstallCandidate[]> {
    const p = (c: string) => sql.ref(`p.${c}`);
    const cur = (c: string) => sql.ref(`cur.${c}`);
    const cmdCols = hasCommandColumns(t)
      ? sql`cur.command_uuid AS cur_command, cur.retries AS cur_retries`
      : sql`NULL AS cur_command, NULL AS cur_retries`;
    const res = await sql<InstallCandidate>`
      SELECT h.id AS host_id, h.uuid AS host_uuid, h.platform AS platform, ne.id AS enrollment_id,
        ${p(t.defKey)} AS def_uuid, ${p(t.defIdentifierCol)} AS identifier, p.name AS name,
        ${p(t.contentCol)} AS content, p.scope AS scope, p.secrets_updated_at AS secrets_updated_at,
        CASE WHEN cur.host_uuid IS NULL THEN 0 ELSE 1 END AS cur_exists,
        cur.status AS cur_status, cur.operation_type AS cur_op, ${cur(t.contentCol)} AS cur_content, ${cmdCols}
      ${installSource(t, scope)}`.execute(db);
    return res.rows.map((r) => ({ ...r, host_id: Number(r.host_id), cur_exists: Number(r.cur_exists) }));
  }

  /**
   * The bulk form of "queue these installs": for every install candidate in scope of the given
   * definitions (the same pairs installCandidates returns), writes the status row as pending with
   * the definition's command, in one INSERT ... SELECT per host chunk, in primary-key order. Retries survive only a re-send of the same content, as in the row-by-row path.
   * Only for entities whose host rows carry commands (profiles).
   */
  async writeInstallsQueued(
    t: EntityTables,
    scope: ReconcileScope,
    commandOf: Map<string, string>,
    now: string,
    db: Db,
  ): Promise<void> {
    if (commandOf.size === 0) return;
    const p = (c: string) => sql.ref(`p.${c}`);
    const mysql = dialectOf(db) === 'mysql';
    const ins = (c: string) => (mysql ? sql`VALUES(${sql.ref(c)})` : sql.ref(`excluded.${c}`));
    // The existing row's columns, qualified (the SELECT's `cur` has the same names). SQLite wants
    // the assigned column unqualified.
    const own = (c: string) => sql.ref(`${t.hostTable}.${c}`);
    const target = (c: string) => (mysql ? own(c) : sql.ref(c));
    const command = sql`CASE ${p(t.defKey)} ${sql.join(
      [...commandOf].map(([def, cmd]) => sql`WHEN ${def} THEN ${cmd}`),
      sql` `,
    )} END`;
    const copied = [
      t.hostIdentifierCol,
      t.hostNameCol,
      'status',
      'operation_type',
      'detail',
      'command_uuid',
      t.contentCol,
      'ignore_error',
      'scope',
      'secrets_updated_at',
      'updated_at',
    ];
    // MySQL assigns left to right: retries must read operation_type and the old content first.
    const set = sql.join(
      [
        sql`${target('retries')} = CASE WHEN ${own('operation_type')} = 'install' AND ${own(t.contentCol)} = ${ins(t.contentCol)} THEN ${own('retries')} ELSE 0 END`,
        ...copied.map((c) => sql`${target(c)} = ${ins(c)}`),
      ],
      sql`, `,
    );
    const onConflict = mysql
      ? sql`ON DUPLICATE KEY UPDATE ${set}`
      : sql`ON CONFLICT (host_uuid, ${sql.ref(t.hostKey)}) DO UPDATE SET ${set}`;
    const defs = { ...scope, defUuids: [...commandOf.keys()] };
    await byHostChunks(defs, async (s) => {
      await sql`
        INSERT INTO ${sql.table(t.hostTable)}
          (host_uuid, ${sql.ref(t.hostKey)}, ${sql.ref(t.hostIdentifierCol)}, ${sql.ref(t.hostNameCol)}, status, operation_type, detail,
           command_uuid, ${sql.ref(t.contentCol)}, retries, ignore_error, scope, secrets_updated_at, created_at, updated_at)
        SELECT h.uuid, ${p(t.defKey)}, ${p(t.defIdentifierCol)}, p.name, 'pending', 'install', NULL,
          ${command}, ${p(t.contentCol)}, 0, 0, p.scope, p.secrets_updated_at, ${now}, ${now}
        ${installSource(t, s)}
        ${statusKeyOrder(t)}
        ${onConflict}`.execute(db);
      return [];
    });
  }

  /**
   * SELECT of (enrollment id, command) for the status rows of the scope's hosts that point at the
   * given commands (for enqueueMany). Driven from the scope's hosts (a host id range or short id
   * lists, joined by UNION ALL) so the plan reads only the rows just written.
   */
  queueTargetsOf(
    t: EntityTables,
    scope: ReconcileScope,
    commandOf: Map<string, string>,
  ): RawBuilder<unknown> {
    const ids = scope.hostIds;
    const parts =
      ids && ids.length > HOST_ID_CHUNK
        ? Array.from({ length: Math.ceil(ids.length / HOST_ID_CHUNK) }, (_, i) => ({
            ...scope,
            hostIds: ids.slice(i * HOST_ID_CHUNK, (i + 1) * HOST_ID_CHUNK),
          }))
        : [scope];
    const selects = parts.map(
      (s) => sql`SELECT ne.id AS id, cur.command_uuid AS command_uuid
      FROM hosts h
      ${t.enrollmentJoin}
      JOIN ${sql.table(t.hostTable)} cur ON cur.host_uuid = h.uuid
      WHERE ${platformFilter(t)} AND ${hostFilter(s)} AND ${sql.ref(`cur.${t.hostKey}`)} IN (${sql.join([...commandOf.keys()])})
        AND cur.command_uuid IN (${sql.join([...commandOf.values()])})`,
    );
    return sql.join(selects, sql` UNION ALL `);
  }

  private async removeCandidatesOnce(
    t: EntityTables,
    scope: ReconcileScope,
    db: Db,
  ): Promise<RemoveCandidate[]> {
    const p = (c: string) => sql.ref(`p.${c}`);
    const cur = (c: string) => sql.ref(`cur.${c}`);
    const cmdCols = hasCommandColumns(t)
      ? sql`cur.command_uuid AS cur_command, cur.ignore_error AS cur_ignore_error`
      : sql`NULL AS cur_command, NULL AS cur_ignore_error`;
    const res = await sql<RemoveCandidate>`
      SELECT h.id AS host_id, h.uuid AS host_uuid, h.platform AS platform, ne.id AS enrollment_id,
        ${cur(t.hostKey)} AS def_uuid, ${cur(t.hostIdentifierCol)} AS identifier,
        cur.status AS cur_status, cur.operation_type AS cur_op, cur.scope AS cur_scope, ${cmdCols}
      FROM ${sql.table(t.hostTable)} cur
      JOIN hosts h ON h.uuid = cur.host_uuid
      ${t.enrollmentJoin}
      LEFT JOIN ${sql.table(t.defTable)} p ON ${p(t.defKey)} = ${cur(t.hostKey)}
      WHERE ${platformFilter(t)} AND ${hostFilter(scope)} AND ${defFilter(t, 'cur', t.hostKey, scope)}
        AND ((cur.operation_type = 'remove' AND cur.status IS NULL)
          OR (cur.operation_type = 'install'
            AND NOT (${p(t.defKey)} IS NOT NULL AND ${sameTeam} AND ${targeting(t, scope)})))`.execute(db);
    return res.rows.map((r) => ({ ...r, host_id: Number(r.host_id) }));
  }

  /**
   * Immediate pending: writes status NULL ("decided, not yet queued") for every pair in scope that
   * needs (re)delivery, in one INSERT ... SELECT. Existing rows keep their command_uuid so the
   * manager can supersede the command they point at.
   */
  async markInstallsPending(
    t: EntityTables,
    scope: ReconcileScope,
    now: string,
    db: Db = this.db,
  ): Promise<void> {
    const p = (c: string) => sql.ref(`p.${c}`);
    const cur = (c: string) => sql.ref(`cur.${c}`);
    const mysql = dialectOf(db) === 'mysql';
    const onConflict = mysql
      ? sql`ON DUPLICATE KEY UPDATE status = NULL, operation_type = 'install', updated_at = VALUES(updated_at)`
      : sql`ON CONFLICT (host_uuid, ${sql.ref(t.hostKey)}) DO UPDATE SET status = NULL, operation_type = 'install', updated_at = excluded.updated_at`;
    await sql`
      INSERT INTO ${sql.table(t.hostTable)}
        (host_uuid, ${sql.ref(t.hostKey)}, ${sql.ref(t.hostIdentifierCol)}, ${sql.ref(t.hostNameCol)}, status, operation_type, scope, created_at, updated_at)
      SELECT h.uuid, ${p(t.defKey)}, ${p(t.defIdentifierCol)}, p.name, NULL, 'install', p.scope, ${now}, ${now}
      FROM hosts h
      ${t.enrollmentJoin}
      JOIN ${sql.table(t.defTable)} p ON ${sameTeam}
      LEFT JOIN ${sql.table(t.hostTable)} cur ON cur.host_uuid = h.uuid AND ${cur(t.hostKey)} = ${p(t.defKey)}
      WHERE ${platformFilter(t)} AND ${hostFilter(scope)} AND ${defFilter(t, 'p', t.defKey, scope)}
        AND (cur.host_uuid IS NULL OR cur.operation_type <> 'install'
          OR (cur.status IS NOT NULL AND (${cur(t.contentCol)} <> ${p(t.contentCol)} OR ${secretsNewer})))
        AND ${targeting(t, scope)}
      ${statusKeyOrder(t)}
      ${onConflict}`.execute(db);
  }

  /** Immediate pending for removals: install rows in scope that no longer apply become remove/NULL. */
  async markRemovalsPending(
    t: EntityTables,
    scope: ReconcileScope,
    now: string,
    db: Db = this.db,
  ): Promise<void> {
    const p = (c: string) => sql.ref(`p.${c}`);
    const cur = (c: string) => sql.ref(`cur.${c}`);
    // A removal of something that may never have arrived should swallow "profile not found".
    // (MySQL assigns left to right, so ignore_error must read status before it is cleared.)
    const ignoreError = hasCommandColumns(t)
      ? sql`ignore_error = CASE WHEN status IS NULL OR status IN ('pending', 'failed') THEN 1 ELSE 0 END,`
      : sql``;
    await sql`
      UPDATE ${sql.table(t.hostTable)} AS cur
      SET ${ignoreError} operation_type = 'remove', status = NULL, updated_at = ${now}
      WHERE cur.operation_type = 'install' AND ${defFilter(t, 'cur', t.hostKey, scope)}
        AND EXISTS (SELECT 1 FROM hosts h ${t.enrollmentJoin}
          WHERE h.uuid = cur.host_uuid AND ${platformFilter(t)} AND ${hostFilter(scope)})
        AND NOT EXISTS (SELECT 1 FROM hosts h JOIN ${sql.table(t.defTable)} p ON ${p(t.defKey)} = ${cur(t.hostKey)}
          WHERE h.uuid = cur.host_uuid AND ${sameTeam} AND ${targeting(t, scope)})`.execute(db);
  }

  /** Definitions with at least one label row (see ReconcileScope.labeled). */
  async labeledDefinitions(t: EntityTables): Promise<string[]> {
    const res = await sql<{ k: string }>`
      SELECT DISTINCT ${sql.ref(t.labelKey)} AS k FROM ${sql.table(t.labelTable)} WHERE ${sql.ref(t.labelKey)} IS NOT NULL`.execute(
      this.db,
    );
    return res.rows.map((r) => r.k);
  }

  /**
   * Definitions with rows marked "decided, not yet queued" (status NULL). One loose scan of the
   * (definition, status) index: as many rows read as there are definitions.
   */
  async dirtyDefinitions(t: EntityTables): Promise<string[]> {
    const res = await sql<{ k: string }>`
      SELECT ${sql.ref(t.hostKey)} AS k FROM ${sql.table(t.hostTable)} WHERE status IS NULL GROUP BY ${sql.ref(t.hostKey)}`.execute(
      this.db,
    );
    return res.rows.map((r) => r.k);
  }

  /** Host uuids (after `afterUuid`, in order) with a status-NULL row of one definition. */
  async dirtyHostUuids(
    t: EntityTables,
    defUuid: string,
    afterUuid: string,
    limit: number,
  ): Promise<string[]> {
    const res = await sql<{ host_uuid: string }>`
      SELECT cur.host_uuid AS host_uuid FROM ${sql.table(t.hostTable)} cur
      WHERE ${sql.ref(`cur.${t.hostKey}`)} = ${defUuid} AND cur.status IS NULL AND cur.host_uuid > ${afterUuid}
      ORDER BY cur.host_uuid LIMIT ${limit}`.execute(this.db);
    return res.rows.map((r) => r.host_uuid);
  }

  async hostIdsOf(uuids: string[]): Promise<number[]> {
    if (uuids.length === 0) return [];
    const rows = await this.db.selectFrom('hosts').select('id').where('uuid', 'in', uuids).execute();
    return rows.map((r) => Number(r.id));
  }

  /**
   * Live definitions sharing an identifier with the given ones (so a replacement on the same
   * identifier is seen together with its predecessor and no RemoveProfile is sent for it).
   */
  async sameIdentifierDefinitions(t: EntityTables, defUuids: string[]): Promise<string[]> {
    if (defUuids.length === 0) return [];
    const idents = await sql<{ i: string }>`
      SELECT DISTINCT ${sql.ref(t.defIdentifierCol)} AS i FROM ${sql.table(t.defTable)} WHERE ${sql.ref(t.defKey)} IN (${sql.join(defUuids)})`.execute(
      this.db,
    );
    if (idents.rows.length === 0) return [];
    const res = await sql<{ k: string }>`
      SELECT ${sql.ref(t.defKey)} AS k FROM ${sql.table(t.defTable)} WHERE ${sql.ref(t.defIdentifierCol)} IN (${sql.join(idents.rows.map((r) => r.i))})`.execute(
      this.db,
    );
    return res.rows.map((r) => r.k);
  }

  /** The next window of host ids after `after`, at most `size` hosts; undefined at the end. */
  async nextHostWindow(after: number, size: number): Promise<{ lo: number; hi: number } | undefined> {
    const rows = await this.db
      .selectFrom('hosts')
      .select('id')
      .where('id', '>', after)
      .orderBy('id')
      .limit(size)
      .execute();
    if (rows.length === 0) return undefined;
    return { lo: after, hi: Number(rows[rows.length - 1].id) };
  }

  async getCursor(name: string): Promise<number> {
    const row = await this.getState(name);
    return row ? Number(row.value) : 0;
  }

  async getState(name: string): Promise<{ value: string; updated_at: string } | undefined> {
    return this.db
      .selectFrom('mdm_profile_manager_state')
      .select(['value', 'updated_at'])
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async setCursor(name: string, value: number, now: string): Promise<void> {
    await this.setState(name, String(value), now);
  }

  async setState(name: string, value: string, now: string): Promise<void> {
    const updated = await this.db
      .updateTable('mdm_profile_manager_state')
      .set({ value, updated_at: now })
      .where('name', '=', name)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) {
      await this.db
        .insertInto('mdm_profile_manager_state')
        .values({ name, value, updated_at: now })
        .execute()
        .catch(async () => {
          await this.db
            .updateTable('mdm_profile_manager_state')
            .set({ value, updated_at: now })
            .where('name', '=', name)
            .execute();
        });
    }
  }
}
