import { X509Certificate, createHash } from 'node:crypto';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { fromDbTime, toDbTime } from '../db/dialect.js';
import { ImportError } from './errors.js';

/** A read-only view of the source MySQL database (only MySQL sources: both tools are MySQL-first). */
export class SourceDb {
  private constructor(
    private readonly conn: Connection,
    /** `host:port/database`, for messages and the resumption key (no credentials). */
    readonly name: string,
  ) {}

  static async open(url: string): Promise<SourceDb> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ImportError('--from must be a mysql:// URL');
    }
    if (parsed.protocol !== 'mysql:')
      throw new ImportError('--from must be a mysql:// URL (only MySQL sources)');
    const database = parsed.pathname.replace(/^\//, '');
    if (!database) throw new ImportError('--from must name a database (mysql://user:pass@host:3306/dbname)');
    const name = `${parsed.hostname}:${parsed.port || '3306'}/${database}`;
    try {
      const conn = await createConnection({
        uri: url,
        dateStrings: true,
        timezone: 'Z',
        supportBigNumbers: true,
      });
      return new SourceDb(conn, name);
    } catch (err) {
      // The driver's message names host and user, never the password.
      throw new ImportError(`cannot connect to the source database ${name}: ${(err as Error).message}`);
    }
  }

  async query<T = Record<string, unknown>>(sqlText: string, params: unknown[] = []): Promise<T[]> {
    const [rows] = await this.conn.query<RowDataPacket[]>(sqlText, params);
    return rows as T[];
  }

  /** Columns per table of the source database. */
  async columns(): Promise<Map<string, Set<string>>> {
    const rows = await this.query<{ t: string; c: string }>(
      'SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()',
    );
    const out = new Map<string, Set<string>>();
    for (const r of rows) {
      if (!out.has(r.t)) out.set(r.t, new Set());
      out.get(r.t)!.add(r.c);
    }
    return out;
  }

  /**
   * Refuses a source whose tables lack what the import reads: a different tool or schema version
   * would otherwise be half-read. Lists every missing table and column at once.
   */
  async requireSchema(what: string, expected: Record<string, string[]>): Promise<Map<string, Set<string>>> {
    const have = await this.columns();
    const missing: string[] = [];
    for (const [table, cols] of Object.entries(expected)) {
      const got = have.get(table);
      if (!got) {
        missing.push(`table ${table}`);
        continue;
      }
      for (const c of cols) if (!got.has(c)) missing.push(`column ${table}.${c}`);
    }
    if (missing.length) {
      throw new ImportError(
        `${this.name} is not a ${what} database of a supported schema version: missing ${missing.join(', ')}`,
      );
    }
    return have;
  }

  async count(table: string): Promise<number> {
    const rows = await this.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM \`${table}\``);
    return Number(rows[0]?.n ?? 0);
  }

  close(): Promise<void> {
    return this.conn.end();
  }
}

/** A source time (MySQL TIMESTAMP text, UTC) in our stored form. */
export function ourTime(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  const d = fromDbTime(String(v));
  return d && !Number.isNaN(d.getTime()) ? toDbTime(d) : null;
}

export function ourTimeOr(v: unknown, fallback: string): string {
  return ourTime(v) ?? fallback;
}

export function optString(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

export function optBuffer(v: unknown): Buffer | null {
  if (v === null || v === undefined) return null;
  return Buffer.isBuffer(v) ? v : Buffer.from(String(v));
}

/** The identity certificate's SHA-256 (of its DER, as NanoMDM keys associations) and expiry. */
export function identityFacts(pem: string | null): { sha256: string; notAfter: string } | undefined {
  if (!pem) return undefined;
  try {
    const x = new X509Certificate(pem);
    return {
      sha256: createHash('sha256').update(x.raw).digest('hex'),
      notAfter: toDbTime(new Date(x.validTo)),
    };
  } catch {
    return undefined;
  }
}
