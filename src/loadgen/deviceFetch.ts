import type { MetricKind, SimMetrics } from './metrics.js';

/**
 * The fetch each simulated device is given: it times every request until its body has been read
 * (the answer is then handed on from memory), counts it, and files it under the kind the device's
 * current phase names. A request that gets no answer in time is aborted and fails.
 */

export const requestTimeoutMs = 60_000;

/** What a device is doing now, set by its driver; decides the kind of each request. */
export interface DevicePhase {
  /** Session requests of that kind; none while enrolling (the enrollment is timed as a whole). */
  sessionKind?: (req: { method: string; index: number }) => MetricKind | undefined;
  /** Requests sent since the session began. */
  index: number;
}

const nullBodyStatuses = new Set([101, 204, 205, 304]);

export function deviceFetch(
  metrics: SimMetrics,
  phase: DevicePhase,
  base: typeof fetch = fetch,
): typeof fetch {
  return async (input, init) => {
    const method = (init?.method ?? 'GET').toUpperCase();
    const kind = phase.sessionKind?.({ method, index: phase.index++ });
    const t0 = performance.now();
    const fail = (err: unknown) => {
      const elapsed = performance.now() - t0;
      metrics.fail('http_request', err, elapsed);
      if (kind) metrics.fail(kind, err, elapsed);
    };
    let res: Response;
    let body: ArrayBuffer;
    try {
      res = await base(input, { ...init, signal: init?.signal ?? AbortSignal.timeout(requestTimeoutMs) });
      body = await res.arrayBuffer();
    } catch (err) {
      fail(err);
      throw err;
    }
    const elapsed = performance.now() - t0;
    if (res.status >= 400) {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      fail(new Error(`HTTP ${res.status} from ${method} ${new URL(url).pathname}`));
    } else {
      metrics.record('http_request', elapsed);
      if (kind) metrics.record(kind, elapsed);
    }
    return new Response(nullBodyStatuses.has(res.status) ? null : body, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}
