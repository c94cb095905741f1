import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseRun, type Figure, type SavedRun } from './lib/report.js';
import { machineInfo, writeReport } from './lib/reportWrite.js';
import { readmeBlock, spliceReadme } from './lib/reportReadme.js';

/**
 * Runs every `bench/*.bench.ts` in its own process, one after another, passing their output
 * through. Each benchmark prints one JSON line per figure: {"bench": name, "value": n, "unit": "..."}.
 *
 *   npm run bench [-- <filter>]                  the files whose name contains the filter
 *   npm run bench -- --report [<filter>]         also sweeps fleet sizes, saves the figures to
 *                                                bench/report/figures.jsonl and writes the report
 *                                                (a filter replaces only those files' figures)
 *   npm run bench -- --report --from <file>      the report from saved JSON lines, no bench run
 */
const benchDir = dirname(fileURLToPath(import.meta.url));
const reportDir = join(benchDir, 'report');
const savedFigures = join(reportDir, 'figures.jsonl');

/**
 * Fleet-size sweeps for the report: the bench runs once per size with its size env var set (unless
 * that variable is already set). BENCH_REPORT_SWEEP=0 runs each bench once at its default size.
 */
const sweeps: Record<string, { env: string; sizes: number[] }> = {
  'apple-connect': { env: 'BENCH_APPLE_DEVICES', sizes: [250, 1000, 4000] },
  'windows-management': { env: 'BENCH_WINDOWS_DEVICES', sizes: [250, 1000, 4000] },
  'admin-hosts': { env: 'BENCH_HOSTS', sizes: [1000, 10_000, 50_000] },
};

function parseArgs(argv: string[]) {
  let report = false;
  let from: string | undefined;
  let filter = '';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--report') report = true;
    else if (argv[i] === '--from') {
      from = argv[++i];
      if (!from) throw new Error('--from needs a file of JSON lines');
    } else filter = argv[i];
  }
  return { report: report || from !== undefined, from, filter };
}

function benchFiles(filter: string): string[] {
  return readdirSync(benchDir)
    .filter((f) => f.endsWith('.bench.ts') && f.includes(filter))
    .sort();
}

/** Runs one bench file, passing its output through; its figures are tagged with where they came from. */
function runCollecting(
  file: string,
  env: Record<string, string>,
  size?: number,
): Promise<{ ok: boolean; figures: Figure[] }> {
  const name = file.replace(/\.bench\.ts$/, '');
  const load1 = Math.round(loadavg()[0] * 100) / 100;
  const date = new Date().toISOString().slice(0, 10);
  const child = spawn(process.execPath, ['--import', 'tsx', join(benchDir, file)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const figures: Figure[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    process.stdout.write(`${line}\n`);
    for (const f of parseRun(line).figures) figures.push({ ...f, file: name, size, date, load1 });
  });
  return new Promise((res) => child.once('close', (code) => res({ ok: code === 0, figures })));
}

/** The README's benchmark section, rewritten from the report's figures. */
function updateReadme(run: SavedRun): void {
  const readme = join(benchDir, '..', 'README.md');
  writeFileSync(readme, spliceReadme(readFileSync(readme, 'utf8'), readmeBlock(run)));
}

async function runReport(filter: string): Promise<string[]> {
  const files = benchFiles(filter);
  if (files.length === 0) throw new Error(`no benchmark matches "${filter}"`);
  const machine = await machineInfo();
  const figures: Figure[] = [];
  const failed: string[] = [];
  const sweepOn = process.env.BENCH_REPORT_SWEEP !== '0';
  for (const file of files) {
    const sweep = sweeps[file.replace(/\.bench\.ts$/, '')];
    const runs =
      sweep && sweepOn && process.env[sweep.env] === undefined
        ? sweep.sizes.map((size) => ({ env: { [sweep.env]: String(size) }, size }))
        : [{ env: {}, size: undefined }];
    for (const r of runs) {
      process.stderr.write(`# ${file}${r.size === undefined ? '' : ` (${sweep!.env}=${r.size})`}\n`);
      const res = await runCollecting(file, r.env, r.size);
      figures.push(...res.figures);
      if (!res.ok) failed.push(file);
    }
  }
  // A filtered run replaces the figures of the files it ran and keeps the others.
  const ran = new Set(files.map((f) => f.replace(/\.bench\.ts$/, '')));
  const kept =
    filter && existsSync(savedFigures)
      ? parseRun(readFileSync(savedFigures, 'utf8')).figures.filter((f) => !f.file || !ran.has(f.file))
      : [];
  const run: SavedRun = { machine, figures: [...kept, ...figures] };
  mkdirSync(reportDir, { recursive: true });
  writeFileSync(
    savedFigures,
    [JSON.stringify({ machine }), ...run.figures.map((f) => JSON.stringify(f))].join('\n') + '\n',
  );
  const written = writeReport(run, reportDir);
  updateReadme(run);
  process.stderr.write(
    `report: ${['figures.jsonl', ...written].map((f) => join('bench/report', f)).join(', ')}, README.md\n`,
  );
  return failed;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.from) {
    const run = parseRun(readFileSync(resolve(args.from), 'utf8'));
    // Plain bench output carries no machine line: describe this machine, as of now.
    run.machine ??= await machineInfo();
    const written = writeReport(run, reportDir);
    updateReadme(run);
    process.stderr.write(`report: ${written.map((f) => join('bench/report', f)).join(', ')}, README.md\n`);
    return 0;
  }
  let failed: string[];
  if (args.report) {
    failed = await runReport(args.filter);
  } else {
    const files = benchFiles(args.filter);
    if (files.length === 0) {
      process.stderr.write(`no benchmark matches "${args.filter}"\n`);
      return 1;
    }
    failed = [];
    for (const file of files) {
      process.stderr.write(`# ${file}\n`);
      const res = spawnSync(process.execPath, ['--import', 'tsx', join(benchDir, file)], {
        stdio: 'inherit',
      });
      if (res.status !== 0) failed.push(file);
    }
  }
  if (failed.length) {
    process.stderr.write(`failed: ${failed.join(', ')}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = await main();
