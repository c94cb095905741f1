import { sql, type Compilable, type Expression, type Kysely, type SqlBool, type Transaction } from 'kysely';
import { ReusableQueriesBySize } from '../../db/reusableQuery.js';
import { dbNow, dialectOf } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { finalStatuses } from './queue.js';
import {
  microNow,
  nextCommandSelect,
  resultUpsertSet,
  type CertificateAssociation,
  type NextCommandRow,
} from './store.js';

/** One device report taking part in a group commit. */
export interface BatchedReport {
  enrollmentId: string;
  commandUuid: string;
  status: string;
  raw: Buffer;
  association: CertificateAssociation;
}

/** What a group commit did with one report, and what the device gets next. */
export interface BatchedReportOutcome {
  /** False when the device certificate is no longer bound to the device (nothing stored). */
  associated: boolean;
  /** False when the command was never queued for this enrollment (nothing stored). */
  stored: boolean;
  /** The reported command's request type, when stored. */
  requestType?: string;
  /** The enrollment's next command after this report, when associated. */
  next?: NextCommandRow;
}

interface NextDbRow {
  enrollment_id: string;
  command_uuid: string;
  request_type: string;
  command: Buffer | Uint8Array;
  subtype: string;
  delivery_attempts: number | string;
}

/**
 * Group commit of Apple command reports: many devices' reports stored, their queue rows settled
 * and their next commands read in one transaction of a few statements, however many reports it
 * carries. Same rules as CommandQueueStore.storeReport, for a whole batch.
 */
export class ReportBatchStore {
  /*
   * Every statement here is compiled once per batch size and then only bound (ReusableQuery): a
   * CPU profile of the connect bench put a third of the server's time in building and compiling
   * these statements afresh for every batch.
   */
  private readonly bound: ReusableQueriesBySize<{ id: string; sha256: string }>;
  private readonly queued: ReusableQueriesBySize<{ id: string; command_uuid: string; request_type: string }>;
  private readonly upsert: ReusableQueriesBySize<unknown>;
  private readonly finish: ReusableQueriesBySize<unknown>;
  private readonly restart: ReusableQueriesBySize<unknown>;
  private readonly next: ReusableQueriesBySize<NextDbRow>;

  constructor(readonly db: Kysely<DB>) {
    const dialect = dialectOf(db);
    const pairs = (n: number) => 2 * n;
    this.bound = new ReusableQueriesBySize(
      db,
      (n, m) => {
        const q = db
          .selectFrom('nano_cert_auth_associations')
          .select(['id', 'sha256'])
          .where((eb) => pairsMatch(eb, 'id', 'sha256', markerPairs(m, 0, n)));
        return dialect === 'mysql' ? q.modifyEnd(sql`LOCK IN SHARE MODE`) : q;
      },
      pairs,
    );
    this.queued = new ReusableQueriesBySize(
      db,
      (n, m) =>
        db
          .selectFrom('nano_enrollment_queue as q')
          .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
          .select(['q.id', 'q.command_uuid', 'c.request_type'])
          .where((eb) => pairsMatch(eb, 'q.id', 'q.command_uuid', markerPairs(m, 0, n))),
      pairs,
    );
    const set = resultUpsertSet(dialect);
    this.upsert = new ReusableQueriesBySize(
      db,
      (n, m) => {
        const rows = Array.from({ length: n }, (_, i) => {
          const [id, command_uuid, status, result, not_now_at, not_now_tally, created_at, updated_at] =
            m.slice(resultColumns * i, resultColumns * (i + 1)) as any[];
          return { id, command_uuid, status, result, not_now_at, not_now_tally, created_at, updated_at };
        });
        const base = db.insertInto('nano_command_results').values(rows);
        return dialect === 'mysql'
          ? base.onDuplicateKeyUpdate(set)
          : base.onConflict((oc) => oc.columns(['id', 'command_uuid']).doUpdateSet(set));
      },
      (n) => resultColumns * n,
    );
    this.finish = new ReusableQueriesBySize(
      db,
      (n, m) =>
        db
          .updateTable('nano_enrollment_queue')
          .set({ active: 0, updated_at: m[0] as any })
          .where((eb) => pairsMatch(eb, 'id', 'command_uuid', markerPairs(m, 1, n)))
          .where('active', '=', 1),
      (n) => 1 + 2 * n,
    );
    this.restart = new ReusableQueriesBySize(
      db,
      (n, m) =>
        db
          .updateTable('nano_enrollment_queue')
          .set({ delivery_attempts: 0, updated_at: m[0] as any })
          .where((eb) => pairsMatch(eb, 'id', 'command_uuid', markerPairs(m, 1, n))),
      (n) => 1 + 2 * n,
    );
    // The one-report path's rule (nextCommandSelect), plus whose command each row is.
    const one = (id: unknown) => nextCommandSelect(db, id as string, false).select('q.id as enrollment_id');
    // MySQL takes each member's ORDER BY ... LIMIT inside parentheses; SQLite allows neither, so
    // there each member is a derived table.
    this.next = new ReusableQueriesBySize<NextDbRow>(
      db,
      (n, m) => {
        if (dialect === 'mysql') {
          const union = sql<NextDbRow>`${sql.join(
            m.slice(0, n).map((id) => sql`(${one(id)})`),
            sql` UNION ALL `,
          )}`;
          return { compile: () => union.compile(db) };
        }
        return m
          .slice(0, n)
          .map((id, i) => db.selectFrom(one(id).as(`n${i}`)).selectAll())
          .reduce((u, q) => u.unionAll(q)) as unknown as Compilable<NextDbRow>;
      },
      (n) => n,
    );
  }

  /**
   * In one transaction: which certificates are still bound (read with a shared lock, so a host
   * deletion in another process waits for this commit rather than slipping between check and
   * write), which reported commands are queued for their enrollments, one multi-row upsert of
   * the results, one UPDATE taking answered commands out of the active queue, and one SELECT of
   * each enrollment's next command (reading this transaction's own writes, so an answered command
   * is never the next one). Outcomes come back in the order of `reports`.
   */
  async storeReportsAndReadNext(reports: BatchedReport[]): Promise<BatchedReportOutcome[]> {
    if (reports.length === 0) return [];
    return this.db.transaction().execute(async (trx) => {
      const bound = await this.boundCertificates(trx, reports);
      const isBound = (r: BatchedReport) => bound.has(key(r.association.deviceId, r.association.sha256));
      const candidates = reports.filter(isBound);
      const queued = await this.queuedCommands(trx, candidates);
      const stored = candidates.filter((r) => queued.has(key(r.enrollmentId, r.commandUuid)));
      await this.upsertResults(trx, stored);
      await this.settleQueueRows(trx, stored);
      const next = await this.nextCommands(trx, [...new Set(candidates.map((r) => r.enrollmentId))]);
      return reports.map((r) => {
        if (!isBound(r)) return { associated: false, stored: false };
        const requestType = queued.get(key(r.enrollmentId, r.commandUuid));
        return {
          associated: true,
          stored: requestType !== undefined,
          requestType,
          next: next.get(r.enrollmentId),
        };
      });
    });
  }

  private async boundCertificates(trx: Transaction<DB>, reports: BatchedReport[]): Promise<Set<string>> {
    const pairs = uniquePairs(reports.map((r) => [r.association.deviceId, r.association.sha256]));
    const { rows } = await this.bound.execute(trx, pairs.length, pairs.flat());
    return new Set(rows.map((r) => key(r.id, r.sha256)));
  }

  /** Request types of the reported commands queued for their enrollments, by enrollment and command. */
  private async queuedCommands(trx: Transaction<DB>, reports: BatchedReport[]): Promise<Map<string, string>> {
    if (reports.length === 0) return new Map();
    const pairs = uniquePairs(reports.map((r) => [r.enrollmentId, r.commandUuid]));
    const { rows } = await this.queued.execute(trx, pairs.length, pairs.flat());
    return new Map(rows.map((r) => [key(r.id, r.command_uuid), r.request_type]));
  }

  /** One multi-row upsert; a later status overwrites an earlier one and NotNows are counted. */
  private async upsertResults(trx: Transaction<DB>, reports: BatchedReport[]): Promise<void> {
    if (reports.length === 0) return;
    const now = dbNow();
    // Two reports for one command in a batch: the later one wins, as it would one at a time.
    const latest = [...new Map(reports.map((r) => [key(r.enrollmentId, r.commandUuid), r])).values()];
    const args = latest.flatMap((r) => {
      const notNow = r.status === 'NotNow';
      // In the order of resultColumns' names in the upsert's builder.
      return [r.enrollmentId, r.commandUuid, r.status, r.raw, notNow ? now : null, notNow ? 1 : 0, now, now];
    });
    await this.upsert.execute(trx, latest.length, args);
  }

  /** Final answers leave the active queue; a NotNow starts the delivery count again. */
  private async settleQueueRows(trx: Transaction<DB>, reports: BatchedReport[]): Promise<void> {
    const final = uniquePairs(
      reports.filter((r) => finalStatuses.has(r.status)).map((r) => [r.enrollmentId, r.commandUuid]),
    );
    if (final.length) await this.finish.execute(trx, final.length, [microNow(), ...final.flat()]);
    const notNow = uniquePairs(
      reports.filter((r) => r.status === 'NotNow').map((r) => [r.enrollmentId, r.commandUuid]),
    );
    if (notNow.length) await this.restart.execute(trx, notNow.length, [microNow(), ...notNow.flat()]);
  }

  /**
   * Each enrollment's next command (active, unanswered, highest priority then oldest), as one
   * UNION ALL of per-enrollment walks of the covering index (each stops at its first row).
   * NotNow'd commands wait for the device's next Idle, as in CommandQueueStore.nextCommand.
   */
  private async nextCommands(
    trx: Transaction<DB>,
    enrollmentIds: string[],
  ): Promise<Map<string, NextCommandRow>> {
    if (enrollmentIds.length === 0) return new Map();
    const { rows } = await this.next.execute(trx, enrollmentIds.length, enrollmentIds);
    return new Map(
      rows.map((r) => [
        r.enrollment_id,
        {
          command_uuid: r.command_uuid,
          request_type: r.request_type,
          command: Buffer.from(r.command),
          subtype: r.subtype,
          delivery_attempts: Number(r.delivery_attempts),
        },
      ]),
    );
  }
}

/** The columns of one result row in the upsert, in the order its arguments come. */
const resultColumns = 8;

/** Markers `m[from..]` as n (first, second) pairs. */
function markerPairs(m: unknown[], from: number, n: number): [string, string][] {
  return Array.from({ length: n }, (_, i) => [m[from + 2 * i] as string, m[from + 2 * i + 1] as string]);
}

function key(a: string, b: string): string {
  return `${a}\n${b}`;
}

function uniquePairs(pairs: [string, string][]): [string, string][] {
  return [...new Map(pairs.map((p) => [key(p[0], p[1]), p])).values()];
}

/**
 * `(a = ? AND b = ?) OR ...`: an OR of equalities on both key columns, which both databases
 * turn into point lookups on the primary key (row-value IN lists are not planned as well by every
 * MariaDB version).
 */
function pairsMatch(eb: any, first: string, second: string, pairs: [string, string][]): Expression<SqlBool> {
  return eb.or(pairs.map(([a, b]) => eb.and([eb(first, '=', a), eb(second, '=', b)])));
}
