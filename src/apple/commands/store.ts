import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { dbNow, dialectOf, insertedValue } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { ReusableQuery } from '../../db/reusableQuery.js';

type AnyDb = Kysely<DB> | Transaction<DB>;

let lastMicros = 0;
/**
 * Current UTC time with microseconds, strictly increasing within this process, so commands
 * enqueued in the same millisecond keep their order.
 */
export function microNow(): string {
  let micros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  if (micros <= lastMicros) micros = lastMicros + 1;
  lastMicros = micros;
  const ms = Math.floor(micros / 1000);
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(micros % 1000).padStart(3, '0')}`;
}

export interface NextCommandRow {
  command_uuid: string;
  request_type: string;
  command: Buffer;
  /** `None`, or how the stored bytes are turned into what is sent (see AppleCommandQueue). */
  subtype: string;
  delivery_attempts: number;
}

interface NextCommandDbRow {
  command_uuid: string;
  request_type: string;
  command: Buffer | Uint8Array;
  subtype: string;
  delivery_attempts: number | string;
}

function toNextCommand(row: NextCommandDbRow): NextCommandRow {
  return { ...row, command: Buffer.from(row.command), delivery_attempts: Number(row.delivery_attempts) };
}

/** A device certificate that must still be bound to the device for a request to count. */
export interface CertificateAssociation {
  deviceId: string;
  sha256: string;
}

export interface CommandResultRow {
  enrollment_id: string;
  device_id: string;
  command_uuid: string;
  request_type: string;
  status: string;
  result: Buffer;
  updated_at: string;
}

export interface QueuedCommandRow {
  enrollment_id: string;
  device_id: string;
  command_uuid: string;
  request_type: string;
  status: string | null;
  created_at: string;
  updated_at: string;
}

const ENQUEUE_CHUNK = 1000;

/** nano_commands, nano_enrollment_queue and nano_command_results. */
export class CommandQueueStore {
  /** Hot-path statements, compiled once per store (see ReusableQuery). */
  private readonly hot: ReturnType<CommandQueueStore['hotQueries']>;

  constructor(readonly db: Kysely<DB>) {
    this.hot = this.hotQueries();
  }

  async insertCommand(
    trx: AnyDb,
    c: { commandUuid: string; requestType: string; plist: Buffer; subtype?: string },
  ): Promise<void> {
    const now = microNow();
    await trx
      .insertInto('nano_commands')
      .values({
        command_uuid: c.commandUuid,
        request_type: c.requestType,
        command: c.plist,
        subtype: c.subtype ?? 'None',
        created_at: now,
        updated_at: now,
      })
      .execute();
  }

  /** One queue row per enrollment, in chunks (statements stay well under placeholder limits). */
  async insertQueueRows(
    trx: AnyDb,
    enrollmentIds: string[],
    commandUuid: string,
    priority: number,
  ): Promise<void> {
    const now = microNow();
    for (let i = 0; i < enrollmentIds.length; i += ENQUEUE_CHUNK) {
      const rows = enrollmentIds.slice(i, i + ENQUEUE_CHUNK).map((id) => ({
        id,
        command_uuid: commandUuid,
        priority,
        active: 1,
        created_at: now,
        updated_at: now,
      }));
      await trx.insertInto('nano_enrollment_queue').values(rows).execute();
    }
  }

  /**
   * Bulk enqueue: queue rows for several commands in ONE INSERT ... SELECT whose rows come from
   * `source` (a SELECT yielding `id` = enrollment id and `command_uuid`), sorted by the queue's
   * primary key so the inserts walk the index in order. Each command keeps its own created_at (in
   * the given order) so a device receives them in that order.
   */
  async insertQueueRowsFrom(
    trx: AnyDb,
    commandUuids: string[],
    source: RawBuilder<unknown>,
    priority: number,
  ): Promise<void> {
    if (commandUuids.length === 0) return;
    const times = commandUuids.map((uuid) => sql`WHEN ${uuid} THEN ${microNow()}`);
    const createdAt = sql`CASE s.command_uuid ${sql.join(times, sql` `)} END`;
    await sql`
      INSERT INTO nano_enrollment_queue (id, command_uuid, priority, active, created_at, updated_at)
      SELECT s.id, s.command_uuid, ${priority}, 1, ${createdAt}, ${createdAt}
      FROM (${source}) s
      ORDER BY s.id, s.command_uuid`.execute(trx);
  }

  async existingEnrollmentIds(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const out: string[] = [];
    for (let i = 0; i < ids.length; i += ENQUEUE_CHUNK) {
      const rows = await this.db
        .selectFrom('nano_enrollments')
        .select('id')
        .where('id', 'in', ids.slice(i, i + ENQUEUE_CHUNK))
        .execute();
      out.push(...rows.map((r) => r.id));
    }
    return out;
  }

  /**
   * Deactivates the device's (and its users') queued commands that have no final result, as a new
   * enrollment starts with an empty queue.
   */
  async deactivatePending(trx: AnyDb, deviceId: string): Promise<void> {
    await trx
      .updateTable('nano_enrollment_queue as q')
      .set({ active: 0, updated_at: microNow() })
      .where('q.active', '=', 1)
      .where('q.id', 'in', (eb) =>
        eb.selectFrom('nano_enrollments').select('id').where('device_id', '=', deviceId),
      )
      .execute();
  }

  /**
   * Records that a report answered a queued command: final answers leave the active queue; a
   * NotNow keeps it active and resets its delivery count (the device could decode it). Returns
   * false when the command was never queued for this enrollment.
   */
  async settleQueueRow(
    enrollmentId: string,
    commandUuid: string,
    final: boolean,
    db: AnyDb = this.db,
  ): Promise<boolean> {
    const set = final
      ? { active: 0, updated_at: microNow() }
      : { delivery_attempts: 0, updated_at: microNow() };
    const res = await db
      .updateTable('nano_enrollment_queue')
      .set(set)
      .where('id', '=', enrollmentId)
      .where('command_uuid', '=', commandUuid)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async requestType(commandUuid: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('nano_commands')
      .select('request_type')
      .where('command_uuid', '=', commandUuid)
      .executeTakeFirst();
    return r?.request_type;
  }

  /** One row per (enrollment, command); a later status overwrites, NotNows are counted. */
  async upsertResult(
    enrollmentId: string,
    commandUuid: string,
    status: string,
    raw: Buffer,
    db: AnyDb = this.db,
  ): Promise<void> {
    const now = dbNow();
    const notNow = status === 'NotNow';
    const dialect = dialectOf(db);
    const set = resultUpsertSet(dialect);
    const base = db.insertInto('nano_command_results').values({
      id: enrollmentId,
      command_uuid: commandUuid,
      status,
      result: raw,
      not_now_at: notNow ? now : null,
      not_now_tally: notNow ? 1 : 0,
      created_at: now,
      updated_at: now,
    });
    if (dialect === 'mysql') await base.onDuplicateKeyUpdate(set).execute();
    else await base.onConflict((oc) => oc.columns(['id', 'command_uuid']).doUpdateSet(set)).execute();
  }

  /** The next-command SELECT (see nextCommand); `enrollmentId` may be a ReusableQuery marker. */
  private nextCommandQuery(enrollmentId: string, includeNotNow: boolean) {
    return nextCommandSelect(this.db, enrollmentId, includeNotNow);
  }

  /** The same, returning a row only while the device certificate is bound to the device. */
  private associatedNextCommandQuery(
    enrollmentId: string,
    includeNotNow: boolean,
    deviceId: string,
    sha256: string,
  ) {
    return this.nextCommandQuery(enrollmentId, includeNotNow).where((eb) =>
      eb.exists(
        eb
          .selectFrom('nano_cert_auth_associations as a')
          .select('a.id')
          .where('a.id', '=', deviceId)
          .where('a.sha256', '=', sha256),
      ),
    );
  }

  private hotQueries() {
    return {
      next: [false, true].map(
        (notNow) => new ReusableQuery(this.db, (id: string) => this.nextCommandQuery(id, notNow), 1),
      ),
      associatedNext: [false, true].map(
        (notNow) =>
          new ReusableQuery(
            this.db,
            (id: string, deviceId: string, sha256: string) =>
              this.associatedNextCommandQuery(id, notNow, deviceId, sha256),
            3,
          ),
      ),
      association: new ReusableQuery(
        this.db,
        (deviceId: string, sha256: string) =>
          this.db
            .selectFrom('nano_cert_auth_associations')
            .select('id')
            .where('id', '=', deviceId)
            .where('sha256', '=', sha256),
        2,
      ),
      storeReport: [false, true].map(
        (checkAssociation) =>
          new ReusableQuery(
            this.db,
            (...p: [string, Buffer, string | null, number, string, string, string, string, string]) =>
              this.storeReportQuery(this.db, p, checkAssociation),
            9,
          ),
      ),
    };
  }

  /**
   * The enrollment's next command: active, not yet answered (or NotNow'd, when `includeNotNow`),
   * highest priority first, then oldest. Walks the covering index (id, active, priority, created_at).
   * With `association`, the same statement also requires the device certificate to be bound to the
   * device (an EXISTS on its primary key), so a host deleted by another process is refused at once;
   * only when that finds nothing (the end of a session) does a second lookup tell an empty queue
   * from a binding that is gone (`associated: false`).
   */
  async nextCommand(
    enrollmentId: string,
    includeNotNow: boolean,
    association?: CertificateAssociation,
  ): Promise<{ associated: boolean; command?: NextCommandRow }> {
    const variant = includeNotNow ? 1 : 0;
    const { rows } = association
      ? await this.hot.associatedNext[variant].execute(enrollmentId, association.deviceId, association.sha256)
      : await this.hot.next[variant].execute(enrollmentId);
    if (rows[0]) return { associated: true, command: toNextCommand(rows[0] as NextCommandDbRow) };
    if (!association) return { associated: true };
    const { rows: bound } = await this.hot.association.execute(association.deviceId, association.sha256);
    return { associated: bound.length > 0 };
  }

  private storeReportQuery(
    db: AnyDb,
    [status, raw, notNowAt, notNowTally, now, enrollmentId, commandUuid, deviceId, sha256]: [
      string,
      Buffer,
      string | null,
      number,
      string,
      string,
      string,
      string,
      string,
    ],
    checkAssociation: boolean,
  ) {
    const dialect = dialectOf(db);
    const set = {
      status: insertedValue(dialect, 'status'),
      result: insertedValue(dialect, 'result'),
      not_now_at: sql`COALESCE(nano_command_results.not_now_at, ${insertedValue(dialect, 'not_now_at')})`,
      not_now_tally: sql`nano_command_results.not_now_tally + ${insertedValue(dialect, 'not_now_tally')}`,
      updated_at: insertedValue(dialect, 'updated_at'),
    } as Record<string, any>;
    let source = db
      .selectFrom('nano_enrollment_queue as q')
      .select((eb) => [
        'q.id',
        'q.command_uuid',
        eb.val(status).as('status'),
        eb.val(raw).as('result'),
        eb.val(notNowAt).as('not_now_at'),
        eb.val(notNowTally).as('not_now_tally'),
        eb.val(now).as('created_at'),
        eb.val(now).as('updated_at'),
      ])
      .where('q.id', '=', enrollmentId)
      .where('q.command_uuid', '=', commandUuid);
    if (checkAssociation) {
      source = source.where((eb) =>
        eb.exists(
          eb
            .selectFrom('nano_cert_auth_associations as a')
            .select('a.id')
            .where('a.id', '=', deviceId)
            .where('a.sha256', '=', sha256),
        ),
      );
    }
    const base = db
      .insertInto('nano_command_results')
      .columns([
        'id',
        'command_uuid',
        'status',
        'result',
        'not_now_at',
        'not_now_tally',
        'created_at',
        'updated_at',
      ])
      .expression(source as any);
    return dialect === 'mysql'
      ? base.onDuplicateKeyUpdate(set)
      : base.onConflict((oc) => oc.columns(['id', 'command_uuid']).doUpdateSet(set));
  }

  /**
   * Stores a device's answer to a queued command in one statement (INSERT ... SELECT from the
   * queue row, upserting on (id, command_uuid)): nothing is stored, and false returned, when the
   * command was never queued for this enrollment — or, with `association`, when the device
   * certificate is no longer bound to the device. A later status overwrites the earlier one;
   * NotNows are counted. The queue row is settled separately (see deactivate / resetDeliveryAttempts).
   */
  async storeReport(
    r: {
      enrollmentId: string;
      commandUuid: string;
      status: string;
      raw: Buffer;
      association?: CertificateAssociation;
    },
    db: AnyDb = this.db,
  ): Promise<boolean> {
    const now = dbNow();
    const notNow = r.status === 'NotNow';
    const params: [string, Buffer, string | null, number, string, string, string, string, string] = [
      r.status,
      r.raw,
      notNow ? now : null,
      notNow ? 1 : 0,
      now,
      r.enrollmentId,
      r.commandUuid,
      r.association?.deviceId ?? '',
      r.association?.sha256 ?? '',
    ];
    const checkAssociation = r.association !== undefined;
    const res =
      db === this.db
        ? await this.hot.storeReport[checkAssociation ? 1 : 0].execute(...params)
        : await db.executeQuery(this.storeReportQuery(db, params, checkAssociation).compile());
    return Number(res.numAffectedRows ?? 0) > 0;
  }

  /** Takes answered commands out of the active queue (batched; the next-command query skips them anyway). */
  async deactivate(pairs: { id: string; commandUuid: string }[]): Promise<void> {
    if (pairs.length === 0) return;
    await this.db
      .updateTable('nano_enrollment_queue')
      .set({ active: 0, updated_at: microNow() })
      .where((eb) =>
        eb(
          eb.refTuple('id', 'command_uuid'),
          'in',
          pairs.map((p) => eb.tuple(p.id, p.commandUuid)),
        ),
      )
      .where('active', '=', 1)
      .execute();
  }

  /** A NotNow shows the device could decode the command: its delivery count starts again. */
  async resetDeliveryAttempts(enrollmentId: string, commandUuid: string): Promise<void> {
    await this.db
      .updateTable('nano_enrollment_queue')
      .set({ delivery_attempts: 0, updated_at: microNow() })
      .where('id', '=', enrollmentId)
      .where('command_uuid', '=', commandUuid)
      .execute();
  }

  /** Counts deliveries of commands (flushed in batches). */
  async addDeliveryAttempts(pairs: { id: string; commandUuid: string }[]): Promise<void> {
    if (pairs.length === 0) return;
    await this.db
      .updateTable('nano_enrollment_queue')
      .set({ delivery_attempts: sql`delivery_attempts + 1` })
      .where((eb) =>
        eb(
          eb.refTuple('id', 'command_uuid'),
          'in',
          pairs.map((p) => eb.tuple(p.id, p.commandUuid)),
        ),
      )
      .execute();
  }

  /** Takes a command that was delivered too often without an answer out of the queue, with an Error result. */
  async giveUp(enrollmentId: string, commandUuid: string, resultPlist: Buffer): Promise<void> {
    await this.recordReport(enrollmentId, commandUuid, 'Error', resultPlist, true);
  }

  /**
   * Settles the queue row and stores the result in one transaction (one commit, so one log flush
   * on MySQL). Returns false, storing nothing, when the command was never queued for this enrollment.
   */
  async recordReport(
    enrollmentId: string,
    commandUuid: string,
    status: string,
    raw: Buffer,
    final: boolean,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await this.settleQueueRow(enrollmentId, commandUuid, final, trx))) return false;
      await this.upsertResult(enrollmentId, commandUuid, status, raw, trx);
      return true;
    });
  }

  async commandResults(commandUuid: string): Promise<CommandResultRow[]> {
    const rows = await this.db
      .selectFrom('nano_command_results as r')
      .innerJoin('nano_commands as c', 'c.command_uuid', 'r.command_uuid')
      .innerJoin('nano_enrollments as e', 'e.id', 'r.id')
      .select([
        'r.id as enrollment_id',
        'e.device_id',
        'r.command_uuid',
        'c.request_type',
        'r.status',
        'r.result',
        'r.updated_at',
      ])
      .where('r.command_uuid', '=', commandUuid)
      .orderBy('r.id')
      .execute();
    return rows.map((r) => ({ ...r, result: Buffer.from(r.result) }));
  }

  async getCommand(
    commandUuid: string,
  ): Promise<{ command_uuid: string; request_type: string; command: Buffer } | undefined> {
    const r = await this.db
      .selectFrom('nano_commands')
      .select(['command_uuid', 'request_type', 'command'])
      .where('command_uuid', '=', commandUuid)
      .executeTakeFirst();
    return r ? { ...r, command: Buffer.from(r.command) } : undefined;
  }

  /** Queued commands with their latest status (null = not answered yet), newest first. */
  async listCommands(f: {
    deviceIds?: string[];
    requestType?: string;
    commandUuid?: string;
    limit: number;
    offset: number;
  }): Promise<QueuedCommandRow[]> {
    let q = this.db
      .selectFrom('nano_enrollment_queue as q')
      .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
      .innerJoin('nano_enrollments as e', 'e.id', 'q.id')
      .leftJoin('nano_command_results as r', (j) =>
        j.onRef('r.id', '=', 'q.id').onRef('r.command_uuid', '=', 'q.command_uuid'),
      )
      .select([
        'q.id as enrollment_id',
        'e.device_id',
        'q.command_uuid',
        'c.request_type',
        'r.status',
        'q.created_at',
        sql<string>`COALESCE(r.updated_at, q.created_at)`.as('updated_at'),
      ]);
    if (f.deviceIds) {
      if (f.deviceIds.length === 0) return [];
      q = q.where('e.device_id', 'in', f.deviceIds);
    }
    if (f.requestType) q = q.where('c.request_type', '=', f.requestType);
    if (f.commandUuid) q = q.where('q.command_uuid', '=', f.commandUuid);
    const rows = await q
      .orderBy('q.created_at', 'desc')
      .orderBy('q.id')
      .limit(f.limit)
      .offset(f.offset)
      .execute();
    return rows.map((r) => ({ ...r, status: r.status ?? null }));
  }

  /**
   * Retention: deletes acknowledged results (and their queue rows) last updated before `cutoff`,
   * then commands no enrollment refers to any more. Returns how many results went.
   */
  async deleteAcknowledgedBefore(cutoff: string, batch = 5000): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom('nano_command_results')
        .select(['id', 'command_uuid'])
        .where('status', '=', 'Acknowledged')
        .where('updated_at', '<', cutoff)
        .limit(batch)
        .execute();
      if (rows.length === 0) break;
      await this.db.transaction().execute(async (trx) => {
        for (let i = 0; i < rows.length; i += ENQUEUE_CHUNK) {
          const tuples = rows.slice(i, i + ENQUEUE_CHUNK);
          await trx
            .deleteFrom('nano_enrollment_queue')
            .where((eb) =>
              eb(
                eb.refTuple('id', 'command_uuid'),
                'in',
                tuples.map((t) => eb.tuple(t.id, t.command_uuid)),
              ),
            )
            .execute();
          await trx
            .deleteFrom('nano_command_results')
            .where((eb) =>
              eb(
                eb.refTuple('id', 'command_uuid'),
                'in',
                tuples.map((t) => eb.tuple(t.id, t.command_uuid)),
              ),
            )
            .execute();
        }
      });
      total += rows.length;
      if (rows.length < batch) break;
    }
    // Commands left with no queue row, no result and no renewal reference (and older than the
    // cutoff) are done with.
    const unreferencedIn = (table: string, column: string) =>
      sql<boolean>`NOT EXISTS (SELECT 1 FROM ${sql.table(table)} x WHERE ${sql.ref(`x.${column}`)} = nano_commands.command_uuid)`;
    await this.db
      .deleteFrom('nano_commands')
      .where('created_at', '<', cutoff)
      .where(unreferencedIn('nano_enrollment_queue', 'command_uuid'))
      .where(unreferencedIn('nano_command_results', 'command_uuid'))
      .where(unreferencedIn('nano_cert_auth_associations', 'renew_command_uuid'))
      .execute();
    return total;
  }
}

/**
 * What a result upsert sets on an existing row: the new status, result and time; the first NotNow
 * time is kept and NotNows are counted. Shared by the one-report and the batched writes.
 */
export function resultUpsertSet(dialect: ReturnType<typeof dialectOf>): Record<string, any> {
  return {
    status: insertedValue(dialect, 'status'),
    result: insertedValue(dialect, 'result'),
    not_now_at: sql`COALESCE(nano_command_results.not_now_at, ${insertedValue(dialect, 'not_now_at')})`,
    not_now_tally: sql`nano_command_results.not_now_tally + ${insertedValue(dialect, 'not_now_tally')}`,
    updated_at: insertedValue(dialect, 'updated_at'),
  };
}

/**
 * An enrollment's next command: active, unanswered (or NotNow'd, when `includeNotNow`), highest
 * priority then oldest. `enrollmentId` may be a ReusableQuery marker. Shared by the one-report
 * path and the group commit, so both serve commands by the same rule.
 */
export function nextCommandSelect(
  db: Kysely<DB> | Transaction<DB>,
  enrollmentId: string,
  includeNotNow: boolean,
) {
  return db
    .selectFrom('nano_enrollment_queue as q')
    .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
    .leftJoin('nano_command_results as r', (j) =>
      j.onRef('r.id', '=', 'q.id').onRef('r.command_uuid', '=', 'q.command_uuid'),
    )
    .select(['q.command_uuid', 'c.request_type', 'c.command', 'c.subtype', 'q.delivery_attempts'])
    .where('q.id', '=', enrollmentId)
    .where('q.active', '=', 1)
    .where((eb) =>
      includeNotNow
        ? eb.or([eb('r.status', 'is', null), eb('r.status', '=', 'NotNow')])
        : eb('r.status', 'is', null),
    )
    .orderBy('q.priority', 'desc')
    .orderBy('q.created_at', 'asc')
    .limit(1);
}
