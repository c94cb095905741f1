/**
 * The README's benchmark figures, written from a report run between two markers, so the figures a
 * reader sees there are the report's and nobody types them by hand.
 */
import type { Figure, SavedRun } from './report.js';
import { fleetSizeChartFile, processCountChartFile } from './report.js';
import { pick, targetsMarkdown } from './reportTargets.js';

export const readmeStart =
  '<!-- bench-report:start: written by `npm run bench -- --report`; edits here are overwritten -->';
export const readmeEnd = '<!-- bench-report:end -->';

/** The figures the README shows for each bench (the report has all of them). */
const headline: { file: string; name: string | RegExp; size?: number; what: string }[] = [
  {
    file: 'apple-connect',
    name: 'apple_connect_round_trips_per_second_mysql',
    size: 1000,
    what: 'round trips/s, 1,000 Macs',
  },
  {
    file: 'apple-connect',
    name: 'apple_connect_round_trips_per_second_mysql',
    size: 4000,
    what: 'round trips/s, 4,000 Macs',
  },
  {
    file: 'apple-connect',
    name: 'apple_connect_round_trips_per_second_no_database',
    size: 1000,
    what: 'no-database ceiling',
  },
  {
    file: 'windows-management',
    name: 'windows_management_sessions_mysql',
    size: 1000,
    what: 'SyncML sessions/s, 1,000 PCs',
  },
  {
    file: 'windows-management',
    name: 'windows_management_server_cpu_per_session',
    size: 1000,
    what: 'server CPU per session',
  },
  {
    file: 'admin-hosts',
    name: 'admin_get_hosts_mysql',
    size: 10000,
    what: 'GET /hosts (100 per page), 10,000 hosts',
  },
  { file: 'agents', name: /^agents_steady_c8_per_s$/, what: 'fleetd/osquery steady check-ins/s' },
  { file: 'agents', name: 'agents_due_per_s', what: 'detail queries due, per s' },
  { file: 'scep', name: 'scep_certificates_per_second_mysql', what: 'SCEP certificates/s' },
  { file: 'dep-sync', name: /^dep_full_sync_\d+_mysql$/, what: 'full ABM sync of 100,000 devices' },
  { file: 'android', name: 'android_status_report_8_in_flight_per_s', what: 'Pub/Sub status reports/s' },
  { file: 'profiles', name: /^profiles_full_pass_\d+x\d+_mysql$/, what: 'full pass, 100,000 × 20' },
  { file: 'multiprocess', name: 'multiprocess.n1.requests_per_second', what: 'requests/s, 1 process' },
  { file: 'multiprocess', name: 'multiprocess.n2.requests_per_second', what: 'requests/s, 2 processes' },
  { file: 'multiprocess', name: 'multiprocess.n4.requests_per_second', what: 'requests/s, 4 processes' },
  { file: 'soak', name: /^soak_round_trips_per_second_/, what: 'soak check-ins/s with crons on' },
];

const cell = (s: string) => s.replace(/\|/g, '\\|');

function headlineRows(figures: Figure[]): string[] {
  const rows = ['| bench | what | value | load (1 min) |', '| --- | --- | ---: | ---: |'];
  for (const h of headline) {
    const f = pick(figures, h.name, h.size);
    if (!f) continue;
    rows.push(`| ${h.file} | ${cell(h.what)} | ${f.value} ${cell(f.unit)} | ${f.load1 ?? ''} |`);
  }
  return rows;
}

/** The block between the markers (markers included). */
export function readmeBlock(run: SavedRun): string {
  const m = run.machine;
  const lines = [readmeStart, ''];
  if (m) {
    lines.push(
      `Last report run: ${m.date}, ${m.cores} cores, MariaDB ${m.mariadb} with default settings, Node ${m.node}; ` +
        'each figure carries the 1-minute load average its bench started at (other work shared the machine when it is high). ' +
        'Every figure: [bench/report/README.md](bench/report/README.md).',
      '',
    );
  }
  lines.push(...targetsMarkdown(run.figures), '', ...headlineRows(run.figures), '');
  const files = new Set(run.figures.map((f) => f.file));
  if (run.figures.some((f) => f.size !== undefined)) {
    lines.push(`![Throughput against fleet size](bench/report/${fleetSizeChartFile})`, '');
  }
  if (files.has('multiprocess')) {
    lines.push(`![Throughput against process count](bench/report/${processCountChartFile})`, '');
  }
  lines.push(readmeEnd);
  return lines.join('\n');
}

/** `readme` with the block between the markers replaced; an error when the markers are missing. */
export function spliceReadme(readme: string, block: string): string {
  const a = readme.indexOf(readmeStart);
  const b = readme.indexOf(readmeEnd);
  if (a < 0 || b < a) throw new Error('README.md has no benchmark report markers');
  return readme.slice(0, a) + block + readme.slice(b + readmeEnd.length);
}
