/** Result of a closed-loop load run. */
export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p95Ms: number;
}

export interface LoadOptions {
  /** Builds each request (called per request, so it may vary the path). */
  request: () => { url: string; init?: RequestInit };
  concurrency: number;
  durationMs: number;
  /** Requests sent before measuring starts (warms caches and JIT). */
  warmupRequests?: number;
  /** Status the server must answer; anything else counts as an error. */
  expectStatus?: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * `concurrency` workers each send one request after another for `durationMs` (a closed loop, so
 * the load never exceeds what the server answers). Bodies are read fully.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const expect = opts.expectStatus ?? 200;
  const once = async (): Promise<boolean> => {
    const { url, init } = opts.request();
    const res = await fetch(url, init);
    await res.arrayBuffer();
    return res.status === expect;
  };
  for (let i = 0; i < (opts.warmupRequests ?? 0); i++) {
    if (!(await once())) throw new Error(`warm-up request failed (expected status ${expect})`);
  }
  const latencies: number[] = [];
  let errors = 0;
  const began = performance.now();
  const deadline = began + opts.durationMs;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const ok = await once().catch(() => false);
      latencies.push(performance.now() - t0);
      if (!ok) errors++;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = (performance.now() - began) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    seconds,
    requestsPerSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
  };
}

/** Prints one figure as the JSON line `npm run bench` collects. */
export function reportFigure(bench: string, value: number, unit: string): void {
  process.stdout.write(`${JSON.stringify({ bench, value: Math.round(value * 100) / 100, unit })}\n`);
}
