import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { AmapiDevice, AmapiOperation } from '../../clients/amapi/types.js';
import { badRequest, HttpError, unauthenticated } from '../../http/errors.js';
import type { AndroidCommandService, SettleOutcome } from '../commands/service.js';
import { parseDeviceName, UnusableDevice } from '../devices/deviceFields.js';
import {
  NeedsEnrollmentFacts,
  type AndroidDeviceService,
  type AppliedDevice,
  type PreparedDevice,
} from '../devices/service.js';
import type { PushCredentials } from './credentials.js';
import type { PushOidcVerifier } from './oidc.js';
import {
  decodeResource,
  NotAPushRequest,
  parsePushRequest,
  UnreadableData,
  type PushMessage,
} from './pushBody.js';
import type { AndroidPubsubStore } from './store.js';

/** What the push endpoint answers (a 2xx acks the message; anything else makes Pub/Sub retry). */
export interface PushAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** One push as the route hands it over. */
export interface PushRequest {
  /** The `token` query parameter. */
  token: string | undefined;
  /** The Authorization header (Pub/Sub's OIDC token, when the subscription asks for one). */
  authorization: string | undefined;
  body: string;
}

const ok: PushAnswer = { status: 200, body: {} };

/** A message acked without effect, with the reason (Pub/Sub ignores the body; people reading it do not). */
const dropped = (name: string, reason: string): PushAnswer => ({
  status: 200,
  body: { message: 'Validation Failed', errors: [{ name, reason }] },
});

/** Hash both sides first, so the comparison takes the same time whatever the lengths. */
function sameSecret(given: string, expected: Buffer): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Notification types AMAPI sends that carry nothing for MDM. */
const ignoredTypes = new Set(['USAGE_LOGS', 'ENTERPRISE_UPGRADE']);

/**
 * The Pub/Sub push endpoint's behaviour: authenticates the push (token, and Google's OIDC token
 * when configured), reads the notification and dispatches it: ENROLLMENT and STATUS_REPORT to the
 * device ingest, COMMAND to command settlement. Each message's effects and its ID (the duplicate
 * check) commit together. Answers follow Pub/Sub's contract: 2xx acks (done, or poison that a
 * retry cannot fix), non-2xx makes Pub/Sub deliver again (our database failed, or an operation
 * whose command row is not committed yet).
 */
export class AndroidPubsubService {
  constructor(
    private readonly deps: {
      store: AndroidPubsubStore;
      /** The bound enterprise and the push token registered with Google. */
      credentials: Pick<PushCredentials, 'get'>;
      oidc: PushOidcVerifier | undefined;
      devices: AndroidDeviceService;
      commands: Pick<AndroidCommandService, 'settle'>;
      logger: Logger;
    },
  ) {}

  async handle(req: PushRequest): Promise<PushAnswer> {
    const log = this.deps.logger;
    const credentials = await this.deps.credentials.get();
    if (!credentials) {
      // 200 so Pub/Sub stops delivering to a server that turned Android off.
      log.info('android pubsub: Android MDM is not configured; push dropped');
      return dropped('android', 'Android MDM is NOT configured');
    }
    const { enterpriseId, token: expected } = credentials;
    if (!req.token || !sameSecret(req.token, expected)) {
      log.warn({ token_given: Boolean(req.token) }, 'android pubsub: push refused: wrong or missing token');
      throw unauthenticated(req.token ? 'invalid Android Pub/Sub token' : 'missing Android Pub/Sub token');
    }
    if (this.deps.oidc) {
      try {
        await this.deps.oidc.verify(req.authorization);
      } catch (err) {
        if (err instanceof HttpError)
          log.warn(
            { status: err.statusCode, reason: err.errors[0]?.reason },
            'android pubsub: push refused: OIDC',
          );
        throw err;
      }
    }
    let msg: PushMessage;
    try {
      msg = parsePushRequest(req.body);
    } catch (err) {
      if (err instanceof NotAPushRequest) {
        log.warn({ reason: err.message }, 'android pubsub: not a push request');
        throw badRequest(`not a Pub/Sub push request: ${err.message}`, 'message');
      }
      throw err;
    }
    const type = msg.notificationType;
    const ctx = { message_id: msg.messageId, type: type ?? null };
    if (type === undefined || type === 'TEST') {
      log.info(ctx, 'android pubsub: nothing to process');
      return ok;
    }
    if (ignoredTypes.has(type)) {
      log.info(ctx, 'android pubsub: notification type ignored');
      return ok;
    }
    if (type !== 'ENROLLMENT' && type !== 'STATUS_REPORT' && type !== 'COMMAND') {
      log.info(ctx, 'android pubsub: unknown notification type ignored');
      return ok;
    }
    let resource: Record<string, unknown>;
    try {
      resource = decodeResource(msg.data);
    } catch (err) {
      if (!(err instanceof UnreadableData)) throw err;
      log.warn({ ...ctx, reason: err.message }, 'android pubsub: message dropped');
      return dropped('message.data', err.message);
    }
    return type === 'COMMAND'
      ? this.command(msg, resource as unknown as AmapiOperation, enterpriseId)
      : this.device(msg, type, resource as unknown as AmapiDevice, enterpriseId);
  }

  private async device(
    msg: PushMessage,
    type: 'ENROLLMENT' | 'STATUS_REPORT',
    device: AmapiDevice,
    enterpriseId: string,
  ): Promise<PushAnswer> {
    const log = this.deps.logger;
    const ctx = {
      message_id: msg.messageId,
      type,
      device: typeof device.name === 'string' ? device.name : null,
    };
    let applied: AppliedDevice | undefined;
    try {
      const ids = parseDeviceName(device.name);
      if (!ids) throw new UnusableDevice('the device name is not enterprises/{id}/devices/{id}');
      if (ids.enterpriseId !== enterpriseId)
        throw new UnusableDevice('the device belongs to another enterprise');
      const run = async (prepared: PreparedDevice) =>
        this.deps.store.transaction(async (trx) => {
          if (!(await this.deps.store.recordMessage(trx, msg.messageId))) return undefined;
          return this.deps.devices.apply(trx, prepared);
        });
      try {
        applied = await run(await this.deps.devices.prepare(type, device));
      } catch (err) {
        // A status report that turns out to enroll its host: again, with the enrollment facts.
        if (!(err instanceof NeedsEnrollmentFacts)) throw err;
        applied = await run(await this.deps.devices.prepare(type, device, { enrollmentFacts: true }));
      }
    } catch (err) {
      if (!(err instanceof UnusableDevice)) throw err;
      log.warn({ ...ctx, reason: err.message }, 'android pubsub: message dropped');
      return dropped('device', err.message);
    }
    if (!applied) {
      log.info(ctx, 'android pubsub: duplicate message ignored');
      return ok;
    }
    if (applied.outcome === 'stale' || applied.outcome === 'unknown_host') {
      log.info({ ...ctx, outcome: applied.outcome }, 'android pubsub: nothing to change');
    }
    await applied.afterCommit();
    return ok;
  }

  private async command(msg: PushMessage, op: AmapiOperation, enterpriseId: string): Promise<PushAnswer> {
    const log = this.deps.logger;
    if (typeof op.name !== 'string' || !op.name) {
      log.warn(
        { message_id: msg.messageId, type: 'COMMAND' },
        'android pubsub: message dropped: no operation name',
      );
      return dropped('operation', 'the operation has no name');
    }
    const ctx = { message_id: msg.messageId, type: 'COMMAND', operation: op.name };
    let outcome: SettleOutcome | 'duplicate';
    try {
      outcome = await this.deps.store.transaction(async (trx) => {
        if (!(await this.deps.store.recordMessage(trx, msg.messageId))) return 'duplicate';
        const o = await this.deps.commands.settle(trx, op, enterpriseId);
        // Rolled back (message not recorded), so the redelivery is handled afresh.
        if (o === 'unknown_ours') throw new OperationNotRecordedYet();
        return o;
      });
    } catch (err) {
      if (!(err instanceof OperationNotRecordedYet)) throw err;
      log.warn(ctx, 'android pubsub: operation of this enterprise not recorded (yet); Pub/Sub will retry');
      throw new HttpError(503, 'Service Unavailable', [
        { name: 'operation', reason: 'the command of this operation is not recorded yet; deliver it again' },
      ]);
    }
    log.info({ ...ctx, outcome }, 'android pubsub: command notification handled');
    return ok;
  }
}

class OperationNotRecordedYet extends Error {}
