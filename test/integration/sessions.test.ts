import { describe, expect, it } from 'vitest';
import { adminPassword, api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect } from '../helpers/testServer.js';

describeEachDialect('setup, login, logout, me', (server) => {
  let token = '';

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
    const me = await api(server(), 'GET', '/api/latest/fleet/me', { token });
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ email: 'admin@example.com', global_role: 'admin', api_only: false });
    expect(me.body.user).not.toHaveProperty('password');
  });

  it('rejects missing and wrong credentials with Fleet error bodies', async () => {
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
    const unknownField = await api(server(), 'POST', '/api/v1/fleet/login', {
      body: { email: 'admin@example.com', password: adminPassword, extra: 1 },
    });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.errors[0].reason).toContain('extra');
  });

  it('logs in and out; a logged-out token stops working', async () => {
    const login = await api(server(), 'POST', '/api/v1/fleet/login', {
      body: { email: 'admin@example.com', password: adminPassword },
    });
    expect(login.status).toBe(200);
    const t = login.body.token as string;
    expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: t })).status).toBe(200);
    expect((await api(server(), 'POST', '/api/v1/fleet/logout', { token: t })).status).toBe(200);
    expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: t })).status).toBe(401);
  });

  it('expires a session unused for longer than the session duration', async () => {
    const login = await api(server(), 'POST', '/api/v1/fleet/login', {
      body: { email: 'admin@example.com', password: adminPassword },
    });
    const t = login.body.token as string;
    const { db } = server().app.services.database;
    await db
      .updateTable('sessions')
      .set({ accessed_at: '2020-01-01 00:00:00.000' })
      .where('key', '=', t)
      .execute();
    const res = await api(server(), 'GET', '/api/v1/fleet/me', { token: t });
    expect(res.status).toBe(401);
    expect(res.body.errors[0].reason).toBe('session expired');
  });

  it('answers unknown routes with a Fleet 404 body and serves health and version', async () => {
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
