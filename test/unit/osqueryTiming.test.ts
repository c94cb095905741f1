import { describe, expect, it } from 'vitest';
import { intervalsFromConfig, osqueryConfigFor } from '../../src/agents/osquery/agentOptions.js';
import { detailQueriesFor, detailQueries } from '../../src/agents/osquery/detailQueries.js';
import { labelIdOf, membershipChanges } from '../../src/agents/osquery/labelQueries.js';
import { jitterMs, whatIsDue } from '../../src/agents/osquery/timing.js';
import { toDbTime } from '../../src/db/dialect.js';

const hour = 3600_000;
const opts = { detailIntervalMs: hour, labelIntervalMs: hour, maxJitterPercent: 10 };
const at = (ms: number) => toDbTime(new Date(ms));

describe('what a distributed read hands out', () => {
  it('jitter is per host, deterministic and at most max_jitter_percent of the interval', () => {
    const values = Array.from({ length: 1000 }, (_, i) => jitterMs(i + 1, hour, 10));
    expect(values.every((v) => v >= 0 && v < hour / 10)).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(900);
    expect(jitterMs(42, hour, 10)).toBe(jitterMs(42, hour, 10));
    expect(jitterMs(42, hour, 0)).toBe(0);
  });

  it('details: due after interval + jitter or on refetch; critical only inside the window', () => {
    const now = Date.UTC(2024, 5, 1);
    const host = {
      id: 7,
      detail_updated_at: at(now - 10_000),
      label_updated_at: at(now - 10_000),
      refetch_requested: false,
      refetch_critical_queries_until: null as string | null,
    };
    expect(whatIsDue(host, now, opts)).toEqual({ details: 'none', labels: false });
    expect(whatIsDue({ ...host, detail_updated_at: at(now - 1.2 * hour) }, now, opts).details).toBe('all');
    // Within the interval plus this host's jitter: not yet.
    const jitter = jitterMs(7, hour, 10);
    expect(whatIsDue({ ...host, detail_updated_at: at(now - hour - jitter + 1000) }, now, opts).details).toBe(
      'none',
    );
    expect(whatIsDue({ ...host, refetch_requested: true }, now, opts)).toEqual({
      details: 'all',
      labels: true,
    });
    expect(whatIsDue({ ...host, refetch_critical_queries_until: at(now + 1000) }, now, opts).details).toBe(
      'critical',
    );
    expect(whatIsDue({ ...host, refetch_critical_queries_until: at(now - 1000) }, now, opts).details).toBe(
      'none',
    );
    expect(whatIsDue({ ...host, label_updated_at: at(now - 2 * hour) }, now, opts)).toEqual({
      details: 'none',
      labels: true,
    });
  });

  it('detail queries per platform, MDM checks only with MDM on, critical ones only in the window', () => {
    const names = (ctx: Parameters<typeof detailQueriesFor>[0]) => detailQueriesFor(ctx).map((q) => q.name);
    const mac = { platform: 'darwin', appleMdm: false, windowsMdm: true, criticalOnly: false };
    expect(names(mac)).toContain('mdm');
    expect(names(mac)).not.toContain('mdm_config_profiles_darwin');
    expect(names(mac)).not.toContain('network_interface_windows');
    expect(names({ ...mac, appleMdm: true })).toContain('mdm_disk_encryption_key_file_darwin');
    expect(names({ ...mac, criticalOnly: true })).toEqual(['mdm']);
    expect(names({ ...mac, platform: 'windows', criticalOnly: true })).toEqual(['mdm_windows']);
    expect(names({ ...mac, platform: 'ubuntu' })).toContain('disk_space_unix');
    expect(new Set(detailQueries.map((q) => q.name)).size).toBe(detailQueries.length);
  });
});

describe('agent options', () => {
  const global = {
    config: { options: { distributed_interval: 10 } },
    overrides: { platforms: { darwin: { options: { distributed_interval: 20 } } } },
  };

  it('team options win when the team has any; a platform override replaces config whole', () => {
    expect(osqueryConfigFor(undefined, global, 'windows')).toEqual(global.config);
    expect(osqueryConfigFor(undefined, global, 'darwin')).toEqual({ options: { distributed_interval: 20 } });
    expect(osqueryConfigFor({ config: { options: { x: 1 } } }, global, 'darwin')).toEqual({
      options: { x: 1 },
    });
    expect(osqueryConfigFor({}, global, 'darwin')).toEqual({});
    expect(osqueryConfigFor(undefined, null, 'darwin')).toEqual({});
  });

  it('records the intervals the config sets (numbers or numeric strings)', () => {
    expect(
      intervalsFromConfig({
        options: { distributed_interval: '30', logger_tls_period: 5, config_refresh: -1 },
      }),
    ).toEqual({ distributed_interval: 30, logger_tls_period: 5 });
    expect(intervalsFromConfig({})).toEqual({});
  });
});

describe('label answers', () => {
  it('only dynamic labels the host may have, only changes, never for errors', () => {
    expect(labelIdOf('fleet_label_query_12')).toBe(12);
    expect(labelIdOf('fleet_label_query_x')).toBeUndefined();
    expect(labelIdOf('fleet_label_query_0')).toBeUndefined();
    expect(labelIdOf('fleet_policy_query_3')).toBeUndefined();
    const answers = new Map<number, boolean | null>([
      [1, true],
      [2, false],
      [3, null],
      [4, true],
      [9, true],
    ]);
    const current = new Map<number, boolean | null>([
      [1, null],
      [2, false],
      [3, true],
      [4, false],
    ]);
    expect(membershipChanges(answers, current)).toEqual([
      { labelId: 1, isMember: true },
      { labelId: 4, isMember: true },
    ]);
  });
});
