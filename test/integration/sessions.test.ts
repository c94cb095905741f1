import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator } from 'kysely';
import { createConnection } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { sessionKeyHash } from '../../src/admin/userStore.js';
import { openDatabase } from '../../src/db/database.js';
import { dbNow } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { migrations } from '../../migrations/index.js';
import { UserStore } from '../../src/admin/userStore.js';
import { apiUser } from '../helpers/adminFixtures.js';
import { adminPassword, api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect, dialects, mysqlAvailable, mysqlRootUrl } from '../helpers/testServer.js';

describeEachDialect('setup, login, logout, me', (server) => {
  let token = '';

  /** The first admin's token: made by the setup test, or here when that test did not run. */
  async function adminToken(): Promise<string> {
    if (!token) token = await setupAdmin(server());
    return token;
  }

  it('refuses a weak password at setup and stores nothing', async () => {
    const res = await api(server(), 'POST', '/api/v1/setup', {
      body: { admin: { email: 'a@example.com', name: 'A', password: 'short' } },
    });
    expect(res.status).toBe(422);
    expect(res.body.message).toBe('Validation Failed');
    expect(res.body.errors[0].name).toBe('password');
    expect(await server().app.services.userStore.countUsers()).toBe(0);
  });

  it('creates the first admin once', async () => {
    token = await setupAdmin(server());
    expect(token).toMatch(/.{40,}/);
    const again = await api(server(), 'POST', '/api/v1/setup', {
      body: { admin: { email: 'b@example.com', name: 'B', password: adminPassword } },
    });
    expect(again.status).toBe(409);
  });

  it('answers me with the admin user', async () => {
    await adminToken();
    const me = await api(server(), 'GET', '/api/latest/fleet/me', { token });
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ email: 'admin@example.com', global_role: 'admin', api_only: false });
    expect(me.body.user).not.toHaveProperty('password');
  });

  it('rejects missing and wrong credentials with Fleet error bodies', async () => {
    await adminToken();
    const noToken = await api(server(), 'GET', '/api/v1/fleet/me');
    expect(noToken.status).toBe(401);
    expect(noToken.body).toMatchObject({ message: 'Authentication Failed', errors: [{ name: 'base' }] });
    const bad = await api(server(), 'POST', '/api/v1/fleet/login', {
      body: { email: 'admin@example.com', password: 'wrong-password-1!' },
    });
    expect(bad.status).toBe(401);
    const malformed = await api(server(), 'POST', '/api/v1/fleet/login', {
      rawBody: '{"email":',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.message).toBe('Bad request');
    // As Fleet's JSON decoding does, a body key the endpoint does not know is ignored.
    const unknownField = await api(server(), 'POST', '/api/v1/fleet/login', {
      body: { email: 'admin@example.com', password: adminPassword, extra: 1 },
    });
    expect(unknownField.status).toBe(200);
    expect(unknownField.body.token).toEqual(expect.any(String));
  });

  it('logs in and out; a logged-out token stops working', async () => {
    await adminToken();
    const login = await api(server(), 'POST', '/api/v1/fleet/login', {
      body: { email: 'admin@example.com', password: adminPassword },
    });
    expect(login.status).toBe(200);
    const t = login.body.token as string;
    expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: t })).status).toBe(200);
    expect((await api(server(), 'POST', '/api/v1/fleet/logout', { token: t })).status).toBe(200);
    expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: t })).status).toBe(401);
  });

  it('stores only a SHA-256 of session and API tokens; the tokens work and logout deletes the row', async () => {
    await adminToken();
    const login = await api(server(), 'POST', '/api/v1/fleet/login', {
      body: { email: 'admin@example.com', password: adminPassword },
    });
    expect(login.status).toBe(200);
    const t = login.body.token as string;
    const bot = await apiUser(server(), t, 'Bot', { global_role: 'observer' });
    const { db } = server().app.services.database;
    // Every row of every table, as text: no token appears anywhere.
    const everything = async () => {
      const out: unknown[] = [];
      for (const table of await db.introspection.getTables()) {
        out.push(
          await db
            .selectFrom(table.name as any)
            .selectAll()
            .execute(),
        );
      }
      return JSON.stringify(out);
    };
    const dump = await everything();
    for (const secret of [token, t, bot.token]) expect(dump).not.toContain(secret);
    const keys = (await db.selectFrom('sessions').select('key').execute()).map((r) => r.key);
    expect(keys.every((k) => /^[0-9a-f]{64}$/.test(k))).toBe(true);
    expect(keys).toEqual(expect.arrayContaining([sessionKeyHash(t), sessionKeyHash(bot.token)]));
    expect(sessionKeyHash(t)).toBe(createHash('sha256').update(t).digest('hex'));

    expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: t })).status).toBe(200);
    expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: bot.token })).status).toBe(200);
    // The stored hash is not a token.
    expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: sessionKeyHash(t) })).status).toBe(401);

    expect((await api(server(), 'POST', '/api/v1/fleet/logout', { token: t })).status).toBe(200);
    const left = await db.selectFrom('sessions').select('id').where('key', '=', sessionKeyHash(t)).execute();
    expect(left).toEqual([]);
    expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: t })).status).toBe(401);
  });

  it('expires a session unused for longer than the session duration', async () => {
    await adminToken();
    const login = await api(server(), 'POST', '/api/v1/fleet/login', {
      body: { email: 'admin@example.com', password: adminPassword },
    });
    const t = login.body.token as string;
    const { db } = server().app.services.database;
    await db
      .updateTable('sessions')
      .set({ accessed_at: '2020-01-01 00:00:00.000' })
      .where('key', '=', sessionKeyHash(t))
      .execute();
    const res = await api(server(), 'GET', '/api/v1/fleet/me', { token: t });
    expect(res.status).toBe(401);
    expect(res.body.errors[0].reason).toBe('session expired');
  });

  it('answers unknown routes with a Fleet 404 body and serves health and version', async () => {
    await adminToken();
    const nf = await api(server(), 'GET', '/api/v1/fleet/nope', { token });
    expect(nf.status).toBe(404);
    expect(nf.body.message).toBe('Resource Not Found');
    expect((await api(server(), 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await api(server(), 'GET', '/version')).body.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('config', () => {
  it('names the bad setting', async () => {
    const { loadConfig } = await import('../../src/config.js');
    expect(() => loadConfig({ FLOTILLA_LISTEN_PORT: 'abc' })).toThrow(/FLOTILLA_LISTEN_PORT/);
    expect(() => loadConfig({ FLOTILLA_DATABASE_URL: 'postgres://x' })).toThrow(/FLOTILLA_DATABASE_URL/);
    expect(loadConfig({}).serverUrl).toBe('http://localhost:8080');
  });
});

for (const dialect of dialects) {
  describe.skipIf(dialect === 'mysql' && !mysqlAvailable)(`migration 0012 [${dialect}]`, () => {
    it('hashes the tokens stored in clear before it, and they keep working', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-0012-'));
      let url = 'sqlite:before.db';
      const name = `flotilla_test_${randomBytes(6).toString('hex')}`;
      if (dialect === 'mysql') {
        const c = await createConnection({ uri: mysqlRootUrl });
        await c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
        await c.end();
        url = `${mysqlRootUrl}/${name}`;
      }
      const database = openDatabase({ url, dataDir });
      try {
        const { db } = database;
        const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
        const to = await migrator.migrateTo('0011_rate_limits');
        expect(to.error).toBeUndefined();
        const now = dbNow();
        const user = await db
          .insertInto('users')
          .values({
            email: 'old@example.com',
            name: 'Old',
            password: 'x',
            global_role: 'admin',
            api_only: 1,
            created_at: now,
            updated_at: now,
          })
          .executeTakeFirstOrThrow();
        const clear = ['old-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+/=', 'old-token-b'];
        for (const key of clear) {
          await db
            .insertInto('sessions')
            .values({ key, user_id: Number(user.insertId), accessed_at: now, created_at: now })
            .execute();
        }
        expect(await migrateToLatest(db)).toContain('0012_session_token_hash');
        const keys = (await db.selectFrom('sessions').select('key').orderBy('id').execute()).map(
          (r) => r.key,
        );
        expect(keys).toEqual(clear.map((t) => createHash('sha256').update(t).digest('hex')));
        const store = new UserStore(db);
        for (const t of clear)
          expect((await store.getSessionByToken(t))?.user_id).toBe(Number(user.insertId));
      } finally {
        await database.close();
        if (dialect === 'mysql') {
          const c = await createConnection({ uri: mysqlRootUrl });
          await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
          await c.end();
        }
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
