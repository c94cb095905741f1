import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { dbNow, fromDbTime } from '../../db/dialect.js';
import { commandUuidOfCmdRef } from '../commands.js';
import type { WindowsAnswersListener } from '../answers.js';
import type { BatchWriter } from '../../db/batchWriter.js';
import type {
  CommandResultToSave,
  FollowUpCommand,
  NonceRotation,
  QueuedCommand,
  WindowsEnrollment,
  WindowsMdmStore,
} from '../store.js';
import { unescapeXml } from '../xml.js';
import {
  buildSyncMessage,
  commandXml,
  parseSyncMessage,
  statusXml,
  SyncmlError,
  type SyncCommand,
  type SyncMessage,
} from './codec.js';
import { digestMatches } from './digest.js';

/**
 * Raised when no SyncML answer can be built (bad message, unknown device): a SOAP fault goes back,
 * its reason bounded like every SoapFault's.
 */
export class ManagementFault extends Error {}

export const unenrollAlertType = 'com.microsoft:mdm.unenrollment.userrequest';
export const loginStatusType = 'com.microsoft/MDM/LoginStatus';

/** Fills a queued command's secrets for one device, or undefined when it must not be sent. */
export type QueuedCommandRenderer = (e: WindowsEnrollment, cmd: QueuedCommand) => Promise<string | undefined>;

/**
 * The UUID of a retried command (an Add answered 418, re-sent as Replace): the original's prefix
 * (`profile-`) and a fresh UUID, so listeners that pick answers by prefix see the retry's too.
 */
export function retryCommandUuid(original: string): string {
  const prefix = original.match(/^(.*?)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  return `${prefix ? prefix[1] : ''}${randomUUID()}`;
}

export interface ManagementLifecycle {
  /** The device sent the user-unenroll alert: MDM is off for its host. */
  unenrolled(enrollment: WindowsEnrollment): Promise<void>;
}

/** One authenticated device message, as the session's contributors see it. */
export interface SessionMessage {
  enrollment: WindowsEnrollment;
  commands: SyncCommand[];
  /** The message opens a session (Alert 1201 client- or 1200 server-initiated). */
  sessionStart: boolean;
}

/**
 * Adds server-initiated commands to a session (push channel read, fleetd install) and reads the
 * answers to them. Called after the message's answers are stored; a failure is logged and the
 * session goes on without its commands.
 */
export interface SessionContributor {
  /** Raw SyncML commands to append to this answer (none: []). */
  contribute(m: SessionMessage): Promise<string[]>;
}

/** Checks a client certificate forwarded by a TLS terminator for an enrollment; throws ManagementFault. */
export type ClientCertificateCheck = (forwarded: string, enrollment: WindowsEnrollment) => Promise<void>;

export interface ManagementOptions {
  managementUrl: () => Promise<string>;
  nonceTtlSeconds: number;
  /** Buffer that writes last-seen times in batches (absent: not recorded). */
  lastSeen?: BatchWriter<number>;
  /** Server-initiated commands (push channel, fleetd install), in this order. */
  contributors?: SessionContributor[];
  /** Verifies a forwarded client certificate; a verified one authenticates the message instead of the digest. */
  clientCertificate?: ClientCertificateCheck;
  /**
   * The step a queued command naming a `$FLEET_SECRET_` passes as it is handed to the device
   * (secrets are never stored expanded); undefined means "do not send it".
   */
  renderSecrets?: QueuedCommandRenderer;
}

/**
 * One SyncML message in, one out. Stateless between messages: everything a session needs
 * (enrollment, digest nonce, queue) is in the database, so any process can answer any message.
 *
 * Every message must carry a digest (`SyncHdr/Cred`) over the enrollment's current nonce, and a
 * nonce authenticates one message only: the message's writes consume it (compare-and-set) and
 * the answer's SyncHdr Status carries the next one in a `Chal`, which the device uses for its
 * next message, in this session or the next. A captured message (the first of a session or any
 * later one) therefore never authenticates twice, and there is no server-side session to hijack.
 * Where a TLS terminator forwards the device's client certificate, a certificate our WSTEP CA
 * issued to this very enrollment authenticates the message instead (no nonce is then consumed).
 */
export class ManagementSessionService {
  constructor(
    private readonly store: WindowsMdmStore,
    private readonly lifecycle: ManagementLifecycle,
    private readonly opts: ManagementOptions,
    private readonly log: Logger,
  ) {}

  // ---- answer listeners (Windows profiles): the one place other features hook into results ----
  private readonly answerListeners: WindowsAnswersListener[] = [];

  /** Registers a listener told after each device message's answers are stored. */
  onAnswersSaved(fn: WindowsAnswersListener): void {
    this.answerListeners.push(fn);
  }
  // ---- end of answer listeners ----

  // ---- outgoing commands and sign-in (Windows profiles: secrets, ./User/ settings) ----
  private readonly signInListeners: ((e: WindowsEnrollment) => Promise<void>)[] = [];

  /** Registers a listener told when a user signs in on an enrollment (LoginStatus becomes `user`). */
  onUserSignedIn(fn: (e: WindowsEnrollment) => Promise<void>): void {
    this.signInListeners.push(fn);
  }

  private async outgoing(e: WindowsEnrollment, cmd: QueuedCommand): Promise<string | undefined> {
    if (!cmd.raw_command.includes('FLEET_SECRET_') || !this.opts.renderSecrets) return cmd.raw_command;
    return this.opts.renderSecrets(e, cmd);
  }

  /**
   * Alert 1224 (`com.microsoft/MDM/LoginStatus`): `user` when the enrolled user is signed in,
   * `others` or `none` otherwise. Written only when it changes (the enrollment row read with the
   * queue carries the current value), so a session costs no extra query.
   */
  private async noteLoginStatus(e: WindowsEnrollment, commands: SyncCommand[]): Promise<void> {
    const item = commands
      .filter((c) => c.verb === 'Alert' && (c.data ?? '').trim() === '1224')
      .flatMap((c) => c.items)
      .find((i) => (i.metaType ?? '').trim() === loginStatusType);
    if (!item) return;
    const loginStatus = unescapeXml(item.data ?? '').trim();
    const signedIn = loginStatus.toLowerCase() === 'user';
    if (signedIn === Boolean(e.user_signed_in_at)) return;
    await this.store.setUserSignedIn(e.id, signedIn ? dbNow() : null);
    if (!signedIn) return;
    for (const fn of this.signInListeners) {
      await fn(e).catch((err) => this.log.error({ err }, 'windows mdm: sign-in listener failed'));
    }
  }
  // ---- end of outgoing commands and sign-in ----

  /** `forwardedCert`: the client certificate a TLS terminator passed on (URL-escaped PEM), if any. */
  async handle(xml: string, forwardedCert?: string): Promise<string> {
    let msg: SyncMessage;
    try {
      msg = parseSyncMessage(xml);
    } catch (err) {
      throw new ManagementFault(err instanceof SyncmlError ? err.message : 'invalid SyncML message');
    }
    const h = msg.header;
    // The one read of the hot path: enrollment (credentials, nonce) and its queued commands together.
    const state = await this.store.managementState(h.sourceUri);
    if (!state) throw new ManagementFault('device was not MDM enrolled');
    const { enrollment } = state;
    const serverUrl = await this.opts.managementUrl();
    const answer = (body: string[]) =>
      buildSyncMessage({
        sessionId: h.sessionId,
        msgId: h.msgId,
        target: h.sourceUri,
        source: serverUrl,
        body,
      });
    const hdrStatus = (code: string, nextNonceB64?: string) =>
      statusXml({ cmdId: '1', msgRef: h.msgId, cmdRef: '0', cmd: 'SyncHdr', code, nextNonceB64 });

    // Authentication: a forwarded client certificate issued to this enrollment when the terminator
    // passes one (as Fleet trusts the TLS certificate), else the MD5 digest over the credentials
    // handed out in the provisioning document.
    let nonce: NonceRotation | undefined;
    if (forwardedCert !== undefined && this.opts.clientCertificate) {
      await this.opts.clientCertificate(forwardedCert, enrollment);
    } else {
      const auth = await this.authenticate(enrollment, msg);
      if ('challenge' in auth) return answer([hdrStatus(auth.code, auth.challenge)]);
      nonce = { used: auth.nonce, next: randomUUID(), expiresAt: dbNow(this.opts.nonceTtlSeconds * 1000) };
    }
    // The nonce was good when read but another message has used it since (a concurrent replay).
    const replayed = async () => {
      this.log.info({ enrollmentId: enrollment.id }, 'windows mdm: digest nonce already used');
      return answer([hdrStatus('401', await this.newChallenge(enrollment))]);
    };

    // Unenroll alert: the device is leaving; answer the header and forget it.
    const unenroll = msg.commands.some(
      (c) =>
        c.verb === 'Alert' &&
        c.data === '1226' &&
        c.items.some((i) => (i.metaType ?? '').trim() === unenrollAlertType),
    );
    if (unenroll) {
      if (nonce && !(await this.store.consumeNonce(enrollment.id, nonce))) return replayed();
      await this.store.deleteEnrollment(enrollment.id);
      await this.lifecycle.unenrolled(enrollment);
      return answer([hdrStatus('200')]);
    }

    const body = [hdrStatus('200', nonce && Buffer.from(nonce.next).toString('base64'))];
    let statusId = 1;
    // Statuses for the device's own commands (not Alert/Status/Results), in document order.
    for (const c of msg.commands) {
      if (c.verb === 'Alert' || c.verb === 'Status' || c.verb === 'Results') continue;
      body.push(
        statusXml({ cmdId: String(++statusId), msgRef: h.msgId, cmdRef: c.cmdId, cmd: c.verb, code: '200' }),
      );
    }

    const settled = await this.saveAnswers(enrollment, xml, msg.commands, state.queued, nonce);
    if (!settled) return replayed();
    // Last-seen is informational: buffered and written in batches, never inside the message.
    this.opts.lastSeen?.add(String(enrollment.id), enrollment.id);
    // What is still owed: the queue as read, minus what this message answered, plus follow-ups.
    await this.noteLoginStatus(enrollment, msg.commands);
    const owed = [
      ...state.queued.filter((cmd) => !settled.answered.has(cmd.command_uuid)),
      ...settled.followUps.map((f) => ({ command_uuid: f.commandUuid, raw_command: f.rawCommand })),
    ];
    for (const cmd of owed) {
      const xml = await this.outgoing(enrollment, cmd);
      if (xml !== undefined) body.push(xml);
    }
    body.push(...(await this.contributions(enrollment, msg.commands)));
    return answer(body);
  }

  /** Server-initiated commands for this message; a failing contributor only loses its own. */
  private async contributions(enrollment: WindowsEnrollment, commands: SyncCommand[]): Promise<string[]> {
    const contributors = this.opts.contributors ?? [];
    if (contributors.length === 0) return [];
    const sessionStart = commands.some(
      (c) => c.verb === 'Alert' && ['1200', '1201'].includes((c.data ?? '').trim()),
    );
    const out: string[] = [];
    for (const c of contributors) {
      try {
        out.push(...(await c.contribute({ enrollment, commands, sessionStart })));
      } catch (err) {
        this.log.error({ err, enrollmentId: enrollment.id }, 'windows mdm: session contributor failed');
      }
    }
    return out;
  }

  /**
   * Checks the message's digest against the current nonce; no write when it matches (the caller
   * consumes the nonce with the message's own writes). Anything else is answered with a challenge
   * carrying a fresh nonce: 407 without credentials or nonce, 401 for a wrong digest.
   */
  private async authenticate(
    e: WindowsEnrollment,
    msg: SyncMessage,
  ): Promise<{ nonce: string } | { challenge: string; code: '401' | '407' }> {
    const cred = msg.header.cred;
    const nonceValid =
      e.auth_nonce &&
      e.auth_nonce_expires_at &&
      (fromDbTime(e.auth_nonce_expires_at)?.getTime() ?? 0) > Date.now();
    if (!cred || !nonceValid || !e.credentials_hash)
      return { challenge: await this.newChallenge(e), code: '407' };
    if (cred.type !== 'syncml:auth-md5' || cred.format !== 'b64') {
      throw new ManagementFault('unsupported credential type; expected syncml:auth-md5 in b64');
    }
    if (!digestMatches(e.credentials_hash, Buffer.from(e.auth_nonce as string), cred.data)) {
      this.log.info({ enrollmentId: e.id }, 'windows mdm: digest mismatch');
      return { challenge: await this.newChallenge(e), code: '401' };
    }
    return { nonce: e.auth_nonce as string };
  }

  private async newChallenge(e: WindowsEnrollment): Promise<string> {
    const nonce = randomUUID();
    await this.store.setNonce(e.id, nonce, dbNow(this.opts.nonceTtlSeconds * 1000));
    return Buffer.from(nonce).toString('base64');
  }

  /**
   * Matches the device's Status/Results (nested Atomic children included) to the commands queued
   * for it by CmdRef, stores them with the raw message, dequeues what was answered and re-queues
   * an Add answered 418 as a Replace under a fresh UUID. Answers to commands never sent (or no
   * longer queued) are ignored. The message's digest nonce is consumed in the same write.
   * Returns the answered command UUIDs and the follow-ups queued, or undefined (nothing stored)
   * when the nonce was already used.
   */
  private async saveAnswers(
    e: WindowsEnrollment,
    rawMessage: string,
    commands: SyncCommand[],
    queuedCommands: QueuedCommand[],
    nonce: NonceRotation | undefined,
  ): Promise<{ answered: Set<string>; followUps: FollowUpCommand[] } | undefined> {
    const answers = new Map<string, SyncCommand[]>();
    const collect = (list: SyncCommand[]) => {
      for (const c of list) {
        if ((c.verb === 'Status' || c.verb === 'Results') && c.cmdRef && c.cmdRef !== '0') {
          const uuid = commandUuidOfCmdRef(c.cmdRef);
          answers.set(uuid, [...(answers.get(uuid) ?? []), c]);
        }
        collect(c.children);
      }
    };
    collect(commands);
    const queued = queuedCommands.filter((q) => answers.has(q.command_uuid));
    if (queued.length < answers.size) {
      const known = new Set(queued.map((q) => q.command_uuid));
      const unmatched = [...answers.keys()].filter((u) => !known.has(u));
      this.log.info(
        { enrollmentId: e.id, unmatched },
        'windows mdm: answers to commands not queued for this device ignored',
      );
    }
    const results: CommandResultToSave[] = [];
    const followUps: FollowUpCommand[] = [];
    for (const q of queued) {
      const group = answers.get(q.command_uuid) as SyncCommand[];
      const statuses = group.filter((c) => c.verb === 'Status');
      const own = statuses.find((s) => s.cmdRef === q.command_uuid) ?? statuses[0];
      const statusCode = unescapeXml(own?.data ?? '').trim() || '200';
      results.push({ commandUuid: q.command_uuid, rawResult: group.map(commandXml).join(''), statusCode });
      if (statuses.some((s) => (s.data ?? '').trim() === '418') && /<Add[\s>]/.test(q.raw_command)) {
        const fresh = retryCommandUuid(q.command_uuid);
        const rawCommand = q.raw_command
          .split(q.command_uuid)
          .join(fresh)
          .replace(/<Add(?=[\s>])/g, '<Replace')
          .replace(/<\/Add>/g, '</Replace>');
        followUps.push({ commandUuid: fresh, rawCommand, targetLocUri: '', replaces: q.command_uuid });
      }
    }
    const queuedFollowUps = await this.store.saveResponse(e.id, rawMessage, results, followUps, nonce);
    if (!queuedFollowUps) return undefined;
    if (results.length === 0) return { answered: new Set<string>(), followUps: [] };
    for (const fn of this.answerListeners) {
      await fn({ enrollmentId: e.id, hostUuid: e.host_uuid, results }).catch((err) =>
        this.log.error({ err }, 'windows mdm: answer listener failed'),
      );
    }
    return { answered: new Set(results.map((r) => r.commandUuid)), followUps: queuedFollowUps };
  }
}
