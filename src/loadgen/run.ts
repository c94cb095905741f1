import type { FakeApnsServer } from '../clients/apns/fakeServer.js';
import { AdminApi, SimSetupError } from './adminApi.js';
import { startApnsStandIn, type StandInSettings } from './apnsStandIn.js';
import { runAppleDevice } from './appleLoad.js';
import type { DeviceRunContext } from './context.js';
import { KeyPool } from './keyPool.js';
import {
  SimMetrics,
  type KindSummary,
  type MetricKind,
  type TickSnapshot,
  operationKinds,
} from './metrics.js';
import type { SimOptions } from './options.js';
import { busyLoopDelayMs, SelfLoadMonitor, type SelfLoad } from './selfLoad.js';
import { randomBetween, StopSignal } from './timing.js';
import { runWindowsDevice } from './windowsLoad.js';

/** The run's outcome, as `--json` prints it. */
export interface SimSummary {
  server: string;
  elapsed_seconds: number;
  /** Whether the run ended early (Ctrl-C). */
  interrupted: boolean;
  devices: Record<'apple' | 'windows', { planned: number; started: number; enrolled: number }>;
  requests: { total: number; per_second: number; failed: number };
  /** Pushes the APNs stand-in accepted for the simulated devices (null without the stand-in). */
  pushes_received: number | null;
  /** Commands the devices carried out: Apple commands answered, Windows SyncML commands executed. */
  commands: { apple: number; windows: number };
  errors: { total: number; by_kind: Partial<Record<MetricKind, { count: number; first_error: string }>> };
  kinds: Record<MetricKind, KindSummary>;
  apns_stand_in: StandInSettings | null;
  /** How busy this process was: figures taken while it was short of CPU include its own waiting. */
  load_generator: SelfLoad;
  warnings: string[];
}

export interface RunHooks {
  /** Called about once a second with the live figures. */
  onTick?: (t: TickSnapshot, planned: { apple: number; windows: number }) => void;
  /** Called once the APNs stand-in listens (before any device starts). */
  onApnsReady?: (settings: StandInSettings) => void;
  /** Aborting ends the run early; the summary is still made. */
  signal?: AbortSignal;
}

/** Keys made ahead for the devices to share (see KeyPool). */
const keyPoolSize = 4;

/** The order devices start in: the two platforms interleaved in proportion. */
export function startOrder(apple: number, windows: number): ('apple' | 'windows')[] {
  const order: ('apple' | 'windows')[] = [];
  let a = 0;
  let w = 0;
  while (a < apple || w < windows) {
    // The platform that is further behind its share goes next.
    if (w >= windows || (a < apple && a / apple <= w / windows)) {
      order.push('apple');
      a++;
    } else {
      order.push('windows');
      w++;
    }
  }
  return order;
}

/**
 * Runs the simulated fleet against the server for the run's duration. Setup problems (no access,
 * MDM not set up, no enroll secret, the stand-in's port taken) throw SimSetupError before any
 * device starts; once running, every failure is counted, none ends the run.
 */
export async function runSimulation(opts: SimOptions, hooks: RunHooks = {}): Promise<SimSummary> {
  // Made while the server is asked for the enrollment material.
  const keyPool = KeyPool.make(Math.min(keyPoolSize, opts.apple + opts.windows));
  const admin = await AdminApi.connect(opts.server, opts.auth);
  const mdm = await admin.mdmSwitches();
  if (opts.apple > 0 && !mdm.apple)
    throw new SimSetupError(
      'Apple MDM is not set up on the server (no APNs certificate): upload one, or run with --apple 0',
    );
  if (opts.windows > 0 && !mdm.windows)
    throw new SimSetupError(
      'Windows MDM is off on the server (mdm.windows_enabled_and_configured): turn it on, or run with --windows 0',
    );
  let enrollSecret = '';
  if (opts.windows > 0) {
    enrollSecret = (await admin.enrollSecret(opts.team)) ?? '';
    if (!enrollSecret)
      throw new SimSetupError(
        `the server has no enroll secret for ${opts.team === undefined ? 'no team' : `team ${opts.team}`}: add one first`,
      );
  }

  const secrets = [admin.secret, enrollSecret, 'password' in opts.auth ? opts.auth.password : ''].filter(
    (s) => s.length >= 4,
  );
  const redact = (text: string) => secrets.reduce((t, s) => t.split(s).join('<redacted>'), text);

  let apns: FakeApnsServer | undefined;
  let settings: StandInSettings | undefined;
  if (opts.apple > 0 && opts.apnsListen) {
    try {
      ({ apns, settings } = await startApnsStandIn(opts.apnsListen, opts.apnsDir));
    } catch (err) {
      const { host, port } = opts.apnsListen;
      throw new SimSetupError(
        `the APNs stand-in cannot listen on ${host}:${port}: ${(err as Error).message} (choose another with --apns-listen)`,
      );
    }
    hooks.onApnsReady?.(settings);
  }

  try {
    const keys = await keyPool;
    const metrics = new SimMetrics(redact);
    const selfLoad = new SelfLoadMonitor();
    const stop = new StopSignal();
    const ctx: DeviceRunContext = {
      server: opts.server,
      metrics,
      stop,
      keys,
      thinkMs: () => randomBetween(opts.think.minMs, opts.think.maxMs),
    };
    const planned = { apple: opts.apple, windows: opts.windows };
    const ticker = setInterval(() => hooks.onTick?.(metrics.tick(), planned), 1000);
    const ends = setTimeout(() => stop.stop(), opts.durationMs);
    const onAbort = () => stop.stop();
    hooks.signal?.addEventListener('abort', onAbort);
    if (hooks.signal?.aborted) stop.stop();

    const running: Promise<void>[] = [];
    const gapMs = 1000 / opts.rampPerSecond;
    const rampStart = performance.now();
    for (const [i, platform] of startOrder(opts.apple, opts.windows).entries()) {
      if (stop.stopped) break;
      metrics.started[platform]++;
      running.push(
        platform === 'apple'
          ? runAppleDevice(ctx, { enrollmentProfile: (f) => admin.appleEnrollmentProfile(f), apns })
          : runWindowsDevice(ctx, enrollSecret),
      );
      // On a schedule from the start, so a late timer does not slow the ramp down.
      await stop.sleep(Math.max(0, rampStart + (i + 1) * gapMs - performance.now()));
    }
    await new Promise<void>((resolve) => stop.onStop(resolve));
    // Sessions under way finish (each request is bounded by its timeout); nothing new starts.
    await Promise.allSettled(running);
    clearInterval(ticker);
    clearTimeout(ends);
    hooks.signal?.removeEventListener('abort', onAbort);
    return summarize(opts, metrics, planned, {
      interrupted: !!hooks.signal?.aborted,
      settings: apns ? settings : undefined,
      selfLoad: selfLoad.stop(),
    });
  } finally {
    await apns?.close();
  }
}

function summarize(
  opts: SimOptions,
  metrics: SimMetrics,
  planned: { apple: number; windows: number },
  run: { interrupted: boolean; settings?: StandInSettings; selfLoad: SelfLoad },
): SimSummary {
  const { interrupted, settings, selfLoad } = run;
  const elapsed = metrics.elapsedMs() / 1000;
  const kinds = metrics.kindSummaries();
  const byKind: SimSummary['errors']['by_kind'] = {};
  for (const k of operationKinds) {
    if (kinds[k].errors) byKind[k] = { count: kinds[k].errors, first_error: kinds[k].first_error ?? '' };
  }
  const warnings: string[] = [];
  const firstErrors = Object.values(byKind).map((e) => e.first_error);
  if (firstErrors.some((t) => / 429\b|HTTP 429/.test(t)))
    warnings.push(
      'the server limited enrollment requests from this address (HTTP 429): for a sizing run set ' +
        'FLOTILLA_ENROLL_REQUESTS_PER_ADDRESS=0 on the server under test, or lower --ramp',
    );
  // Commands with no push at all: the server queued them but its pushes went elsewhere.
  if (settings && metrics.commands.apple > 0 && metrics.pushes === 0)
    warnings.push(
      `the Macs got commands but no push reached the APNs stand-in (they woke at their think times): ` +
        `start the server under test with FLOTILLA_APNS_BASE_URL=${settings.baseUrl} and ` +
        `FLOTILLA_APNS_CA_FILE=${settings.caFile}`,
    );
  if (selfLoad.event_loop_delay_ms.p99 > busyLoopDelayMs)
    warnings.push(
      `this load generator was itself short of CPU (event-loop delay p99 ${selfLoad.event_loop_delay_ms.p99} ms, ` +
        `${selfLoad.cpu_percent}% CPU): its latencies include its own waiting; run it on another machine ` +
        `than the server, or split the devices over several processes`,
    );
  if (metrics.started.apple + metrics.started.windows < planned.apple + planned.windows)
    warnings.push('the run ended before every device had started: raise --ramp or --duration');
  return {
    server: opts.server,
    elapsed_seconds: Math.round(elapsed * 1000) / 1000,
    interrupted,
    devices: {
      apple: { planned: planned.apple, started: metrics.started.apple, enrolled: metrics.enrolled.apple },
      windows: {
        planned: planned.windows,
        started: metrics.started.windows,
        enrolled: metrics.enrolled.windows,
      },
    },
    requests: {
      total: metrics.requests,
      per_second: Math.round((metrics.requests / Math.max(elapsed, 0.001)) * 10) / 10,
      failed: metrics.failedRequests,
    },
    pushes_received: settings ? metrics.pushes : null,
    commands: { ...metrics.commands },
    errors: { total: metrics.errors, by_kind: byKind },
    kinds,
    apns_stand_in: settings ?? null,
    load_generator: selfLoad,
    warnings,
  };
}
