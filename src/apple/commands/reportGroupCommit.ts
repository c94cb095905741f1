import type { BatchedReport, BatchedReportOutcome, ReportBatchStore } from './reportBatchStore.js';

interface Waiting {
  report: BatchedReport;
  resolve: (o: BatchedReportOutcome) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit of device reports: a report waits while the batches before it are being written,
 * then goes with every other report that arrived meanwhile in one transaction. Nothing waits on a
 * timer: an idle server writes a lone report at once, a busy one writes bigger batches. Each
 * caller's promise settles only after its batch has committed (or failed, as a whole), so a device
 * is answered only once its report is durable.
 */
export class ReportGroupCommit {
  private waiting: Waiting[] = [];
  private running = 0;

  constructor(
    private readonly store: ReportBatchStore,
    private readonly opts: {
      /** Reports per transaction at most. */
      maxBatch: number;
      /** Transactions in flight at once (each holds one database connection). */
      maxConcurrent: number;
    },
  ) {}

  submit(report: BatchedReport): Promise<BatchedReportOutcome> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ report, resolve, reject });
      if (this.running < this.opts.maxConcurrent) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running++;
    try {
      while (this.waiting.length) {
        const batch = this.waiting.splice(0, this.opts.maxBatch);
        try {
          const outcomes = await this.store.storeReportsAndReadNext(batch.map((w) => w.report));
          batch.forEach((w, i) => w.resolve(outcomes[i]));
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      this.running--;
    }
  }
}
