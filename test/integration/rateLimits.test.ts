import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { createLogger } from '../../src/logger.js';
import { accountLogId } from '../../src/ratelimit/service.js';
import {
  createTestDatabase,
  dialects,
  mysqlAvailable,
  testServerKey,
  type TestDatabase,
} from '../helpers/testServer.js';

const adminEmail = 'admin@example.com';
const adminPassword = 'Adm1n-Passw0rd!';
const wrongPassword = 'Wr0ng-Passw0rd?';

/** Small limits so a test reaches them in a few requests. */
const limits: Partial<Config> = {
  loginAttemptsPerAddress: 8,
  loginAddressWindowSeconds: 60,
  loginFailuresPerAccount: 5,
  loginAccountWindowSeconds: 900,
  enrollRequestsPerAddress: 4,
  enrollAddressWindowSeconds: 60,
};

/** Fake time: each test runs on its own day, so no window of one test overlaps another's. */
const day = (n: number) => Date.UTC(2030, 0, 1) + n * 86_400_000;

interface Instance {
  app: App;
  database: Database;
  lines: string[];
  /** Sets this instance's rate-limit clock (epoch ms). */
  at(ms: number): void;
}

/** A server app on `testDb` with its own connection pool (as another process would have). */
async function instance(testDb: TestDatabase, overrides: Partial<Config> = {}): Promise<Instance> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const config = loadConfig(
    {},
    {
      databaseUrl: testDb.url,
      dataDir: testDb.dataDir,
      serverPrivateKey: testServerKey,
      logLevel: 'info',
      cronEnabled: false,
      ...limits,
      ...overrides,
    },
  );
  const database =
    testDb.dialect === 'mysql' ? openDatabase({ url: testDb.url, dataDir: testDb.dataDir }) : testDb.database;
  const app = await buildApp({
    config,
    database,
    serverKey: testServerKey,
    logger: createLogger('info', sink),
  });
  return {
    app,
    database,
    lines,
    at(ms) {
      app.services.rateLimits.now = () => ms;
    },
  };
}

async function closeInstance(i: Instance, testDb: TestDatabase) {
  await i.app.server.close();
  if (i.database !== testDb.database) await i.database.close();
}

interface Answer {
  status: number;
  body: any;
  retryAfter: string | undefined;
}

async function send(
  i: Instance,
  method: 'GET' | 'POST',
  url: string,
  opts: { body?: unknown; address?: string; token?: string } = {},
): Promise<Answer> {
  const res = await i.app.server.inject({
    method,
    url,
    remoteAddress: opts.address ?? '192.0.2.1',
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
    ...(opts.body !== undefined ? { payload: opts.body as object } : {}),
  });
  const retryAfter = res.headers['retry-after'];
  return {
    status: res.statusCode,
    body: res.body ? JSON.parse(res.body) : undefined,
    retryAfter: retryAfter === undefined ? undefined : String(retryAfter),
  };
}

const login = (i: Instance, email: string, password: string, address?: string) =>
  send(i, 'POST', '/api/v1/fleet/login', { body: { email, password }, address });

/** Fleet's 429: `Retry-After` in seconds and the same number in the message. */
function expectLimited(res: Answer, seconds: number) {
  expect(res.status).toBe(429);
  expect(res.retryAfter).toBe(String(seconds));
  const reason = `limit exceeded, retry after: ${seconds}s`;
  expect(res.body).toEqual({ message: reason, errors: [{ name: 'base', reason }], uuid: expect.any(String) });
}

async function setup(i: Instance): Promise<string> {
  const res = await send(i, 'POST', '/api/v1/setup', {
    body: {
      admin: { email: adminEmail, name: 'Admin', password: adminPassword },
      org_info: { org_name: 'A' },
    },
  });
  expect(res.status).toBe(200);
  return res.body.token as string;
}

for (const dialect of dialects) {
  const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;

  d(`login and enrollment rate limits [${dialect}]`, () => {
    let testDb: TestDatabase;
    let srv: Instance;
    let adminToken = '';

    beforeAll(async () => {
      testDb = await createTestDatabase(dialect);
      srv = await instance(testDb);
      srv.at(day(0));
      adminToken = await setup(srv);
    });
    afterAll(async () => {
      await closeInstance(srv, testDb);
      await testDb.drop();
    });

    it('refuses an account after a burst of wrong passwords, the right one too, until the window ends', async () => {
      srv.at(day(1) + 1000);
      for (let n = 1; n <= 5; n++) {
        const res = await login(srv, adminEmail, wrongPassword);
        expect(res.status, `attempt ${n}`).toBe(401);
        expect(res.retryAfter).toBeUndefined();
      }
      expectLimited(await login(srv, adminEmail, wrongPassword), 899);
      expectLimited(await login(srv, adminEmail, adminPassword), 899);
      // The same account from another address, and in a different case, is still refused.
      expectLimited(await login(srv, 'ADMIN@example.com ', adminPassword, '198.51.100.7'), 899);

      // Later in the same 15-minute window: a fresh per-address window does not help.
      srv.at(day(1) + 600_000);
      expectLimited(await login(srv, adminEmail, adminPassword), 300);

      // The window has ended: the right password works again.
      srv.at(day(1) + 900_000);
      const ok = await login(srv, adminEmail, adminPassword);
      expect(ok.status).toBe(200);
      expect(ok.body.token).toEqual(expect.any(String));
    });

    it('does not count a successful login against the account', async () => {
      srv.at(day(2));
      for (let n = 0; n < 4; n++) expect((await login(srv, adminEmail, wrongPassword)).status).toBe(401);
      expect((await login(srv, adminEmail, adminPassword)).status).toBe(200);
      expect((await login(srv, adminEmail, wrongPassword)).status).toBe(401);
      expectLimited(await login(srv, adminEmail, wrongPassword), 900);
    });

    it('limits attempts per client address across accounts, and only that address', async () => {
      srv.at(day(3) + 15_000);
      const address = '203.0.113.9';
      for (let n = 0; n < 8; n++) {
        const email = n % 2 ? 'alice@example.com' : 'bob@example.com';
        expect((await login(srv, email, wrongPassword, address)).status).toBe(401);
      }
      expectLimited(await login(srv, 'carol@example.com', wrongPassword, address), 45);
      expectLimited(await login(srv, adminEmail, adminPassword, address), 45);
      // Malformed requests count too: the limit is checked before the body is read.
      expectLimited(await send(srv, 'POST', '/api/v1/fleet/login', { body: { nope: 1 }, address }), 45);
      expect((await login(srv, adminEmail, adminPassword, '203.0.113.10')).status).toBe(200);

      srv.at(day(3) + 60_000);
      expect((await login(srv, adminEmail, adminPassword, address)).status).toBe(200);
    });

    it('limits the enrollment endpoints per client address, counted together', async () => {
      srv.at(day(4) + 30_000);
      const address = '203.0.113.50';
      for (let n = 0; n < 3; n++) {
        const res = await send(srv, 'GET', `/api/mdm/apple/enroll?token=guess-${n}`, { address });
        expect(res.status).toBe(401);
      }
      const orbit = await send(srv, 'POST', '/api/fleet/orbit/enroll', {
        address,
        body: { enroll_secret: 'guess', hardware_uuid: 'u-1' },
      });
      expect(orbit.status).toBe(401);
      expectLimited(await send(srv, 'GET', '/api/mdm/apple/enroll?token=guess-4', { address }), 30);
      expectLimited(
        await send(srv, 'POST', '/api/fleet/orbit/enroll', {
          address,
          body: { enroll_secret: 'guess', hardware_uuid: 'u-1' },
        }),
        30,
      );
      expectLimited(
        await send(srv, 'GET', '/api/latest/fleet/enrollment_profiles/manual', {
          address,
          token: adminToken,
        }),
        30,
      );
      // Another address is not limited; the next window lets this one in again.
      expect(
        (await send(srv, 'GET', '/api/mdm/apple/enroll?token=x', { address: '203.0.113.51' })).status,
      ).toBe(401);
      srv.at(day(4) + 60_000);
      expect((await send(srv, 'GET', '/api/mdm/apple/enroll?token=x', { address })).status).toBe(401);
    });

    it('logs each failed login at warn with the account pseudonym, never the e-mail or a password', async () => {
      srv.at(day(5));
      const before = srv.lines.length;
      const email = 'Dave@Example.com';
      expect((await login(srv, email, wrongPassword, '192.0.2.77')).status).toBe(401);
      for (let n = 0; n < 5; n++) await login(srv, adminEmail, wrongPassword, '192.0.2.78');
      const lines = srv.lines.slice(before);
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const failures = parsed.filter((l) => l.msg === 'login failed');
      expect(failures[0]).toMatchObject({
        level: 40,
        event: 'login_failed',
        account: accountLogId('dave@example.com'),
        address: '192.0.2.77',
        reason: 'invalid email or password',
      });
      expect(failures.filter((l) => l.account === accountLogId(adminEmail))).toHaveLength(5);
      const limited = await login(srv, adminEmail, adminPassword, '192.0.2.78');
      expect(limited.status).toBe(429);
      const last = srv.lines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(last.filter((l) => l.msg === 'login failed').at(-1)).toMatchObject({
        level: 40,
        reason: 'too many failed attempts for this account',
      });
      const all = srv.lines.join('\n');
      for (const secret of [wrongPassword, adminPassword, email, email.toLowerCase(), adminEmail]) {
        expect(all).not.toContain(secret);
      }
    });

    it('keeps no address or e-mail in clear, and the cleanup job removes ended windows', async () => {
      const { db } = testDb.database;
      // Counters as the tests above leave them, when they did not run: a failed login days ago.
      const counters = () =>
        db
          .selectFrom('rate_limits' as any)
          .selectAll()
          .execute();
      if ((await counters()).length === 0) {
        srv.at(day(3) + 15_000);
        await login(srv, 'bob@example.com', wrongPassword, '203.0.113.9');
      }
      const rows = await db
        .selectFrom('rate_limits' as any)
        .selectAll()
        .execute();
      expect(rows.length).toBeGreaterThan(0);
      const text = JSON.stringify(rows);
      for (const clear of ['example.com', '203.0.113', '192.0.2', 'login']) expect(text).not.toContain(clear);
      srv.at(day(4) + 60_000);
      const deleted = await srv.app.services.rateLimits.deleteExpired();
      expect(deleted).toBeGreaterThan(0);
      const left = await db
        .selectFrom('rate_limits' as any)
        .selectAll()
        .execute();
      expect(left.length).toBe(rows.length - deleted);
      srv.at(day(30));
      await srv.app.services.rateLimits.deleteExpired();
      expect(
        await db
          .selectFrom('rate_limits' as any)
          .selectAll()
          .execute(),
      ).toEqual([]);
    });
  });
}

describe.skipIf(!mysqlAvailable)('rate limits shared by two server processes on one MariaDB database', () => {
  let testDb: TestDatabase;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    testDb = await createTestDatabase('mysql');
    a = await instance(testDb, { loginAttemptsPerAddress: 1000 });
    b = await instance(testDb, { loginAttemptsPerAddress: 1000 });
    a.at(day(0));
    await setup(a);
  });
  afterAll(async () => {
    await closeInstance(a, testDb);
    await closeInstance(b, testDb);
    await testDb.drop();
  });

  it('counts failures made through either process against one account', async () => {
    a.at(day(1));
    b.at(day(1));
    for (let n = 0; n < 5; n++) {
      expect((await login(n % 2 ? a : b, adminEmail, wrongPassword)).status).toBe(401);
    }
    expectLimited(await login(a, adminEmail, adminPassword), 900);
    expectLimited(await login(b, adminEmail, adminPassword), 900);
  });

  it('lets exactly the limit through when both take a parallel burst', async () => {
    a.at(day(2));
    b.at(day(2));
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, n) => login(n % 2 ? a : b, adminEmail, wrongPassword, `192.0.2.${n}`)),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });
});
