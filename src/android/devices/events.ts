import type { AmapiDevice } from '../../clients/amapi/types.js';

export interface AndroidStatusReportEvent {
  hostUuid: string;
  hostId: number;
  device: AmapiDevice;
  appliedPolicyVersion: number | null;
}

export interface AndroidEnrolledEvent {
  hostId: number;
  hostUuid: string;
  teamId: number | null;
  deviceName: string;
}

export interface AndroidUnenrolledEvent {
  hostId: number;
  hostUuid: string;
}

type Listener<E> = (e: E) => Promise<void>;

/** Runs every listener even when one fails; then throws the failures together. */
async function runAll<E>(listeners: Listener<E>[], e: E): Promise<void> {
  const errors: unknown[] = [];
  for (const fn of listeners) {
    try {
      await fn(e);
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'android device event listeners failed');
}

/**
 * What the Pub/Sub ingest tells other Android parts (profiles) after a device notification is
 * stored. Listeners run after the notification's transaction has committed, one after another; a
 * failing listener does not stop the others, and its failure (thrown after all have run) is the
 * caller's to log: it does not undo what was stored.
 */
export class AndroidDeviceEvents {
  private readonly statusReport: Listener<AndroidStatusReportEvent>[] = [];
  private readonly enrolled: Listener<AndroidEnrolledEvent>[] = [];
  private readonly unenrolled: Listener<AndroidUnenrolledEvent>[] = [];

  onStatusReport(fn: Listener<AndroidStatusReportEvent>): void {
    this.statusReport.push(fn);
  }

  onEnrolled(fn: Listener<AndroidEnrolledEvent>): void {
    this.enrolled.push(fn);
  }

  /** The device left management (DELETED): the host is no longer enrolled. */
  onUnenrolled(fn: Listener<AndroidUnenrolledEvent>): void {
    this.unenrolled.push(fn);
  }

  async emitStatusReport(e: AndroidStatusReportEvent): Promise<void> {
    await runAll(this.statusReport, e);
  }

  async emitEnrolled(e: AndroidEnrolledEvent): Promise<void> {
    await runAll(this.enrolled, e);
  }

  async emitUnenrolled(e: AndroidUnenrolledEvent): Promise<void> {
    await runAll(this.unenrolled, e);
  }
}
