import type { Logger } from 'pino';
import type { RawBuilder, Transaction } from 'kysely';
import { toDbTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { BatchWriter } from '../../db/batchWriter.js';
import { parsePlistDict, type PlistValue } from '../plist/parse.js';
import { buildPlist } from './build.js';
import type { BatchedReportOutcome, ReportBatchStore } from './reportBatchStore.js';
import { ReportGroupCommit } from './reportGroupCommit.js';
import type { CertificateAssociation, CommandQueueStore, NextCommandRow, QueuedCommandRow } from './store.js';

export interface EnqueueCommand {
  commandUuid: string;
  requestType: string;
  plist: Buffer;
  /** Higher runs first; 0 by default. */
  priority?: number;
  /**
   * How the stored bytes become what the device gets: `None` (the default) sends them as stored;
   * any other subtype goes through the queue's preparer for it at delivery (e.g.
   * `ProfileWithSecrets`: the stored bytes are a profile with secret placeholders).
   */
  subtype?: string;
}

/** A queued command as stored, handed to a preparer at delivery. */
export interface StoredCommand {
  enrollmentId: string;
  commandUuid: string;
  requestType: string;
  subtype: string;
  command: Buffer;
}

/** The bytes to send, or why the command cannot be sent to this enrollment. */
export type PreparedCommand = { ok: true; command: Buffer } | { ok: false; detail: string };

/**
 * Builds, in memory and at delivery, the command a device gets from a command stored in another
 * form. What it builds is never stored.
 */
export interface CommandPreparer {
  prepare(c: StoredCommand): Promise<PreparedCommand>;
}

/** Subtype of InstallProfile commands whose profile keeps `$FLEET_SECRET_*` placeholders until delivery. */
export const profileWithSecretsSubtype = 'ProfileWithSecrets';

export interface AppleCommandResult {
  enrollmentId: string;
  hostUuid: string;
  commandUuid: string;
  requestType: string;
  status: string;
  /** The device's report, byte for byte. */
  raw: Buffer;
  result: Record<string, PlistValue>;
  updatedAt: string;
}

export interface AppleQueuedCommand {
  enrollmentId: string;
  hostUuid: string;
  commandUuid: string;
  requestType: string;
  /** `Pending` until the device answers, then its last status. */
  status: string;
  createdAt: string;
  updatedAt: string;
}

/** A report stored together with reading the next command (see AppleCommandQueue.reportAndNext). */
export interface ReportAndNext {
  /** False when the device certificate is no longer bound to the device. */
  associated: boolean;
  /** False when the command was never queued for this enrollment (nothing stored). */
  stored: boolean;
  requestType?: string;
  command?: Buffer;
}

/** Statuses after which a command is not sent again. */
export const finalStatuses = new Set(['Acknowledged', 'Error', 'CommandFormatError']);

/**
 * The Apple command queue: one command row fanned out to many enrollments, delivered by priority
 * then age, answered with results kept as raw plists.
 */
const REQUEST_TYPE_CACHE_LIMIT = 50_000;

export class AppleCommandQueue {
  private readonly deliveries: BatchWriter<{ id: string; commandUuid: string }>;
  private readonly deactivations: BatchWriter<{ id: string; commandUuid: string }>;
  /** Request types of commands handed out lately, so a report's type needs no query (immutable data). */
  private readonly requestTypes = new Map<string, string>();
  private readonly groupCommit?: ReportGroupCommit;

  constructor(
    private readonly store: CommandQueueStore,
    private readonly opts: {
      maxDeliveryAttempts: number;
      retentionDays: number;
      logger?: Logger;
      /** Preparers by subtype, for commands not sent as stored. */
      preparers?: ReadonlyMap<string, CommandPreparer>;
      /** Group commit of reports (see reportAndNext); without it each report is written alone. */
      reportBatches?: { store: ReportBatchStore; maxBatch: number; maxConcurrent: number };
    },
  ) {
    if (opts.reportBatches)
      this.groupCommit = new ReportGroupCommit(opts.reportBatches.store, opts.reportBatches);
    this.deliveries = new BatchWriter((items) => store.addDeliveryAttempts(items), {
      intervalMs: 1000,
      maxItems: 1000,
      logger: opts.logger,
      name: 'apple_delivery_attempts',
    });
    this.deactivations = new BatchWriter((items) => store.deactivate(items), {
      intervalMs: 1000,
      maxItems: 1000,
      logger: opts.logger,
      name: 'apple_queue_deactivations',
    });
  }

  /** Stores the command once and queues it for every enrollment, in one transaction. */
  async enqueue(enrollmentIds: string[], cmd: EnqueueCommand, trx?: Transaction<DB>): Promise<void> {
    const ids = [...new Set(enrollmentIds)];
    const run = async (t: Transaction<DB>) => {
      await this.store.insertCommand(t, cmd);
      await this.store.insertQueueRows(t, ids, cmd.commandUuid, cmd.priority ?? 0);
    };
    if (trx) await run(trx);
    else await this.store.db.transaction().execute(run);
  }

  /**
   * Bulk enqueue for callers that have just written the targets in SQL (e.g. status rows): stores
   * the commands, then queues them with one INSERT ... SELECT from `targets` (a SELECT yielding
   * `id` = enrollment id and `command_uuid`, one row per pair), inside the caller's transaction.
   * No enrollment list passes through JavaScript.
   */
  async enqueueMany(
    cmds: EnqueueCommand[],
    targets: RawBuilder<unknown>,
    trx: Transaction<DB>,
    priority = 0,
  ): Promise<void> {
    if (cmds.length === 0) return;
    for (const cmd of cmds) await this.store.insertCommand(trx, cmd);
    await this.store.insertQueueRowsFrom(
      trx,
      cmds.map((c) => c.commandUuid),
      targets,
      priority,
    );
  }

  /**
   * The next command for an enrollment. Commands handed out `maxDeliveryAttempts` times without
   * a decodable answer are taken out of the queue with an Error result, so one command the device
   * chokes on cannot block the ones behind it. With `association`, `associated` is false (and no
   * command is returned) when the device certificate is no longer bound to the device.
   */
  async next(
    enrollmentId: string,
    includeNotNow: boolean,
    association?: CertificateAssociation,
  ): Promise<{ associated: boolean; command?: NextCommandRow }> {
    for (let i = 0; i < 5; i++) {
      const found = await this.store.nextCommand(enrollmentId, includeNotNow, association);
      const row = found.command;
      if (!found.associated || !row) return found;
      if (row.delivery_attempts < this.opts.maxDeliveryAttempts) {
        const prepared = await this.prepare(enrollmentId, row);
        if (!prepared.ok) {
          // Settled with an Error result so the commands behind it go on (never sent as stored).
          await this.store.giveUp(
            enrollmentId,
            row.command_uuid,
            errorResult(enrollmentId, row.command_uuid, prepared.detail),
          );
          continue;
        }
        this.rememberRequestType(row.command_uuid, row.request_type);
        this.deliveries.add(`${enrollmentId}\n${row.command_uuid}`, {
          id: enrollmentId,
          commandUuid: row.command_uuid,
        });
        return { associated: true, command: { ...row, command: prepared.command } };
      }
      this.opts.logger?.warn(
        {
          enrollmentId,
          commandUuid: row.command_uuid,
          requestType: row.request_type,
          attempts: row.delivery_attempts,
        },
        'apple command delivered too often without an answer; giving up on it',
      );
      await this.store.giveUp(
        enrollmentId,
        row.command_uuid,
        giveUpResult(enrollmentId, row.command_uuid, row.delivery_attempts),
      );
    }
    return { associated: true };
  }

  /** The bytes sent for a queued command: as stored, or built by the preparer of its subtype. */
  private async prepare(enrollmentId: string, row: NextCommandRow): Promise<PreparedCommand> {
    if (!row.subtype || row.subtype === 'None') return { ok: true, command: row.command };
    const preparer = this.opts.preparers?.get(row.subtype);
    const prepared = preparer
      ? await preparer.prepare({
          enrollmentId,
          commandUuid: row.command_uuid,
          requestType: row.request_type,
          subtype: row.subtype,
          command: row.command,
        })
      : { ok: false as const, detail: `This server cannot deliver ${row.subtype} commands.` };
    if (!prepared.ok) {
      this.opts.logger?.warn(
        { enrollmentId, commandUuid: row.command_uuid, subtype: row.subtype, detail: prepared.detail },
        'apple command could not be prepared for delivery; settled as failed',
      );
    }
    return prepared;
  }

  /**
   * Stores a device's report for a queued command (one statement) and settles its queue row: a
   * final answer leaves the active queue in the next batch (the next-command query already skips
   * answered commands, so the batch only keeps the index walk short); a NotNow restarts the
   * delivery count. Returns false, storing nothing, when the command was not queued for this
   * enrollment (or the device certificate is no longer bound, with `association`).
   */
  async storeReport(r: {
    enrollmentId: string;
    commandUuid: string;
    status: string;
    raw: Buffer;
    association?: CertificateAssociation;
  }): Promise<boolean> {
    if (!(await this.store.storeReport(r))) return false;
    if (finalStatuses.has(r.status)) {
      this.deactivations.add(`${r.enrollmentId}\n${r.commandUuid}`, {
        id: r.enrollmentId,
        commandUuid: r.commandUuid,
      });
    } else if (r.status === 'NotNow') {
      await this.store.resetDeliveryAttempts(r.enrollmentId, r.commandUuid);
    }
    return true;
  }

  /**
   * The connect hot path for a report on a queued command: stores it and returns the enrollment's
   * next command, through the group commit (one transaction shared with the other reports that
   * arrive meanwhile) when there is one. Resolves only once the report is durable. Anything the
   * batch cannot settle by itself (a command to prepare or to give up on, a failed batch) takes
   * the one-at-a-time path, which applies the same rules.
   */
  async reportAndNext(r: {
    enrollmentId: string;
    commandUuid: string;
    status: string;
    raw: Buffer;
    association: CertificateAssociation;
  }): Promise<ReportAndNext> {
    if (!this.groupCommit) return this.reportAndNextAlone(r);
    let outcome: BatchedReportOutcome;
    try {
      outcome = await this.groupCommit.submit(r);
    } catch (err) {
      // The whole batch rolled back (a deadlock with another process, a host deleted meanwhile).
      this.opts.logger?.warn({ err }, 'apple report group commit failed; writing the report alone');
      return this.reportAndNextAlone(r);
    }
    if (outcome.stored && outcome.requestType) this.rememberRequestType(r.commandUuid, outcome.requestType);
    if (!outcome.associated) return { associated: false, stored: false };
    const row = outcome.next;
    const plain = row && (!row.subtype || row.subtype === 'None');
    if (row && (!plain || row.delivery_attempts >= this.opts.maxDeliveryAttempts)) {
      const next = await this.next(r.enrollmentId, false, r.association);
      return {
        associated: next.associated,
        stored: outcome.stored,
        requestType: outcome.requestType,
        command: next.command?.command,
      };
    }
    if (row) {
      this.rememberRequestType(row.command_uuid, row.request_type);
      this.deliveries.add(`${r.enrollmentId}\n${row.command_uuid}`, {
        id: r.enrollmentId,
        commandUuid: row.command_uuid,
      });
    }
    return {
      associated: true,
      stored: outcome.stored,
      requestType: outcome.requestType,
      command: row?.command,
    };
  }

  private async reportAndNextAlone(r: {
    enrollmentId: string;
    commandUuid: string;
    status: string;
    raw: Buffer;
    association: CertificateAssociation;
  }): Promise<ReportAndNext> {
    const stored = await this.storeReport(r);
    const requestType = stored ? await this.requestTypeOf(r.commandUuid) : undefined;
    const next = await this.next(r.enrollmentId, false, r.association);
    return { associated: next.associated, stored, requestType, command: next.command?.command };
  }

  private rememberRequestType(commandUuid: string, requestType: string): void {
    if (this.requestTypes.has(commandUuid)) return;
    if (this.requestTypes.size >= REQUEST_TYPE_CACHE_LIMIT)
      this.requestTypes.delete(this.requestTypes.keys().next().value as string);
    this.requestTypes.set(commandUuid, requestType);
  }

  /** The request type of a command (reports do not reliably carry it). */
  async requestTypeOf(commandUuid: string): Promise<string | undefined> {
    const known = this.requestTypes.get(commandUuid);
    if (known) return known;
    const t = await this.store.requestType(commandUuid);
    if (t) this.rememberRequestType(commandUuid, t);
    return t;
  }

  /** Writes pending delivery counts and queue deactivations now. */
  async flush(): Promise<void> {
    await this.deliveries.flush();
    await this.deactivations.flush();
  }

  async commandResults(commandUuid: string): Promise<AppleCommandResult[]> {
    const rows = await this.store.commandResults(commandUuid);
    return rows.map((r) => ({
      enrollmentId: r.enrollment_id,
      hostUuid: r.device_id,
      commandUuid: r.command_uuid,
      requestType: r.request_type,
      status: r.status,
      raw: r.result,
      result: safeParse(r.result),
      updatedAt: r.updated_at,
    }));
  }

  async getCommand(commandUuid: string) {
    return this.store.getCommand(commandUuid);
  }

  /** Queued commands, newest first, optionally for some hosts (device ids = host UUIDs) or one type. */
  async listCommands(
    f: {
      hostUuids?: string[];
      requestType?: string;
      commandUuid?: string;
      page?: number;
      perPage?: number;
    } = {},
  ): Promise<AppleQueuedCommand[]> {
    const perPage = Math.min(Math.max(f.perPage ?? 100, 1), 10_000);
    const rows = await this.store.listCommands({
      deviceIds: f.hostUuids,
      requestType: f.requestType,
      commandUuid: f.commandUuid,
      limit: perPage,
      offset: (f.page ?? 0) * perPage,
    });
    return rows.map(toQueued);
  }

  /** Enrollment ids among these that exist (to refuse commands for unknown hosts). */
  existingEnrollmentIds(ids: string[]): Promise<string[]> {
    return this.store.existingEnrollmentIds(ids);
  }

  /** Retention job: removes acknowledged results and queue rows older than the configured age. */
  async deleteOldResults(now = Date.now()): Promise<number> {
    const cutoff = toDbTime(new Date(now - this.opts.retentionDays * 24 * 3600 * 1000));
    return this.store.deleteAcknowledgedBefore(cutoff);
  }
}

function toQueued(r: QueuedCommandRow): AppleQueuedCommand {
  return {
    enrollmentId: r.enrollment_id,
    hostUuid: r.device_id,
    commandUuid: r.command_uuid,
    requestType: r.request_type,
    status: r.status ?? 'Pending',
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function safeParse(raw: Buffer): Record<string, PlistValue> {
  try {
    return parsePlistDict(raw);
  } catch {
    return {};
  }
}

function giveUpResult(enrollmentId: string, commandUuid: string, attempts: number): Buffer {
  return errorResult(
    enrollmentId,
    commandUuid,
    `The device did not answer this command after ${attempts} deliveries.`,
  );
}

/** An Error result written by the server for a command it took out of the queue. */
function errorResult(enrollmentId: string, commandUuid: string, description: string): Buffer {
  return buildPlist({
    CommandUUID: commandUuid,
    Status: 'Error',
    EnrollmentID: enrollmentId,
    ErrorChain: [
      {
        ErrorCode: 0,
        ErrorDomain: 'flotilla.delivery',
        LocalizedDescription: description,
        USEnglishDescription: description,
      },
    ],
  });
}
