/**
 * The benchmark report: figures (the JSON lines benches print, tagged by `npm run bench -- --report`
 * with the bench file, the sweep size and the load average) turned into a Markdown page, and the
 * series the charts draw.
 */
import { targetsMarkdown } from './reportTargets.js';

/** One figure as a bench prints it, plus what the report run knows about where it came from. */
export interface Figure {
  bench: string;
  value: number;
  unit: string;
  /** The bench file (without `.bench.ts`) that printed it. */
  file?: string;
  /** Fleet size of a size sweep run (the env value the report run set), when there was one. */
  size?: number;
  /** Day the bench file ran (YYYY-MM-DD). */
  date?: string;
  /** 1-minute load average of the machine when the bench file started. */
  load1?: number;
}

/** The machine a report's figures were measured on. */
export interface MachineInfo {
  /** When the figures were measured (ISO 8601). */
  date: string;
  cores: number;
  ramGiB: number;
  /** `SELECT VERSION()` of the bench database server, or why there is none. */
  mariadb: string;
  node: string;
  /** `uptime`'s load averages when the run started (1, 5, 15 minutes). */
  load: [number, number, number];
}

/** The first line of a saved run: `{"machine": {...}}`. */
export interface SavedRun {
  machine?: MachineInfo;
  figures: Figure[];
}

function isFigure(v: unknown): v is Figure {
  const f = v as Figure;
  return !!f && typeof f.bench === 'string' && typeof f.value === 'number' && typeof f.unit === 'string';
}

/** Reads the JSON lines of a run: figures, an optional machine line; anything else is skipped. */
export function parseRun(text: string): SavedRun {
  const run: SavedRun = { figures: [] };
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      continue;
    }
    const machine = (v as { machine?: MachineInfo }).machine;
    if (machine && typeof machine === 'object') run.machine = machine;
    else if (isFigure(v)) run.figures.push(v);
  }
  return run;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** A figure's name as the table shows it: sweep runs carry their size. */
function figureName(f: Figure): string {
  return f.size === undefined ? f.bench : `${f.bench} (size ${f.size})`;
}

export const fleetSizeChartFile = 'throughput-by-fleet-size.png';
export const processCountChartFile = 'throughput-by-process-count.png';

/** `bench/report/README.md`: the machine, one row per figure, and the charts that were drawn. */
export function renderMarkdown(run: SavedRun, charts: { fleetSize: boolean; processCount: boolean }): string {
  const m = run.machine;
  const lines = ['# Benchmark report', ''];
  lines.push('Regenerate with `npm run bench -- --report` (runs every bench) or');
  lines.push(
    '`npm run bench -- --report --from bench/report/figures.jsonl` (redraws from the saved figures).',
  );
  lines.push('');
  if (m) {
    lines.push(`- Date: ${m.date}`);
    lines.push(`- Machine: ${m.cores} cores, ${m.ramGiB} GiB RAM, MariaDB ${m.mariadb}, Node ${m.node}`);
    lines.push(`- Load average at start (1, 5, 15 min): ${m.load.join(', ')}`);
    lines.push('');
  }
  lines.push('## Targets', '', ...targetsMarkdown(run.figures), '', '## Every figure', '');
  lines.push('| bench | figure | value | unit | date | load (1 min) |');
  lines.push('| --- | --- | ---: | --- | --- | ---: |');
  for (const f of run.figures) {
    const load = f.load1 === undefined ? '' : String(f.load1);
    lines.push(
      `| ${cell(f.file ?? '')} | ${cell(figureName(f))} | ${f.value} | ${cell(f.unit)} | ${f.date ?? ''} | ${load} |`,
    );
  }
  if (charts.fleetSize || charts.processCount) lines.push('');
  if (charts.fleetSize) lines.push(`![Throughput against fleet size](${fleetSizeChartFile})`, '');
  if (charts.processCount) lines.push(`![Throughput against process count](${processCountChartFile})`, '');
  if (!charts.fleetSize && !charts.processCount) lines.push('');
  return lines.join('\n');
}

/** One line of a chart: its name and (x, y) points in ascending x. */
export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

const isThroughput = (f: Figure) => /\/s$/.test(f.unit);

function group(entries: { name: string; x: number; y: number }[]): Series[] {
  const by = new Map<string, Map<number, number>>();
  for (const e of entries) {
    const s = by.get(e.name) ?? new Map<number, number>();
    s.set(e.x, e.y); // a later run of the same point wins
    by.set(e.name, s);
  }
  return [...by.entries()]
    .filter(([, pts]) => pts.size >= 2)
    .map(([name, pts]) => ({
      name,
      points: [...pts.entries()].sort((a, b) => a[0] - b[0]).map(([x, y]) => ({ x, y })),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Throughput figures measured at two or more fleet sizes (size sweeps), one series per figure. */
export function fleetSizeSeries(figures: Figure[]): Series[] {
  return group(
    figures
      .filter((f) => isThroughput(f) && f.size !== undefined)
      .map((f) => ({ name: f.bench, x: f.size!, y: f.value })),
  );
}

/**
 * Throughput figures named `..._n<N>...` or `....n<N>....` (N processes, as the multiprocess bench
 * prints them), one series per name without the `n<N>` part.
 */
export function processCountSeries(figures: Figure[]): Series[] {
  const out: { name: string; x: number; y: number }[] = [];
  for (const f of figures) {
    const m = /[._]n(\d+)(?=[._]|$)/.exec(f.bench);
    if (!m || !isThroughput(f)) continue;
    out.push({ name: f.bench.replace(m[0], ''), x: Number(m[1]), y: f.value });
  }
  return group(out);
}
