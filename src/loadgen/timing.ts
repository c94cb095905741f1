/**
 * Waiting in the simulated devices: the end of the run stops every wait at once, and a push ends
 * an Apple device's wait early (one that arrives mid-session is kept for the next wait).
 */

export class StopSignal {
  private stoppedFlag = false;
  private readonly listeners = new Set<() => void>();

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  stop(): void {
    if (this.stoppedFlag) return;
    this.stoppedFlag = true;
    for (const fn of [...this.listeners]) fn();
    this.listeners.clear();
  }

  /** Calls `fn` at the stop; returns the unsubscribe function. */
  onStop(fn: () => void): () => void {
    if (this.stoppedFlag) {
      fn();
      return () => {};
    }
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves after `ms`, or at the stop if that comes first. */
  sleep(ms: number): Promise<void> {
    return new Wake().wait(ms, this);
  }
}

export class Wake {
  private pending = false;
  private wakeUp?: () => void;

  /** Ends the current wait, or the next one if none is running. */
  wake(): void {
    this.pending = true;
    this.wakeUp?.();
  }

  /** Waits for `ms`, a wake or the stop; a wake that came before returns at once (and is used up). */
  async wait(ms: number, stop: StopSignal): Promise<void> {
    if (this.pending || stop.stopped) {
      this.pending = false;
      return;
    }
    await new Promise<void>((resolve) => {
      let unsubscribe = () => {};
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      unsubscribe = stop.onStop(done);
      this.wakeUp = done;
    });
    this.pending = false;
  }
}

/** A uniformly random time in [min, max]. */
export function randomBetween(minMs: number, maxMs: number): number {
  return minMs + Math.random() * (maxMs - minMs);
}
