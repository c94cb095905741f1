import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fleetSizeSeries, parseRun, processCountSeries } from '../../bench/lib/report.js';
import { chartHeight, chartWidth } from '../../bench/lib/reportChart.js';
import { writeReport } from '../../bench/lib/reportWrite.js';

const machine = {
  date: '2026-12-06T20:00:00Z',
  cores: 2,
  ramGiB: 23.44,
  mariadb: '10.11.14-MariaDB-0+deb12u2',
  node: 'v20.20.2',
  load: [1.5, 2.25, 3],
};

const tagged = (bench: string, value: number, unit: string, file: string, size?: number) =>
  JSON.stringify({ bench, value, unit, file, size, date: '2026-12-06', load1: 1.25 });

/** A saved run: the machine line, sweep figures at three sizes, multiprocess figures, noise. */
const savedRun = [
  JSON.stringify({ machine }),
  'apple-connect: signing 6000 requests...',
  tagged('apple_connect_round_trips_per_second_mysql', 1100.5, 'requests/s', 'apple-connect', 250),
  tagged('apple_connect_round_trips_per_second_mysql', 1050, 'requests/s', 'apple-connect', 1000),
  tagged('apple_connect_round_trips_per_second_mysql', 990.25, 'requests/s', 'apple-connect', 4000),
  tagged('apple-connect.server_peak_rss', 180.2, 'MiB', 'apple-connect', 4000),
  '{"not":"a figure"}',
  '{broken json',
  JSON.stringify({ bench: 'multiprocess_apple_round_trips_per_second_n1', value: 900, unit: 'requests/s' }),
  JSON.stringify({ bench: 'multiprocess_apple_round_trips_per_second_n2', value: 1500, unit: 'requests/s' }),
  JSON.stringify({ bench: 'multiprocess_apple_round_trips_per_second_n4', value: 1700, unit: 'requests/s' }),
  JSON.stringify({ bench: 'multiprocess_lost_commands_n4', value: 0, unit: 'commands' }),
  JSON.stringify({ bench: 'multiprocess.n1.windows_sessions_per_second', value: 300, unit: 'sessions/s' }),
  JSON.stringify({ bench: 'multiprocess.n2.windows_sessions_per_second', value: 520.5, unit: 'sessions/s' }),
  JSON.stringify({ bench: 'multiprocess.n2_kill.failed_checks', value: 0, unit: 'checks' }),
  JSON.stringify({ bench: 'soak_server_rss_growth_mysql', value: -0.4, unit: 'MiB/min' }),
].join('\n');

const expectedMarkdown = `# Benchmark report

Regenerate with \`npm run bench -- --report\` (runs every bench) or
\`npm run bench -- --report --from bench/report/figures.jsonl\` (redraws from the saved figures).

- Date: 2026-12-06T20:00:00Z
- Machine: 2 cores, 23.44 GiB RAM, MariaDB 10.11.14-MariaDB-0+deb12u2, Node v20.20.2
- Load average at start (1, 5, 15 min): 1.5, 2.25, 3

## Targets

| target | aim | measured | verdict | why it is missed |
| --- | --- | ---: | --- | --- |
| Apple connect: server CPU per round trip (1,000 devices, MySQL) | ≤ 0.45 ms | not measured | not measured |  |
| Apple connect: MariaDB CPU per round trip (server's connections) | ≤ 0.45 ms | not measured | not measured |  |
| Apple connect: rate with 300 answered commands per device | ≥ 90 % of the rate without history | not measured | not measured |  |
| Profile manager: first full pass, 100,000 hosts × 20 profiles | ≤ 40 s | not measured | not measured |  |
| Profile manager: one new profile for 100,000 hosts pending | ≤ 2 s | not measured | not measured |  |
| Profile manager: one new profile for 100,000 hosts enqueued | ≤ 10 s | not measured | not measured |  |
| Profile manager: idle tick (nothing to do), 100,000 hosts | ≤ 50 ms | not measured | not measured |  |
| Memory: peak RSS while 10,000 devices connect and a full pass runs | ≤ 256 MB (244 MiB) | not measured | not measured |  |
| Memory: growth over the soak (second half, linear fit) | ≤ 2 MiB/min | -0.40 MiB/min | met |  |
| Many processes: kill and restart one of two, nothing lost or delivered twice | 0 failed checks | 0 checks | met |  |

## Every figure

| bench | figure | value | unit | date | load (1 min) |
| --- | --- | ---: | --- | --- | ---: |
| apple-connect | apple_connect_round_trips_per_second_mysql (size 250) | 1100.5 | requests/s | 2026-12-06 | 1.25 |
| apple-connect | apple_connect_round_trips_per_second_mysql (size 1000) | 1050 | requests/s | 2026-12-06 | 1.25 |
| apple-connect | apple_connect_round_trips_per_second_mysql (size 4000) | 990.25 | requests/s | 2026-12-06 | 1.25 |
| apple-connect | apple-connect.server_peak_rss (size 4000) | 180.2 | MiB | 2026-12-06 | 1.25 |
|  | multiprocess_apple_round_trips_per_second_n1 | 900 | requests/s |  |  |
|  | multiprocess_apple_round_trips_per_second_n2 | 1500 | requests/s |  |  |
|  | multiprocess_apple_round_trips_per_second_n4 | 1700 | requests/s |  |  |
|  | multiprocess_lost_commands_n4 | 0 | commands |  |  |
|  | multiprocess.n1.windows_sessions_per_second | 300 | sessions/s |  |  |
|  | multiprocess.n2.windows_sessions_per_second | 520.5 | sessions/s |  |  |
|  | multiprocess.n2_kill.failed_checks | 0 | checks |  |  |
|  | soak_server_rss_growth_mysql | -0.4 | MiB/min |  |  |

![Throughput against fleet size](throughput-by-fleet-size.png)

![Throughput against process count](throughput-by-process-count.png)
`;

/** Width and height from a PNG's IHDR chunk, after checking the 8-byte signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('benchmark report', () => {
  it('reads figures and the machine line, skipping everything else', () => {
    const run = parseRun(savedRun);
    expect(run.machine).toEqual(machine);
    expect(run.figures).toHaveLength(12);
    expect(run.figures[0]).toEqual({
      bench: 'apple_connect_round_trips_per_second_mysql',
      value: 1100.5,
      unit: 'requests/s',
      file: 'apple-connect',
      size: 250,
      date: '2026-12-06',
      load1: 1.25,
    });
  });

  it('draws throughput (per-second units only) by fleet size and by process count', () => {
    const { figures } = parseRun(savedRun);
    expect(fleetSizeSeries(figures)).toEqual([
      {
        name: 'apple_connect_round_trips_per_second_mysql',
        points: [
          { x: 250, y: 1100.5 },
          { x: 1000, y: 1050 },
          { x: 4000, y: 990.25 },
        ],
      },
    ]);
    expect(processCountSeries(figures)).toEqual([
      {
        name: 'multiprocess.windows_sessions_per_second',
        points: [
          { x: 1, y: 300 },
          { x: 2, y: 520.5 },
        ],
      },
      {
        name: 'multiprocess_apple_round_trips_per_second',
        points: [
          { x: 1, y: 900 },
          { x: 2, y: 1500 },
          { x: 4, y: 1700 },
        ],
      },
    ]);
  });

  it('writes the exact Markdown and both charts as PNG of the chart size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-report-'));
    const written = writeReport(parseRun(savedRun), dir);
    expect(written).toEqual(['throughput-by-fleet-size.png', 'throughput-by-process-count.png', 'README.md']);
    expect(readdirSync(dir).sort()).toEqual([...written].sort());
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toBe(expectedMarkdown);
    for (const file of ['throughput-by-fleet-size.png', 'throughput-by-process-count.png']) {
      expect(pngSize(readFileSync(join(dir, file)))).toEqual({ width: chartWidth, height: chartHeight });
    }
    expect({ chartWidth, chartHeight }).toEqual({ chartWidth: 960, chartHeight: 540 });
  });

  it('writes no chart without a series of two points (removing an older one) and says nothing of charts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-report-'));
    writeReport(parseRun(savedRun), dir);
    const one = JSON.stringify({ bench: 'scep_requests_per_second', value: 42, unit: 'requests/s' });
    expect(writeReport(parseRun(one), dir)).toEqual(['README.md']);
    expect(readdirSync(dir)).toEqual(['README.md']);
    const md = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(md.startsWith('# Benchmark report\n\n')).toBe(true);
    // The targets table (every target unmeasured here), then the figures, and no chart.
    expect(md).toContain(
      '| Profile manager: idle tick (nothing to do), 100,000 hosts | ≤ 50 ms | not measured | not measured |  |',
    );
    expect(
      md.endsWith(
        '## Every figure\n\n' +
          '| bench | figure | value | unit | date | load (1 min) |\n' +
          '| --- | --- | ---: | --- | --- | ---: |\n' +
          '|  | scep_requests_per_second | 42 | requests/s |  |  |\n',
      ),
    ).toBe(true);
    expect(md).not.toContain('![');
  });
});
