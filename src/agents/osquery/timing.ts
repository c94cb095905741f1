import { fromDbTime } from '../../db/dialect.js';
import type { AgentHost } from './store.js';

export interface TimingOptions {
  /** Fleet's osquery.detail_update_interval. */
  detailIntervalMs: number;
  /** Fleet's osquery.label_update_interval. */
  labelIntervalMs: number;
  /** Fleet's osquery.max_jitter_percent: up to this share of an interval is added per host. */
  maxJitterPercent: number;
}

/**
 * A host's jitter for an interval: a fixed share of at most `maxJitterPercent` of it, derived from
 * the host id alone, so every process agrees on when the host is due and hosts enrolled together
 * still spread their refreshes out.
 */
export function jitterMs(hostId: number, intervalMs: number, maxJitterPercent: number): number {
  const max = Math.floor((intervalMs * maxJitterPercent) / 100);
  if (max <= 0) return 0;
  // 32-bit integer mix (MurmurHash3's finaliser) so neighbouring ids land far apart.
  let h = hostId | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return Math.floor(((h >>> 0) / 2 ** 32) * max);
}

/**
 * What a distributed read hands out. Details: `all` when the last detail update is older than the
 * interval plus the host's jitter or a refetch was asked for; else `critical` (only the MDM-critical
 * queries, on every read) while the host's refetch_critical_queries_until is in the future; else
 * `none`. Labels: when the last label update is older than its interval plus jitter, or on refetch.
 */
export function whatIsDue(
  host: Pick<
    AgentHost,
    'id' | 'detail_updated_at' | 'label_updated_at' | 'refetch_requested' | 'refetch_critical_queries_until'
  >,
  now: number,
  opts: TimingOptions,
): { details: 'all' | 'critical' | 'none'; labels: boolean } {
  const olderThan = (time: string, intervalMs: number) =>
    (fromDbTime(time)?.getTime() ?? 0) <
    now - intervalMs - jitterMs(host.id, intervalMs, opts.maxJitterPercent);
  const detailsDue = host.refetch_requested || olderThan(host.detail_updated_at, opts.detailIntervalMs);
  const critical = (fromDbTime(host.refetch_critical_queries_until)?.getTime() ?? 0) > now;
  return {
    details: detailsDue ? 'all' : critical ? 'critical' : 'none',
    labels: host.refetch_requested || olderThan(host.label_updated_at, opts.labelIntervalMs),
  };
}
