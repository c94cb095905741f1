import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRun, type Figure } from '../../bench/lib/report.js';
import { readmeBlock, readmeEnd, readmeStart, spliceReadme } from '../../bench/lib/reportReadme.js';
import { judgeTargets } from '../../bench/lib/reportTargets.js';

const root = join(import.meta.dirname, '..', '..');
const fig = (bench: string, value: number, unit: string, size?: number): Figure => ({
  bench,
  value,
  unit,
  file: 'x',
  size,
});

describe('benchmark targets', () => {
  it('judges each target met, missed by how much, or not measured', () => {
    const results = judgeTargets([
      fig('apple_connect_server_cpu_ms_per_round_trip', 0.9, 'ms', 250),
      fig('apple_connect_server_cpu_ms_per_round_trip', 0.4, 'ms', 1000),
      fig('apple_connect_mysql_connection_cpu_ms_per_round_trip', 0.9, 'ms', 1000),
      fig('apple_connect_statements_per_round_trip', 1.44, 'statements', 1000),
      fig('apple_connect_commits_per_round_trip', 1.38, 'commits', 1000),
      fig('apple_connect_round_trips_per_second_mysql', 1000, 'requests/s', 1000),
      fig('apple_connect_history_round_trips_per_second_mysql', 800, 'requests/s', 1000),
      fig('profiles_full_pass_100000x20_mysql', 100, 's'),
      fig('profiles_raw_insert_load_data_100000x20_mysql', 50, 's'),
      fig('profiles_idle_tick_100000x21_mysql', 20, 'ms'),
      fig('multiprocess.n2_kill.failed_checks', 0, 'checks'),
    ]);
    const by = Object.fromEntries(results.map((r) => [r.target, r]));
    // Judged at 1,000 devices, not at another sweep size.
    expect(by['Apple connect: server CPU per round trip (1,000 devices, MySQL)']).toMatchObject({
      measured: '0.40 ms',
      verdict: 'met',
      gap: '',
      why: '',
    });
    expect(by["Apple connect: MariaDB CPU per round trip (server's connections)"]).toMatchObject({
      measured: '0.90 ms',
      verdict: 'missed',
      gap: '2.00× the aim',
    });
    expect(by["Apple connect: MariaDB CPU per round trip (server's connections)"].why).toContain(
      '1.44 statements and 1.38 commits per round trip (about 0.72 reports per batch)',
    );
    expect(by['Apple connect: rate with 300 answered commands per device']).toMatchObject({
      measured: '80 %',
      verdict: 'missed',
      gap: 'at 89 % of the aim',
    });
    const pass = by['Profile manager: first full pass, 100,000 hosts × 20 profiles'];
    expect(pass).toMatchObject({ measured: '100 s', verdict: 'missed', gap: '2.50× the aim' });
    expect(pass.why).toContain('take 50 s with LOAD DATA');
    expect(pass.why).toContain('the pass runs at 50 % of that limit');
    expect(by['Profile manager: idle tick (nothing to do), 100,000 hosts'].verdict).toBe('met');
    expect(by['Many processes: kill and restart one of two, nothing lost or delivered twice'].verdict).toBe(
      'met',
    );
    expect(by['Memory: peak RSS while 10,000 devices connect and a full pass runs']).toMatchObject({
      measured: 'not measured',
      verdict: 'not measured',
    });
  });

  it("the README's benchmark section is the one the saved report figures write", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const run = parseRun(readFileSync(join(root, 'bench', 'report', 'figures.jsonl'), 'utf8'));
    const block = readmeBlock(run);
    const start = readme.indexOf(readmeStart);
    expect(start).toBeGreaterThan(0);
    expect(readme.slice(start, readme.indexOf(readmeEnd) + readmeEnd.length)).toBe(block);
    // Splicing is idempotent and keeps the rest of the README.
    expect(spliceReadme(readme, block)).toBe(readme);
  });
});
