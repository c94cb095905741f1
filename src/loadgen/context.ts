import type { KeyPool } from './keyPool.js';
import type { SimMetrics } from './metrics.js';
import type { StopSignal } from './timing.js';

/** What every simulated device of a run shares. */
export interface DeviceRunContext {
  /** The server's base URL (devices reach it here even when it advertises another). */
  server: string;
  metrics: SimMetrics;
  stop: StopSignal;
  keys: KeyPool;
  /** The next think time (random in the --think range). */
  thinkMs: () => number;
}
