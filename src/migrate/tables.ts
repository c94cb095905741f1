/** Table types for `flotilla import` (migration 0027). */

export interface ImportRunsTable {
  /** Which source: kind, host and database name (never credentials). */
  source: string;
  kind: string;
  /** `running` until the last batch is written, then `done`. */
  status: string;
  /** The last device id whose batch was committed ('' before the first). */
  cursor_id: string;
  /** JSON of the counts written so far. */
  counts: string;
  started_at: string;
  updated_at: string;
  finished_at: string | null;
}

export interface ImportTables {
  import_runs: ImportRunsTable;
}
