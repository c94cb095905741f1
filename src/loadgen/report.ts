import { metricKinds, type MetricKind, type TickSnapshot } from './metrics.js';
import type { SimSummary } from './run.js';

/** What `flotilla sim` prints for people: the live progress line and the closing table. */

const labels: Record<MetricKind, string> = {
  apple_enroll: 'Apple enrollment',
  apple_checkin: 'Apple check-in (Idle)',
  apple_command: 'Apple command round trip',
  apple_session: 'Apple session',
  windows_enroll: 'Windows enrollment',
  syncml_message: 'SyncML message',
  syncml_session: 'SyncML session',
  http_request: 'all requests',
};

const fixed = (n: number, digits = 1) => n.toFixed(digits);

export function progressLine(t: TickSnapshot, planned: { apple: number; windows: number }): string {
  const enrolled = t.enrolled.apple + t.enrolled.windows;
  return (
    `[${Math.floor(t.elapsedMs / 1000)}s] enrolled ${enrolled}/${planned.apple + planned.windows}` +
    ` (apple ${t.enrolled.apple}/${planned.apple}, windows ${t.enrolled.windows}/${planned.windows})` +
    ` | ${fixed(t.requestsPerSecond)} req/s | errors ${t.errors}` +
    ` | p50 ${fixed(t.p50Ms)} ms p99 ${fixed(t.p99Ms)} ms | pushes ${t.pushes}`
  );
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function summaryText(s: SimSummary): string {
  const d = s.devices;
  const lines = [
    `flotilla sim: ${s.server}, ${fixed(s.elapsed_seconds)} s${s.interrupted ? ' (interrupted)' : ''}`,
    `devices enrolled: apple ${d.apple.enrolled}/${d.apple.planned} (${d.apple.started} started), ` +
      `windows ${d.windows.enrolled}/${d.windows.planned} (${d.windows.started} started)`,
    `requests: ${s.requests.total} (${fixed(s.requests.per_second)}/s), ${s.requests.failed} failed` +
      (s.pushes_received === null ? '' : `; pushes received: ${s.pushes_received}`) +
      `; commands: apple ${s.commands.apple}, windows ${s.commands.windows}`,
    `load generator: ${s.load_generator.cpu_percent}% CPU, event-loop delay p99 ${s.load_generator.event_loop_delay_ms.p99} ms`,
    '',
    table(
      ['KIND', 'COUNT', 'ERRORS', 'P50 MS', 'P90 MS', 'P99 MS', 'MAX MS'],
      metricKinds
        .filter((k) => s.kinds[k].count > 0 || s.kinds[k].errors > 0)
        .map((k) => {
          const r = s.kinds[k];
          const l = r.latency_ms;
          return [
            labels[k],
            String(r.count),
            String(r.errors),
            fixed(l.p50),
            fixed(l.p90),
            fixed(l.p99),
            fixed(l.max),
          ];
        }),
    ),
  ];
  const errs = Object.entries(s.errors.by_kind);
  if (errs.length) {
    lines.push('', `errors: ${s.errors.total}`);
    for (const [k, e] of errs)
      lines.push(`  ${labels[k as MetricKind]}: ${e.count}, first: ${e.first_error}`);
  }
  for (const w of s.warnings) lines.push('', `note: ${w}`);
  return lines.join('\n') + '\n';
}
