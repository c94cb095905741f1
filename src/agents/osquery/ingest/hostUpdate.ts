/** One row of an osquery result: every column a string. */
export type Row = Record<string, string>;

/** A result Flotilla cannot use (a number that is not one, a malformed key file): it is skipped. */
export class IngestError extends Error {}

/**
 * Columns of the host row that osquery results (and the agent's bookkeeping) change, gathered over
 * one request and written in one UPDATE. Absent keys are left as they are.
 */
export interface HostUpdate {
  hostname?: string;
  computer_name?: string;
  hardware_model?: string;
  hardware_serial?: string;
  os_version?: string;
  platform?: string;
  uuid?: string;
  osquery_version?: string;
  build?: string;
  platform_like?: string;
  code_name?: string;
  cpu_type?: string;
  cpu_subtype?: string;
  cpu_brand?: string;
  cpu_physical_cores?: number;
  cpu_logical_cores?: number;
  hardware_vendor?: string;
  hardware_version?: string;
  memory?: number;
  /** Nanoseconds, as Fleet stores and shows it. */
  uptime?: number;
  last_restarted_at?: string;
  primary_ip?: string;
  primary_mac?: string;
  public_ip?: string;
  orbit_version?: string;
  gigs_disk_space_available?: number;
  percent_disk_space_available?: number;
  gigs_total_disk_space?: number;
  disk_encryption_enabled?: boolean;
  distributed_interval?: number;
  config_tls_refresh?: number;
  logger_tls_period?: number;
  detail_updated_at?: string;
  label_updated_at?: string;
  refetch_requested?: boolean;
  refetch_critical_queries_until?: string | null;
  osquery_host_id?: string;
  node_key?: string;
  team_id?: number | null;
  last_enrolled_at?: string;
  seen_time?: string;
}

/** Go's strconv.Atoi over osquery's text ('' counts as 0, as Fleet's EmptyToZero makes it). */
export function intOf(v: string | undefined, what: string): number {
  const s = (v ?? '').trim();
  if (s === '') return 0;
  if (!/^[+-]?\d{1,18}$/.test(s)) throw new IngestError(`${what} is not an integer`);
  return Number(s);
}

/** Go's strconv.ParseFloat over osquery's text ('' counts as 0). */
export function floatOf(v: string | undefined, what: string): number {
  const s = (v ?? '').trim();
  if (s === '') return 0;
  const n = Number(s);
  if (!Number.isFinite(n) || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s))
    throw new IngestError(`${what} is not a number`);
  return n;
}

/** Go's strconv.ParseBool: 1, t, T, TRUE, true, True and their false twins. */
export function boolOf(v: string, what: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new IngestError(`${what} is not a boolean`);
}
