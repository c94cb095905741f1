import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect, startTestServer, type TestServer } from '../helpers/testServer.js';
import { consolePages } from '../../src/web/paths.js';
import { defaultConsoleAssetsDir } from '../../src/web/routes.js';

const get = (srv: TestServer, path: string) => fetch(`${srv.url}${path}`, { redirect: 'manual' });

describeEachDialect('admin console pages served at /', (server) => {
  it('leads to setup until a user exists, then to the dashboard; setup closes', async () => {
    const srv = server();
    for (const path of ['/', consolePages.login, consolePages.hosts, '/hosts/12']) {
      const res = await get(srv, path);
      expect([path, res.status, res.headers.get('location')]).toEqual([path, 302, consolePages.setup]);
    }
    const setup = await get(srv, consolePages.setup);
    expect(setup.status).toBe(200);
    await setupAdmin(srv);
    const root = await get(srv, '/');
    expect([root.status, root.headers.get('location')]).toEqual([302, consolePages.dashboard]);
    const closed = await get(srv, consolePages.setup);
    expect([closed.status, closed.headers.get('location')]).toEqual([302, consolePages.login]);
  });

  it('answers every page path with the built index.html, uncached, under a strict policy', async () => {
    const srv = server();
    const index = readFileSync(join(defaultConsoleAssetsDir(), 'index.html'), 'utf8');
    for (const path of [...Object.values(consolePages).filter((p) => p !== consolePages.setup), '/hosts/7']) {
      const concrete = path.replace(':id', '7');
      const res = await get(srv, concrete);
      expect([concrete, res.status]).toEqual([concrete, 200]);
      expect(await res.text()).toBe(index);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
    }
  });

  it('serves the hashed assets for a year and nothing outside them', async () => {
    const srv = server();
    const assets = readdirSync(join(defaultConsoleAssetsDir(), 'assets'));
    const js = assets.find((f) => f.endsWith('.js'))!;
    const res = await get(srv, `/assets/${js}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript|^application\/javascript/);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await get(srv, '/assets/missing.js')).status).toBe(404);
    expect((await get(srv, '/assets/..%2f..%2fpackage.json')).status).toBe(404);
    // API routes keep their JSON answers: an unknown admin path is not the console.
    const unknown = await api(srv, 'GET', '/api/latest/fleet/no_such_thing');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/application\/json/);
  });
});

describe('admin console switched off or not built', () => {
  let off: TestServer;
  let unbuilt: TestServer;
  beforeAll(async () => {
    off = await startTestServer('sqlite', { consoleEnabled: false });
    const empty = mkdtempSync(join(tmpdir(), 'flotilla-console-'));
    unbuilt = await startTestServer('sqlite', { consoleDir: empty });
  });
  afterAll(async () => {
    await off?.close();
    await unbuilt?.close();
  });

  it('FLOTILLA_CONSOLE_ENABLED=false serves no page', async () => {
    await setupAdmin(off);
    expect((await get(off, '/')).status).toBe(404);
    expect((await get(off, consolePages.dashboard)).status).toBe(404);
  });

  it('an unbuilt console says how to build it', async () => {
    await setupAdmin(unbuilt);
    const res = await get(unbuilt, consolePages.dashboard);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build');
  });
});
