import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { HostProfileTable } from './retireHostRows.js';
import type { TablesWithColumns } from './tables.js';

type Db = Kysely<DB> | Transaction<DB>;

const CHUNK = 500;

/**
 * Per-host status SQL that Apple (profiles, declarations) and Windows profiles share: their status
 * tables have the same status columns, only table and key names differ.
 */

/** Host status counts in Fleet's summary shape. */
export interface StatusCounts {
  verified: number;
  verifying: number;
  pending: number;
  failed: number;
}

/** Verification check tables (one row per host: the last read-back command and its answer). */
export type HostCheckTable = TablesWithColumns<'host_uuid' | 'command_uuid' | 'requested_at' | 'answered_at'>;

/** Writes status rows keyed (host, definition) in chunks; a conflict updates all but the key and created_at. */
export async function upsertStatusRows(
  db: Db,
  table: string,
  definitionKey: string,
  rows: Record<string, unknown>[],
): Promise<void> {
  const update = Object.keys(rows[0] ?? {}).filter(
    (c) => c !== 'created_at' && c !== 'host_uuid' && c !== definitionKey,
  );
  for (let i = 0; i < rows.length; i += CHUNK) {
    await upsert(db, table, rows.slice(i, i + CHUNK), ['host_uuid', definitionKey], update);
  }
}

/** Resend: the host's install row goes back to "decided, not yet queued" so the manager sends it again. */
export async function resetInstallRowForResend(
  db: Db,
  table: HostProfileTable,
  hostUuid: string,
  profileUuid: string,
  now: string,
): Promise<number> {
  const res = await db
    .updateTable(table)
    .set({ status: null, detail: null, retries: 0, updated_at: now })
    .where('host_uuid', '=', hostUuid)
    .where('profile_uuid', '=', profileUuid)
    .where('operation_type', '=', 'install')
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/**
 * Hosts of a team per OS-settings status (each host counted once): failed if any row failed,
 * else pending if any row is pending or NULL, else verifying if any row is, else verified.
 * `statusRows` is a table or subquery with host_uuid and status columns.
 */
export async function summaryOfStatusRows(
  db: Db,
  statusRows: RawBuilder<unknown>,
  teamId: number | null,
): Promise<StatusCounts> {
  const teamFilter = teamId === null ? sql`h.team_id IS NULL` : sql`h.team_id = ${teamId}`;
  const res = await sql<{ bucket: string; n: number | string }>`
      SELECT bucket, COUNT(*) AS n FROM (
        SELECT s.host_uuid,
          CASE
            WHEN SUM(CASE WHEN s.status = 'failed' THEN 1 ELSE 0 END) > 0 THEN 'failed'
            WHEN SUM(CASE WHEN s.status IS NULL OR s.status = 'pending' THEN 1 ELSE 0 END) > 0 THEN 'pending'
            WHEN SUM(CASE WHEN s.status = 'verifying' THEN 1 ELSE 0 END) > 0 THEN 'verifying'
            ELSE 'verified'
          END AS bucket
        FROM ${statusRows} s
        JOIN hosts h ON h.uuid = s.host_uuid
        WHERE ${teamFilter}
        GROUP BY s.host_uuid
      ) per_host
      GROUP BY bucket`.execute(db);
  const out: StatusCounts = { verified: 0, verifying: 0, pending: 0, failed: 0 };
  for (const r of res.rows) out[r.bucket as keyof StatusCounts] = Number(r.n);
  return out;
}

/** Status counts from (status, n) groups of one definition's rows; NULL counts as pending. */
export function countsByStatus(rows: { status: string | null; n: number | string }[]): StatusCounts {
  const out: StatusCounts = { verified: 0, verifying: 0, pending: 0, failed: 0 };
  for (const r of rows) {
    const k = (r.status ?? 'pending') as keyof StatusCounts;
    if (k in out) out[k] += Number(r.n);
  }
  return out;
}

/** A read-back command was sent to these hosts: their check rows now wait for its answer. */
export async function recordCheckRequests(
  db: Db,
  table: HostCheckTable,
  hostUuids: string[],
  commandUuid: string,
  now: string,
): Promise<void> {
  const rows = hostUuids.map((h) => ({
    host_uuid: h,
    command_uuid: commandUuid,
    requested_at: now,
    answered_at: null,
  }));
  for (let i = 0; i < rows.length; i += CHUNK) {
    await upsert(
      db,
      table,
      rows.slice(i, i + CHUNK),
      ['host_uuid'],
      ['command_uuid', 'requested_at', 'answered_at'],
    );
  }
}

/** The host's check row for this read-back command, if it is still the latest. */
export async function checkRowFor(db: Db, table: HostCheckTable, hostUuid: string, commandUuid: string) {
  return db
    .selectFrom(table)
    .selectAll()
    .where('host_uuid', '=', hostUuid)
    .where('command_uuid', '=', commandUuid)
    .executeTakeFirst();
}

export async function markCheckRowAnswered(
  db: Db,
  table: HostCheckTable,
  hostUuid: string,
  commandUuid: string,
  now: string,
): Promise<void> {
  await db
    .updateTable(table)
    .set({ answered_at: now })
    .where('host_uuid', '=', hostUuid)
    .where('command_uuid', '=', commandUuid)
    .execute();
}
