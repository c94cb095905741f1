import type { Logger } from 'pino';
import { dbNow } from '../../db/dialect.js';
import { BatchWriter } from '../../db/batchWriter.js';
import { buildPlist } from '../commands/build.js';
import type { AppleCommandQueue } from '../commands/queue.js';
import type { CommandQueueStore } from '../commands/store.js';
import type { AppleMdmEvents, DeclarativeManagementHandler } from '../events.js';
import {
  isDeviceChannel,
  MdmRequestError,
  platformFromProductName,
  type AuthenticateMessage,
  type CheckOutMessage,
  type CommandReport,
  type DeclarativeManagementMessage,
  type GetBootstrapTokenMessage,
  type GetTokenMessage,
  type ReturnToServiceMessage,
  type SetBootstrapTokenMessage,
  type TokenUpdateMessage,
  type UserAuthenticateMessage,
} from './messages.js';
import type { AuthenticateKind, CheckinAndCommandService, MdmReply, MdmRequest } from './service.js';
import type { EnrollmentStore } from './store.js';

/** Subject OU that enrollment profiles put in fresh identities; renewal profiles leave it out. */
export const freshEnrollmentOu = 'Fleet Device Enrollment';

const plistType = 'application/xml; charset=UTF-8';

/** An enrollment's last-seen time is written at most this often by one process. */
const LAST_SEEN_EVERY_MS = 60_000;
/** Bound on the per-process memory of when each enrollment's last-seen was written. */
const LAST_SEEN_MEMORY = 200_000;

/**
 * Second link: the protocol state NanoMDM keeps — devices, users, enrollments, push tokens,
 * bootstrap tokens, the command queue and results. Knows nothing about hosts.
 */
export class CoreCheckinService implements CheckinAndCommandService {
  private readonly lastSeen: BatchWriter<string>;
  private readonly lastSeenWrittenAt = new Map<string, number>();

  constructor(
    private readonly store: EnrollmentStore,
    private readonly queueStore: CommandQueueStore,
    private readonly queue: AppleCommandQueue,
    private readonly events: AppleMdmEvents,
    logger?: Logger,
    /** Answers DeclarativeManagement check-ins (the declarations service). */
    private readonly declarativeManagementHandler?: DeclarativeManagementHandler,
  ) {
    // Last-seen times are written in batches (every 2 s or 1,000 ids), as Fleet does.
    this.lastSeen = new BatchWriter((ids) => store.touchLastSeen(ids, dbNow()), {
      intervalMs: 2000,
      maxItems: 1000,
      logger,
      name: 'apple_last_seen',
    });
  }

  /** Writes buffered last-seen times and delivery counts now (shutdown, tests). */
  async flush(): Promise<void> {
    await this.lastSeen.flush();
    await this.queue.flush();
  }

  /** Decides which kind of Authenticate this is (see AuthenticateKind). */
  private async authenticateKind(r: MdmRequest): Promise<AuthenticateKind> {
    const deviceId = r.enrollment.deviceId;
    const device = await this.store.getDevice(deviceId);
    if (!device) return 'first';
    const enrollment = await this.store.getEnrollment(deviceId);
    if (enrollment?.enrolled_from_migration) return 'migration';
    // Issued through the challenge of the renewal command this device was sent.
    if (r.notes.claimGround === 'renewal') return 'renewal';
    const freshIdentity = r.cert?.x509.subject.split('\n').includes(`OU=${freshEnrollmentOu}`) ?? false;
    // A renewal identity (no fresh-enrollment OU) issued for this device, or one the server asked for.
    if (!freshIdentity && (r.notes.claimGround === 'bound' || (await this.store.renewalInProgress(deviceId))))
      return 'renewal';
    return 'reenrollment';
  }

  async authenticate(r: MdmRequest, m: AuthenticateMessage): Promise<void> {
    if (!isDeviceChannel(r.enrollment))
      throw new MdmRequestError('Authenticate is only valid on the device channel');
    const kind = await this.authenticateKind(r);
    r.notes.authenticateKind = kind;
    const reset = kind === 'first' || kind === 'reenrollment';
    const deviceId = r.enrollment.deviceId;
    await this.store.transaction(async (trx) => {
      await this.store.upsertAuthenticatedDevice(trx, {
        id: deviceId,
        identityCertPem: r.cert ? r.cert.x509.toString() : null,
        serial: m.serialNumber ?? null,
        raw: r.raw.toString('utf8'),
        platform: platformFromProductName(m.productName),
        reset,
      });
      if (reset) {
        // A new enrollment starts clean: nothing queued, not enabled until its TokenUpdate.
        await this.queueStore.deactivatePending(trx, deviceId);
        await this.store.disableDeviceEnrollments(trx, deviceId);
      } else if (kind === 'migration') {
        await this.store.clearMigrationFlag(trx, deviceId);
      }
    });
  }

  async tokenUpdate(r: MdmRequest, m: TokenUpdateMessage): Promise<void> {
    const e = r.enrollment;
    const raw = r.raw.toString('utf8');
    const tally = await this.store.transaction(async (trx) => {
      if (!(await this.store.getDevice(e.deviceId, trx)))
        throw new MdmRequestError('TokenUpdate before Authenticate');
      if (isDeviceChannel(e)) {
        // An imported enrollment becomes ours at its first real TokenUpdate (not a new enrollment).
        if ((await this.store.getEnrollment(e.id, trx))?.enrolled_from_migration) {
          await this.store.clearMigrationFlag(trx, e.deviceId);
          r.notes.importedEnrollment = true;
        }
        await this.store.storeDeviceTokenUpdate(trx, e.deviceId, raw, m.unlockToken);
      } else {
        await this.store.upsertUser(trx, {
          id: e.userId!,
          deviceId: e.deviceId,
          shortName: e.userShortName,
          longName: e.userLongName,
          tokenUpdate: raw,
        });
      }
      return this.store.upsertEnrollmentTokens(trx, {
        id: e.id,
        deviceId: e.deviceId,
        userId: isDeviceChannel(e) ? null : e.userId!,
        type: e.type,
        topic: m.topic,
        pushMagic: m.pushMagic,
        tokenHex: m.tokenHex,
      });
    });
    r.notes.tokenUpdateTally = tally;
    r.notes.enrollmentEnabled = true;
  }

  async checkOut(r: MdmRequest, _m: CheckOutMessage): Promise<void> {
    if (isDeviceChannel(r.enrollment)) {
      await this.store.transaction((trx) => this.store.disableDeviceEnrollments(trx, r.enrollment.deviceId));
    } else {
      await this.store.disableEnrollment(r.enrollment.id);
    }
  }

  /**
   * Accepts user channels with Apple's zero-length digest flow: the first message gets an empty
   * DigestChallenge, the second (carrying DigestResponse) an empty 200.
   */
  async userAuthenticate(r: MdmRequest, m: UserAuthenticateMessage): Promise<MdmReply | undefined> {
    const e = r.enrollment;
    if (!e.userId) throw new MdmRequestError('UserAuthenticate needs a UserID');
    const raw = r.raw.toString('utf8');
    await this.store.transaction(async (trx) => {
      if (!(await this.store.getDevice(e.deviceId, trx)))
        throw new MdmRequestError('UserAuthenticate before Authenticate');
      await this.store.upsertUser(trx, {
        id: e.userId!,
        deviceId: e.deviceId,
        shortName: e.userShortName,
        longName: e.userLongName,
        ...(m.digestResponse === undefined ? { userAuthenticate: raw } : { userAuthenticateDigest: raw }),
      });
    });
    if (m.digestResponse !== undefined) return undefined;
    return { status: 200, body: buildPlist({ DigestChallenge: '' }), contentType: plistType };
  }

  async setBootstrapToken(r: MdmRequest, m: SetBootstrapTokenMessage): Promise<void> {
    if (!isDeviceChannel(r.enrollment))
      throw new MdmRequestError('SetBootstrapToken is only valid on the device channel');
    const token = m.bootstrapToken && m.bootstrapToken.length ? m.bootstrapToken.toString('base64') : null;
    await this.store.setBootstrapToken(r.enrollment.deviceId, token);
  }

  async getBootstrapToken(r: MdmRequest, _m: GetBootstrapTokenMessage): Promise<MdmReply | undefined> {
    const b64 = await this.store.getBootstrapToken(r.enrollment.deviceId);
    if (!b64) return undefined;
    return {
      status: 200,
      body: buildPlist({ BootstrapToken: Buffer.from(b64, 'base64') }),
      contentType: plistType,
    };
  }

  /**
   * No token service (com.apple.maid, com.apple.watch.pairing) is offered, as in Fleet, which gives
   * NanoMDM no GetToken handler: the message is validated, then refused with HTTP 500 as NanoMDM
   * refuses it ("no GetToken handler"). The enrollment profile does not advertise
   * `com.apple.mdm.token`, so devices should not ask.
   */
  async getToken(_r: MdmRequest, m: GetTokenMessage): Promise<MdmReply | undefined> {
    if (m.tokenServiceType === 'com.apple.watch.pairing') {
      const p = m.tokenParameters;
      if (
        !p ||
        typeof p.PhoneUDID !== 'string' ||
        typeof p.WatchUDID !== 'string' ||
        p.SecurityToken === undefined
      ) {
        throw new MdmRequestError('TokenParameters incomplete for com.apple.watch.pairing');
      }
    }
    throw new MdmRequestError(`no token service for ${m.tokenServiceType.slice(0, 64)}`, 500);
  }

  /**
   * DDM requests go to the declarations service given at construction. Without one, the server has no
   * declarations: empty tokens and manifest, accepted status reports, 404 for any declaration.
   */
  async declarativeManagement(r: MdmRequest, m: DeclarativeManagementMessage): Promise<MdmReply | undefined> {
    const handler = this.declarativeManagementHandler;
    if (handler) {
      return handler({
        enrollmentId: r.enrollment.id,
        hostUuid: r.enrollment.deviceId,
        endpoint: m.endpoint,
        data: m.data,
      });
    }
    const json = 'application/json';
    switch (true) {
      case m.endpoint === 'tokens':
        return {
          status: 200,
          contentType: json,
          body: JSON.stringify({
            SyncTokens: {
              DeclarationsToken: '',
              Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
            },
          }),
        };
      case m.endpoint === 'declaration-items':
        return {
          status: 200,
          contentType: json,
          body: JSON.stringify({
            Declarations: { Activations: [], Configurations: [], Assets: [], Management: [] },
            DeclarationsToken: '',
          }),
        };
      case m.endpoint === 'status':
        return undefined;
      case m.endpoint.startsWith('declaration/'):
        return { status: 404, contentType: 'text/plain', body: 'declaration not found' };
      default:
        throw new MdmRequestError(
          `unknown DeclarativeManagement endpoint ${JSON.stringify(m.endpoint.slice(0, 64))}`,
        );
    }
  }

  /** Return to Service is not configured on this server: the device is told it is off. */
  async returnToService(_r: MdmRequest, _m: ReturnToServiceMessage): Promise<MdmReply | undefined> {
    return { status: 200, body: buildPlist({ ReturnToService: { Enabled: false } }), contentType: plistType };
  }

  /** Queues a last-seen write for this enrollment at most once a minute (per process). */
  private markSeen(id: string): void {
    const now = Date.now();
    const written = this.lastSeenWrittenAt.get(id);
    if (written !== undefined && now - written < LAST_SEEN_EVERY_MS) return;
    if (this.lastSeenWrittenAt.size >= LAST_SEEN_MEMORY) this.lastSeenWrittenAt.clear();
    this.lastSeenWrittenAt.set(id, now);
    this.lastSeen.add(id, id);
  }

  /**
   * The connect hot path. A report on a command goes to the queue's group commit: stored, its
   * queue row settled and the next command read in one transaction shared with the other devices'
   * reports, answered once durable. An Idle (or a report the certificate link did not vouch for)
   * costs one statement: the next command. When the certificate link asked for it
   * (`notes.certificateAssociation`), the statements also require the device certificate to be
   * bound to the device, so a deleted host's device is refused at once by every process.
   */
  async commandAndReportResults(r: MdmRequest, report: CommandReport): Promise<Buffer | undefined> {
    const id = r.enrollment.id;
    const association = r.notes.certificateAssociation;
    if (report.status !== 'Idle' && report.commandUuid && association) {
      const done = await this.queue.reportAndNext({
        enrollmentId: id,
        commandUuid: report.commandUuid,
        status: report.status,
        raw: r.raw,
        association,
      });
      // A result for a command this enrollment was never sent (or that was deleted) is dropped,
      // and the device carries on with its queue.
      if (!done.stored) r.notes.reportDropped = true;
      else r.notes.reportedRequestType = done.requestType;
      if (!done.associated) {
        r.notes.reportDropped = true;
        throw new MdmRequestError('certificate is not associated with this enrollment');
      }
      this.markSeen(id);
      return done.command;
    }
    if (report.status !== 'Idle' && report.commandUuid) {
      const stored = await this.queue.storeReport({
        enrollmentId: id,
        commandUuid: report.commandUuid,
        status: report.status,
        raw: r.raw,
      });
      if (!stored) r.notes.reportDropped = true;
      else r.notes.reportedRequestType = await this.queue.requestTypeOf(report.commandUuid);
    }
    // NotNow'd commands wait until the device reports Idle again (its next session), so a NotNow
    // never bounces back and forth within one session.
    const next = await this.queue.next(id, report.status === 'Idle', association);
    if (!next.associated) {
      r.notes.reportDropped = true;
      throw new MdmRequestError('certificate is not associated with this enrollment');
    }
    // Only after the binding check: a refused identity must not keep another device "seen".
    this.markSeen(id);
    return next.command?.command;
  }
}
