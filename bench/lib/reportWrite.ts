import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { benchMysqlUrl } from './database.js';
import {
  fleetSizeChartFile,
  fleetSizeSeries,
  processCountChartFile,
  processCountSeries,
  renderMarkdown,
  type MachineInfo,
  type SavedRun,
} from './report.js';
import { chartPng } from './reportChart.js';

const round2 = (n: number) => Math.round(n * 100) / 100;

/** This machine now: cores, RAM, the bench MySQL/MariaDB server's version, Node, load. */
export async function machineInfo(): Promise<MachineInfo> {
  let mariadb = 'unreachable';
  try {
    const c = await createConnection({ uri: benchMysqlUrl, connectTimeout: 3000 });
    const [rows] = await c.query('SELECT VERSION() AS v');
    mariadb = String((rows as { v: string }[])[0].v);
    await c.end();
  } catch {
    // no database server: the report says so
  }
  const [l1, l5, l15] = loadavg().map(round2);
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cores: cpus().length,
    ramGiB: round2(totalmem() / 1024 ** 3),
    mariadb,
    node: process.version,
    load: [l1, l5, l15],
  };
}

/**
 * Writes `README.md` and the charts that have data (a series needs two or more points) into
 * `dir`, removing a chart of an earlier report that now has none; returns the files written.
 */
export function writeReport(run: SavedRun, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  for (const stale of [fleetSizeChartFile, processCountChartFile]) rmSync(join(dir, stale), { force: true });
  const bySize = fleetSizeSeries(run.figures);
  const byProcesses = processCountSeries(run.figures);
  const written: string[] = [];
  if (bySize.length) {
    const png = chartPng({
      title: 'Throughput against fleet size',
      xLabel: 'fleet size (devices or hosts, log scale)',
      yLabel: 'throughput (per second)',
      series: bySize,
    });
    writeFileSync(join(dir, fleetSizeChartFile), png);
    written.push(fleetSizeChartFile);
  }
  if (byProcesses.length) {
    const png = chartPng({
      title: 'Throughput against process count',
      xLabel: 'server processes (log scale)',
      yLabel: 'throughput (per second)',
      series: byProcesses,
    });
    writeFileSync(join(dir, processCountChartFile), png);
    written.push(processCountChartFile);
  }
  const md = renderMarkdown(run, { fleetSize: bySize.length > 0, processCount: byProcesses.length > 0 });
  writeFileSync(join(dir, 'README.md'), md);
  written.push('README.md');
  return written;
}
