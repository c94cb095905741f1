import type { Logger } from 'pino';

export interface AppleCommandResultEvent {
  enrollmentId: string;
  hostUuid: string;
  commandUuid: string;
  requestType: string;
  status: string;
  raw: Buffer;
  result: Record<string, unknown>;
}

export interface AppleEnrolledEvent {
  hostId: number;
  hostUuid: string;
  enrollmentId: string;
  platform: string;
}

export interface AppleCheckedOutEvent {
  hostId: number | null;
  hostUuid: string;
  enrollmentId: string;
}

/** A user channel (macOS user, `UDID:UserID`) sent its TokenUpdate. */
export interface AppleUserChannelEvent {
  hostUuid: string;
  enrollmentId: string;
}

export interface DeclarativeManagementRequest {
  enrollmentId: string;
  hostUuid: string;
  endpoint: string;
  data: Buffer | undefined;
}

export interface DeclarativeManagementResponse {
  status: number;
  body: Buffer | string;
  contentType?: string;
}

export type DeclarativeManagementHandler = (
  req: DeclarativeManagementRequest,
) => Promise<DeclarativeManagementResponse>;

/**
 * Where other areas (profiles, DDM, disk encryption) hook into Apple check-ins: command results,
 * enrollment turned on, check-out, and the one DDM handler. Listeners run inside the device
 * request after the protocol state is stored; a failing listener is logged and the device still
 * gets its answer (as Fleet does with its hooks).
 */
export class AppleMdmEvents {
  private readonly commandResultListeners: ((r: AppleCommandResultEvent) => Promise<void>)[] = [];
  private readonly enrolledListeners: ((e: AppleEnrolledEvent) => Promise<void>)[] = [];
  private readonly checkedOutListeners: ((e: AppleCheckedOutEvent) => Promise<void>)[] = [];
  private readonly userChannelListeners: ((e: AppleUserChannelEvent) => Promise<void>)[] = [];

  constructor(private readonly logger?: Logger) {}

  onCommandResult(fn: (r: AppleCommandResultEvent) => Promise<void>): void {
    this.commandResultListeners.push(fn);
  }

  onEnrolled(fn: (e: AppleEnrolledEvent) => Promise<void>): void {
    this.enrolledListeners.push(fn);
  }

  onCheckedOut(fn: (e: AppleCheckedOutEvent) => Promise<void>): void {
    this.checkedOutListeners.push(fn);
  }

  onUserChannel(fn: (e: AppleUserChannelEvent) => Promise<void>): void {
    this.userChannelListeners.push(fn);
  }

  private async run<T>(event: string, listeners: ((x: T) => Promise<void>)[], value: T): Promise<void> {
    for (const fn of listeners) {
      try {
        await fn(value);
      } catch (err) {
        this.logger?.error({ err, event }, 'apple mdm event listener failed');
      }
    }
  }

  emitCommandResult(r: AppleCommandResultEvent): Promise<void> {
    return this.run('commandResult', this.commandResultListeners, r);
  }

  emitEnrolled(e: AppleEnrolledEvent): Promise<void> {
    return this.run('enrolled', this.enrolledListeners, e);
  }

  emitCheckedOut(e: AppleCheckedOutEvent): Promise<void> {
    return this.run('checkedOut', this.checkedOutListeners, e);
  }

  emitUserChannel(e: AppleUserChannelEvent): Promise<void> {
    return this.run('userChannel', this.userChannelListeners, e);
  }
}
