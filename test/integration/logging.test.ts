import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import {
  createTestDatabase,
  dialects,
  mysqlAvailable,
  testServerKey,
  type TestDatabase,
} from '../helpers/testServer.js';

for (const dialect of dialects) {
  const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;
  d(`request logging keeps secrets out [${dialect}]`, () => {
    const lines: string[] = [];
    let testDb: TestDatabase;
    let app: App;
    let url = '';
    beforeAll(async () => {
      testDb = await createTestDatabase(dialect);
      const config = loadConfig(
        {},
        {
          databaseUrl: testDb.url,
          dataDir: testDb.dataDir,
          serverPrivateKey: testServerKey,
          logLevel: 'trace',
          cronEnabled: false,
        },
      );
      const sink = new Writable({
        write(chunk, _enc, cb) {
          lines.push(...chunk.toString().split('\n').filter(Boolean));
          cb();
        },
      });
      app = await buildApp({
        config,
        database: testDb.database,
        serverKey: testServerKey,
        logger: createLogger('trace', sink),
      });
      await app.server.listen({ host: '127.0.0.1', port: 0 });
      const addr = app.server.server.address();
      url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    });
    afterAll(async () => {
      await app.server.close();
      await testDb.drop();
    });

    it('logs one request line with its id per request, and never a password, token or key', async () => {
      const password = 'Sup3r-Secret-Passw0rd!';
      const wrongPassword = 'Wr0ng-Secret-Passw0rd?';
      const badJsonPassword = 'Half-Sent-Passw0rd#';
      let n = 0;
      const ids: string[] = [];
      const send = async (
        method: string,
        path: string,
        opts: { body?: string; token?: string; headers?: Record<string, string> } = {},
      ) => {
        const id = `log-test-${++n}`;
        ids.push(id);
        const headers: Record<string, string> = { 'x-request-id': id, ...(opts.headers ?? {}) };
        if (opts.body !== undefined) headers['content-type'] = 'application/json';
        if (opts.token) headers.authorization = `Bearer ${opts.token}`;
        const res = await fetch(url + path, { method, headers, body: opts.body });
        return { status: res.status, body: (await res.json()) as any };
      };

      const setup = await send('POST', '/api/v1/setup', {
        body: JSON.stringify({
          admin: { email: 'admin@example.com', name: 'Admin', password },
          org_info: { org_name: 'Acme' },
        }),
      });
      expect(setup.status).toBe(200);
      const setupToken = setup.body.token as string;
      const login = await send('POST', '/api/v1/fleet/login', {
        body: JSON.stringify({ email: 'admin@example.com', password }),
      });
      expect(login.status).toBe(200);
      const token = login.body.token as string;
      expect(
        (
          await send('POST', '/api/v1/fleet/login', {
            body: JSON.stringify({ email: 'admin@example.com', password: wrongPassword }),
          })
        ).status,
      ).toBe(401);
      expect(
        (
          await send('POST', '/api/v1/fleet/login', {
            body: `{"email":"admin@example.com","password":"${badJsonPassword}"`,
          })
        ).status,
      ).toBe(400);
      // An unknown body key is ignored, as in Fleet; its value must stay out of the log too.
      expect(
        (
          await send('POST', '/api/v1/fleet/login', {
            body: JSON.stringify({ email: 'x@example.com', password: wrongPassword, extra: password }),
          })
        ).status,
      ).toBe(401);
      expect((await send('GET', '/api/v1/fleet/me', { token })).status).toBe(200);
      expect((await send('GET', `/api/v1/fleet/me?token=${encodeURIComponent(setupToken)}`)).status).toBe(
        200,
      );
      expect(
        (
          await send('GET', '/api/v1/fleet/me', {
            token: `${token}x`,
            headers: { cookie: `session=${token}` },
          })
        ).status,
      ).toBe(401);
      expect((await send('POST', '/api/latest/fleet/trigger?name=nope', { token })).status).toBe(400);

      const all = lines.join('\n');
      for (const secret of [
        password,
        wrongPassword,
        badJsonPassword,
        token,
        setupToken,
        encodeURIComponent(setupToken),
        testServerKey,
      ]) {
        expect(all).not.toContain(secret);
      }
      const parsed = lines.map(
        (l) => JSON.parse(l) as { msg?: string; reqId?: string; status?: number; url?: string },
      );
      const requestLines = parsed.filter((l) => l.msg === 'request');
      expect(requestLines).toHaveLength(ids.length);
      for (const id of ids) expect(requestLines.filter((l) => l.reqId === id)).toHaveLength(1);
      expect(requestLines.every((l) => typeof l.status === 'number' && !String(l.url).includes('?'))).toBe(
        true,
      );
    });
  });
}
