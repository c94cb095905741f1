import { build, type Histogram } from 'hdr-histogram-js';

/**
 * What `flotilla sim` measures. Latencies go into HDR histograms (microseconds, 3 significant
 * digits) per kind; the live progress line reads a histogram of the last tick's requests, reset
 * at each tick.
 */

/** Rows of the summary: whole operations and single requests. */
export const metricKinds = [
  /** An Apple enrollment: profile download, SCEP (GetCACaps, GetCACert, PKIOperation), Authenticate, TokenUpdate. */
  'apple_enroll',
  /** The Idle report that opens an Apple session (answered with the first command, or nothing). */
  'apple_checkin',
  /** A command round trip: the report carrying a command's result, answered with the next command. */
  'apple_command',
  /** One Apple session: Idle, then every queued command, until the server has none. */
  'apple_session',
  /** A Windows enrollment: orbit enroll, MS-MDE2 discovery, policy, WSTEP enrollment. */
  'windows_enroll',
  /** One SyncML message and its answer. */
  'syncml_message',
  /** One SyncML management session, until the server sends no more commands. */
  'syncml_session',
  /** Every HTTP request the devices made. */
  'http_request',
] as const;

export type MetricKind = (typeof metricKinds)[number];

/** The kinds whose failures count as errors of the run (a failed request fails its operation). */
export const operationKinds = ['apple_enroll', 'apple_session', 'windows_enroll', 'syncml_session'] as const;

export interface LatencyMs {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface KindSummary {
  count: number;
  errors: number;
  /** Text of the first failure (secrets removed). */
  first_error?: string;
  latency_ms: LatencyMs;
}

function newHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

const ms = (us: number) => Math.round(us) / 1000;

function latency(h: Histogram): LatencyMs {
  if (h.totalCount === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
  return {
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
  };
}

class KindStats {
  readonly histogram = newHistogram();
  errors = 0;
  firstError?: string;

  record(elapsedMs: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(elapsedMs * 1000)));
  }

  summary(): KindSummary {
    return {
      count: this.histogram.totalCount,
      errors: this.errors,
      ...(this.firstError === undefined ? {} : { first_error: this.firstError }),
      latency_ms: latency(this.histogram),
    };
  }
}

export interface TickSnapshot {
  elapsedMs: number;
  requestsPerSecond: number;
  /** Of the requests completed since the last tick (zero when there were none). */
  p50Ms: number;
  p99Ms: number;
  enrolled: { apple: number; windows: number };
  errors: number;
  pushes: number;
}

export class SimMetrics {
  private readonly kinds = new Map<MetricKind, KindStats>(metricKinds.map((k) => [k, new KindStats()]));
  private recent = newHistogram();
  private lastTickAt: number;
  readonly startedAt: number;
  readonly enrolled = { apple: 0, windows: 0 };
  readonly started = { apple: 0, windows: 0 };
  readonly commands = { apple: 0, windows: 0 };
  pushes = 0;
  /** Requests answered with HTTP 4xx/5xx or that got no answer. */
  failedRequests = 0;

  constructor(
    /** Removes secrets from error texts before they are kept. */
    private readonly redact: (text: string) => string = (t) => t,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.startedAt = this.now();
    this.lastTickAt = this.startedAt;
  }

  /** A finished operation or request of this kind. */
  record(kind: MetricKind, elapsedMs: number): void {
    this.stats(kind).record(elapsedMs);
    if (kind === 'http_request') this.recent.recordValue(Math.max(1, Math.round(elapsedMs * 1000)));
  }

  /** A failed operation or request; its time still counts (a slow failure is a slow answer). */
  fail(kind: MetricKind, err: unknown, elapsedMs?: number): void {
    const s = this.stats(kind);
    if (elapsedMs !== undefined) this.record(kind, elapsedMs);
    s.errors++;
    if (kind === 'http_request') this.failedRequests++;
    s.firstError ??= this.redact(errorText(err)).slice(0, 300);
  }

  /** Errors of whole operations (what the progress line and the exit status report). */
  get errors(): number {
    return operationKinds.reduce((n, k) => n + this.stats(k).errors, 0);
  }

  get requests(): number {
    return this.stats('http_request').histogram.totalCount;
  }

  /** For the progress line: rates and percentiles since the previous tick. */
  tick(): TickSnapshot {
    const at = this.now();
    const seconds = Math.max(0.001, (at - this.lastTickAt) / 1000);
    const recent = this.recent;
    this.recent = newHistogram();
    this.lastTickAt = at;
    return {
      elapsedMs: at - this.startedAt,
      requestsPerSecond: recent.totalCount / seconds,
      p50Ms: recent.totalCount ? ms(recent.getValueAtPercentile(50)) : 0,
      p99Ms: recent.totalCount ? ms(recent.getValueAtPercentile(99)) : 0,
      enrolled: { ...this.enrolled },
      errors: this.errors,
      pushes: this.pushes,
    };
  }

  kindSummaries(): Record<MetricKind, KindSummary> {
    return Object.fromEntries(metricKinds.map((k) => [k, this.stats(k).summary()])) as Record<
      MetricKind,
      KindSummary
    >;
  }

  elapsedMs(): number {
    return this.now() - this.startedAt;
  }

  private stats(kind: MetricKind): KindStats {
    return this.kinds.get(kind) as KindStats;
  }
}

/** One line for an error: its message (with the cause's, as fetch hides the socket error there). */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`.replace(/\s+/g, ' ').trim();
}
