import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * How busy the load generator itself was. Its latencies are only the server's when it had CPU to
 * spare: a late event loop delays reading every answer, and that wait is counted as latency.
 */
export interface SelfLoad {
  /** CPU time this process used during the run (user + system). */
  cpu_seconds: number;
  /** That time over the run's wall-clock time (100 = one core busy all along). */
  cpu_percent: number;
  /** How late the event loop ran timers (sampled every 10 ms). */
  event_loop_delay_ms: { p50: number; p99: number; max: number };
}

/** Past this p99 event-loop delay the summary warns that the figures include the generator's own waiting. */
export const busyLoopDelayMs = 100;

export class SelfLoadMonitor {
  private readonly delay = monitorEventLoopDelay({ resolution: 10 });
  private readonly cpuAtStart = process.cpuUsage();
  private readonly startedAt = performance.now();

  constructor() {
    this.delay.enable();
  }

  stop(): SelfLoad {
    this.delay.disable();
    const cpu = process.cpuUsage(this.cpuAtStart);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const wallSeconds = Math.max(0.001, (performance.now() - this.startedAt) / 1000);
    // The histogram is in nanoseconds and includes the sampling interval itself.
    const ms = (ns: number) => Math.round(Math.max(0, ns / 1e6 - 10) * 10) / 10;
    const hasSamples = this.delay.count > 0;
    return {
      cpu_seconds: Math.round(cpuSeconds * 100) / 100,
      cpu_percent: Math.round((cpuSeconds / wallSeconds) * 1000) / 10,
      event_loop_delay_ms: {
        p50: hasSamples ? ms(this.delay.percentile(50)) : 0,
        p99: hasSamples ? ms(this.delay.percentile(99)) : 0,
        max: hasSamples ? ms(this.delay.max) : 0,
      },
    };
  }
}
