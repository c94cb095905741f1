import { dirname, isAbsolute, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, MysqlDialect, SqliteDialect } from 'kysely';
import { createPool } from 'mysql2';
import { ensurePrivateDir, ensurePrivateFile, tightenFileMode } from '../privateFiles.js';
import type { DB } from './schema.js';
import type { DialectName } from './dialect.js';

export interface Database {
  db: Kysely<DB>;
  dialect: DialectName;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  url: string;
  dataDir: string;
  poolSize?: number;
}

function sqlitePath(url: string, dataDir: string): string {
  const p = url.slice('sqlite:'.length);
  if (p === ':memory:') return p;
  return isAbsolute(p) ? p : resolve(dataDir, p);
}

export function openDatabase(opts: OpenDatabaseOptions): Database {
  if (opts.url.startsWith('mysql://')) {
    const pool = createPool({
      uri: opts.url,
      connectionLimit: opts.poolSize ?? 10,
      dateStrings: true,
      timezone: 'Z',
      supportBigNumbers: true,
      charset: 'utf8mb4',
      multipleStatements: false,
    });
    const db = new Kysely<DB>({ dialect: new MysqlDialect({ pool }) });
    return { db, dialect: 'mysql', close: () => db.destroy() };
  }
  const file = sqlitePath(opts.url, opts.dataDir);
  if (file !== ':memory:') {
    // Owner-only: a new data directory is 0700 and the database file is created 0600 before SQLite
    // opens it. SQLite gives the -wal and -shm files it creates the database file's mode; ones left
    // from before are tightened here too.
    ensurePrivateDir(dirname(file));
    ensurePrivateFile(file);
    for (const suffix of ['-wal', '-shm', '-journal']) tightenFileMode(file + suffix);
  }
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}
