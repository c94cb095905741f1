import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import type { DB } from '../../src/db/schema.js';
import { createLogger } from '../../src/logger.js';
import {
  createTestDatabase,
  dialects,
  mysqlAvailable,
  mysqlRootUrl,
  testServerKey,
  type TestDatabase,
} from '../helpers/testServer.js';

async function appOn(database: Database, testDb: { url: string; dataDir: string }): Promise<App> {
  const config = loadConfig(
    {},
    {
      databaseUrl: testDb.url,
      dataDir: testDb.dataDir,
      serverPrivateKey: testServerKey,
      logLevel: 'silent',
      cronEnabled: false,
    },
  );
  return buildApp({ config, database, serverKey: testServerKey, logger: createLogger('silent') });
}

async function get(app: App, url: string) {
  const res = await app.server.inject({ method: 'GET', url });
  return { status: res.statusCode, body: JSON.parse(res.body) as unknown };
}

/** A second connection to the test database that may read but not write. */
async function readOnlyDatabase(
  testDb: TestDatabase,
): Promise<{ database: Database; drop(): Promise<void> }> {
  if (testDb.dialect === 'sqlite') {
    const sqlite = new SqliteDatabase(join(testDb.dataDir, 'test.db'), { readonly: true });
    const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: sqlite }) });
    const database: Database = { db, dialect: 'sqlite', close: () => db.destroy() };
    return { database, drop: () => database.close() };
  }
  // A dedicated user with SELECT only on this test database (no server-wide change).
  const name = new URL(testDb.url).pathname.slice(1);
  const user = `flotilla_ro_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const root = await createConnection({ uri: mysqlRootUrl });
  await root.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
  await root.query(`GRANT SELECT ON \`${name}\`.* TO '${user}'@'%'`);
  await root.end();
  const url = new URL(mysqlRootUrl);
  url.username = user;
  url.password = password;
  url.pathname = `/${name}`;
  const database = openDatabase({ url: url.toString(), dataDir: testDb.dataDir, poolSize: 2 });
  return {
    database,
    async drop() {
      await database.close();
      const c = await createConnection({ uri: mysqlRootUrl });
      await c.query(`DROP USER IF EXISTS '${user}'@'%'`);
      await c.end();
    },
  };
}

for (const dialect of dialects) {
  describe.skipIf(dialect === 'mysql' && !mysqlAvailable)(`/healthz and /readyz [${dialect}]`, () => {
    let testDb: TestDatabase;
    let healthy: App;
    let readOnly: { database: Database; drop(): Promise<void> };
    let refusing: App;

    beforeAll(async () => {
      testDb = await createTestDatabase(dialect);
      healthy = await appOn(testDb.database, testDb);
      readOnly = await readOnlyDatabase(testDb);
      refusing = await appOn(readOnly.database, testDb);
    });
    afterAll(async () => {
      await refusing?.server.close();
      await readOnly?.drop();
      await healthy?.server.close();
      await testDb?.drop();
    });

    it('answers 200 while the database reads and writes, and the probe leaves no row', async () => {
      expect(await get(healthy, '/readyz')).toEqual({ status: 200, body: { status: 'ok' } });
      expect(await get(healthy, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
      expect(
        await testDb.database.db
          .selectFrom('rate_limits' as any)
          .selectAll()
          .execute(),
      ).toEqual([]);
    });

    it('answers 503 with the reason when the database refuses writes; /healthz (reads) stays 200', async () => {
      expect(await get(refusing, '/readyz')).toEqual({
        status: 503,
        body: { status: 'unavailable', reason: 'database refuses writes' },
      });
      expect(await get(refusing, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    });
  });
}

describe('/healthz and /readyz with an unreachable database', () => {
  let app: App;
  let database: Database;
  beforeAll(async () => {
    // Nothing listens on port 1: every connection attempt is refused at once.
    const url = 'mysql://flotilla@127.0.0.1:1/flotilla';
    database = openDatabase({ url, dataDir: '.', poolSize: 1 });
    app = await appOn(database, { url, dataDir: '.' });
  });
  afterAll(async () => {
    await app.server.close();
    await database.close();
  });

  it('answers 503 on both', async () => {
    expect(await get(app, '/healthz')).toEqual({ status: 503, body: { status: 'database unavailable' } });
    expect(await get(app, '/readyz')).toEqual({
      status: 503,
      body: { status: 'unavailable', reason: 'database cannot be read' },
    });
  });
});
