import { Kysely, MysqlAdapter, sql, type RawBuilder, type Transaction } from 'kysely';

/**
 * Everything that differs between MySQL/MariaDB and SQLite lives here: time values, upsert,
 * insert-ignore, row locks and error classification. Stores call these helpers and stay portable.
 */
export type DialectName = 'mysql' | 'sqlite';

export function dialectOf(db: Kysely<any> | Transaction<any>): DialectName {
  return db.getExecutor().adapter instanceof MysqlAdapter ? 'mysql' : 'sqlite';
}

/**
 * Times are stored as UTC text `YYYY-MM-DD HH:MM:SS.mmm` on both dialects (MySQL DATETIME(3) read
 * back with dateStrings), so they compare correctly as strings and in SQL.
 */
export function toDbTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

export function dbNow(offsetMs = 0): string {
  return toDbTime(new Date(Date.now() + offsetMs));
}

export function fromDbTime(value: string | Date | null | undefined): Date | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value;
  return new Date(value.replace(' ', 'T') + (value.endsWith('Z') ? '' : 'Z'));
}

/**
 * `time` (a stored time string) minus `seconds` (an SQL expression, e.g. a per-row interval), as a
 * stored time string: for comparisons whose window differs from row to row.
 */
export function minusSeconds(
  dialect: DialectName,
  time: string,
  seconds: RawBuilder<unknown>,
): RawBuilder<string> {
  return dialect === 'mysql'
    ? sql<string>`DATE_SUB(CAST(${time} AS DATETIME(3)), INTERVAL (${seconds}) SECOND)`
    : sql<string>`strftime('%Y-%m-%d %H:%M:%f', ${time}, '-' || (${seconds}) || ' seconds')`;
}

/** RFC 3339 as Fleet's JSON shows times. */
export function toApiTime(value: string | Date | null | undefined): string | null {
  const d = fromDbTime(value);
  return d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : null;
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return (
    e?.code === 'ER_DUP_ENTRY' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

export function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string };
  return (
    e?.code === 'ER_NO_REFERENCED_ROW_2' ||
    e?.code === 'ER_NO_REFERENCED_ROW' ||
    e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY'
  );
}

/** Reference to the would-be-inserted value of a column inside an upsert's update clause. */
export function insertedValue(dialect: DialectName, column: string): RawBuilder<unknown> {
  return dialect === 'mysql' ? sql`VALUES(${sql.ref(column)})` : sql.ref(`excluded.${column}`);
}

/**
 * INSERT ... ON DUPLICATE KEY UPDATE / ON CONFLICT DO UPDATE. `updateColumns` take the inserted
 * values; `conflictColumns` name the unique key (SQLite needs it, MySQL infers it).
 */
export async function upsert(
  db: Kysely<any> | Transaction<any>,
  table: string,
  values: Record<string, unknown> | Record<string, unknown>[],
  conflictColumns: string[],
  updateColumns: string[],
): Promise<void> {
  const rows = Array.isArray(values) ? values : [values];
  if (rows.length === 0) return;
  const dialect = dialectOf(db);
  const set = Object.fromEntries(updateColumns.map((c) => [c, insertedValue(dialect, c)]));
  const base = db.insertInto(table).values(rows);
  if (dialect === 'mysql') {
    await (updateColumns.length ? base.onDuplicateKeyUpdate(set) : base.ignore()).execute();
  } else {
    await base
      .onConflict((oc) =>
        updateColumns.length ? oc.columns(conflictColumns as any).doUpdateSet(set) : oc.doNothing(),
      )
      .execute();
  }
}

/** INSERT IGNORE / INSERT OR IGNORE; returns how many rows went in. */
export async function insertIgnore(
  db: Kysely<any> | Transaction<any>,
  table: string,
  values: Record<string, unknown> | Record<string, unknown>[],
): Promise<number> {
  const rows = Array.isArray(values) ? values : [values];
  if (rows.length === 0) return 0;
  const base = db.insertInto(table).values(rows);
  const res =
    dialectOf(db) === 'mysql'
      ? await base.ignore().executeTakeFirst()
      : await base.orIgnore().executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0);
}

/** SELECT ... FOR UPDATE on MySQL; SQLite serialises writers, so nothing is needed there. */
export function forUpdate<QB extends { forUpdate(): QB }>(db: Kysely<any> | Transaction<any>, qb: QB): QB {
  return dialectOf(db) === 'mysql' ? qb.forUpdate() : qb;
}

/** Column types for migrations. */
export function columnTypes(dialect: DialectName) {
  const mysql = dialect === 'mysql';
  return {
    datetime: mysql ? sql`datetime(3)` : sql`text`,
    longText: mysql ? sql`mediumtext` : sql`text`,
    blob: mysql ? sql`longblob` : sql`blob`,
    /** Case-sensitive, byte-compared string (keys, tokens, secrets). */
    binaryString: (n: number) => (mysql ? sql.raw(`varchar(${n}) collate utf8mb4_bin`) : sql`text`),
  };
}
