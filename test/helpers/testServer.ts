import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { AssetName } from '../../src/configassets/service.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import type { DialectName } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { migrations } from '../../migrations/index.js';
import { createLogger } from '../../src/logger.js';
import { copySqliteTemplate, dialects, mysqlCloneSql, mysqlRootUrl, usableTemplates } from './dbTemplate.js';

export { dialects, mysqlRootUrl };

async function probeMysql(): Promise<boolean> {
  if (!dialects.includes('mysql')) return false;
  try {
    const c = await createConnection({ uri: mysqlRootUrl, connectTimeout: 3000 });
    await c.end();
    return true;
  } catch (err) {
    if (process.env.CI === 'true') {
      throw new Error(`MySQL at ${mysqlRootUrl} is unreachable and CI=true: ${(err as Error).message}`);
    }
    return false;
  }
}

/**
 * True when MySQL is under test and answers; with CI=true an unreachable MySQL fails the run instead.
 */
export const mysqlAvailable = await probeMysql();

export interface TestDatabase {
  database: Database;
  dialect: DialectName;
  url: string;
  dataDir: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database of the given dialect; `drop` removes it. */
export async function createTestDatabase(dialect: DialectName): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-test-'));
  // A copy of the run's migrated template when there is one (see dbTemplate.ts): it has every
  // migration applied, so `migrateToLatest` would find nothing to do and is skipped.
  const templates = await usableTemplates(Object.keys(migrations));
  const cloned = dialect === 'mysql' ? !!templates?.mysql : !!templates?.sqlite;
  let url: string;
  let dropDb = async () => {};
  if (dialect === 'mysql') {
    const name = `flotilla_test_${randomBytes(6).toString('hex')}`;
    const c = await createConnection({ uri: mysqlRootUrl, multipleStatements: true });
    try {
      await c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      if (templates?.mysql) {
        try {
          await c.query(mysqlCloneSql(templates.mysql, name));
        } catch (err) {
          await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
          throw err;
        }
      }
    } finally {
      await c.end();
    }
    url = `${mysqlRootUrl}/${name}`;
    dropDb = async () => {
      const d = await createConnection({ uri: mysqlRootUrl });
      await d.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await d.end();
    };
  } else {
    url = 'sqlite:test.db';
    if (templates?.sqlite) copySqliteTemplate(templates.sqlite, join(dataDir, 'test.db'));
  }
  const database = openDatabase({ url, dataDir, poolSize: 10 });
  if (!cloned) await migrateToLatest(database.db);
  return {
    database,
    dialect,
    url,
    dataDir,
    async drop() {
      await database.close();
      await dropDb();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestServer {
  app: App;
  url: string;
  dialect: DialectName;
  config: Config;
  testDb: TestDatabase;
  /** Every log line the server wrote (empty at the default `silent` level). */
  logLines?: Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * What server start does with the Apple SCEP CA and the Windows WSTEP CA. Their RSA keys take most
 * of a test server's start, so the run's global setup makes them once (with the same code) and each
 * server stores that pair before `ensureBuiltinCertificateAuthorities` finds it there.
 */
async function ensureBuiltinCertificateAuthorities(app: App): Promise<void> {
  const shared = inject('flotillaSharedCrypto')?.builtinAssets;
  const { assets } = app.services;
  if (shared) {
    await assets.set(
      Object.fromEntries(Object.entries(shared).map(([k, v]) => [k, Buffer.from(v, 'base64')])) as Partial<
        Record<AssetName, Buffer>
      >,
    );
  }
  await assets.ensureBuiltinCertificateAuthorities();
  assets.invalidate();
}

export const testServerKey = 'test-server-key-0123456789abcdef0123456789';

/** Starts the real server on a random loopback port against a fresh database. */
export async function startTestServer(
  dialect: DialectName,
  overrides: Partial<Config> = {},
): Promise<TestServer> {
  const testDb = await createTestDatabase(dialect);
  const config = loadConfig(
    {},
    {
      listenHost: '127.0.0.1',
      listenPort: 0,
      databaseUrl: testDb.url,
      dataDir: testDb.dataDir,
      serverPrivateKey: testServerKey,
      logLevel: process.env.FLOTILLA_TEST_LOG ?? 'silent',
      cronEnabled: false,
      ...overrides,
    },
  );
  // Log lines are kept for tests that check what was logged (pass a `logLevel` override).
  const logLines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      if (process.env.FLOTILLA_TEST_LOG) process.stdout.write(chunk);
      for (const l of chunk.toString().split('\n')) if (l.trim()) logLines.push(JSON.parse(l));
      cb();
    },
  });
  const logger = createLogger(config.logLevel, sink);
  const app = await buildApp({ config, database: testDb.database, serverKey: testServerKey, logger });
  await ensureBuiltinCertificateAuthorities(app);
  await app.server.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const url = `http://127.0.0.1:${port}`;
  return {
    app,
    url,
    dialect,
    config,
    testDb,
    logLines,
    async close() {
      await app.services.stopBackground?.();
      await app.server.close();
      await testDb.drop();
    },
  };
}

/**
 * Runs `body` once per dialect, each against its own server and database. MySQL suites are skipped
 * (not failed) when MySQL is unreachable outside CI.
 */
export function describeEachDialect(
  title: string,
  body: (server: () => TestServer, dialect: DialectName) => void,
  overrides: Partial<Config> = {},
): void {
  for (const dialect of dialects) {
    const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;
    d(`${title} [${dialect}]`, () => {
      let srv: TestServer | undefined;
      beforeAll(async () => {
        srv = await startTestServer(dialect, overrides);
      });
      afterAll(async () => {
        await srv?.close();
      });
      body(() => {
        if (!srv) throw new Error('test server not started');
        return srv;
      }, dialect);
    });
  }
}
