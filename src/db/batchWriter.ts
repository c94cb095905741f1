import type { Logger } from 'pino';

/**
 * Collects small writes that need not happen inside the request (last-seen times, delivery
 * counts) and flushes them in one statement every `intervalMs` or when `maxItems` pile up.
 * Keys repeat often; each is written once per flush.
 */
export class BatchWriter<T> {
  private pending = new Map<string, T>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly opts: { intervalMs: number; maxItems: number; logger?: Logger; name: string },
  ) {}

  add(key: string, item: T): void {
    this.pending.set(key, item);
    if (this.pending.size >= this.opts.maxItems) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.opts.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes everything pending now (also called on shutdown and by tests). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const items = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.flushing.then(async () => {
      if (items.length === 0) return;
      try {
        await this.write(items);
      } catch (err) {
        this.opts.logger?.error({ err, batch: this.opts.name, items: items.length }, 'batched write failed');
      }
    });
    return this.flushing;
  }
}
