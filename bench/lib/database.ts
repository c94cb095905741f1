import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import type { DialectName } from '../../src/db/dialect.js';

/** MySQL server the MySQL variants of benchmarks use (each creates and drops its own database). */
export const benchMysqlUrl = process.env.FLOTILLA_BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

export async function mysqlReachable(): Promise<boolean> {
  try {
    const c = await createConnection({ uri: benchMysqlUrl, connectTimeout: 3000 });
    await c.end();
    return true;
  } catch {
    return false;
  }
}

export interface BenchDatabase {
  dialect: DialectName;
  /** FLOTILLA_DATABASE_URL for the server. */
  url: string;
  dataDir: string;
  drop(): Promise<void>;
}

/** A new empty database (a fresh MySQL schema, or a SQLite file in a temporary data directory). */
export async function createBenchDatabase(dialect: DialectName): Promise<BenchDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  if (dialect === 'sqlite') {
    return {
      dialect,
      url: 'sqlite:bench.db',
      dataDir,
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `flotilla_bench_${randomBytes(5).toString('hex')}`;
  const c = await createConnection({ uri: benchMysqlUrl });
  await c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await c.end();
  return {
    dialect,
    url: `${benchMysqlUrl}/${name}`,
    dataDir,
    async drop() {
      const d = await createConnection({ uri: benchMysqlUrl });
      await d.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await d.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
