import { randomUUID } from 'node:crypto';
import { beforeAll, beforeEach, expect, it } from 'vitest';
import { api } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const secret = 'device-ban-secret';
const windowMs = 60_000;

describeEachDialect(
  'Fleet Desktop device endpoints: per-address ban after repeated failures',
  (server) => {
    let srv: TestServer;
    let n = 0;
    beforeAll(async () => {
      srv = server();
      await srv.app.services.enrollSecrets.replace(null, null, [secret]);
    });
    /** Each test starts at the beginning of a fresh window, from addresses of its own. */
    beforeEach(() => {
      const start = Math.ceil(Date.now() / windowMs) * windowMs + (n + 1) * 10 * windowMs;
      srv.app.services.rateLimits.now = () => start + 1000;
      n++;
    });
    const address = (i: number) => `10.${n}.${i}.1`;

    async function hostWithToken(): Promise<string> {
      const res = await api(srv, 'POST', '/api/fleet/orbit/enroll', {
        body: { enroll_secret: secret, hardware_uuid: randomUUID(), platform: 'darwin' },
      });
      const token = randomUUID();
      const set = await api(srv, 'POST', '/api/fleet/orbit/device_token', {
        body: { orbit_node_key: res.body.orbit_node_key, device_auth_token: token },
      });
      expect(set.status).toBe(200);
      return token;
    }

    const desktop = (token: string, from: string, reqId = randomUUID()) =>
      api(srv, 'GET', `/api/latest/fleet/device/${token}/desktop`, {
        headers: { 'x-forwarded-for': from, 'x-request-id': reqId },
      });

    it('after 3 failures from an address everything from it gets 429, good token included, until the window ends', async () => {
      const good = await hostWithToken();
      const from = address(1);
      for (let i = 0; i < 3; i++) expect((await desktop(randomUUID(), from)).status).toBe(401);
      const reqId = randomUUID();
      const banned = await desktop(good, from, reqId);
      expect(banned.status).toBe(429);
      expect(banned.headers.get('retry-after')).toBe('59');
      expect({ ...banned.body, uuid: undefined }).toEqual({
        message: 'limit exceeded',
        errors: [{ name: 'base', reason: 'limit exceeded' }],
        uuid: undefined,
      });
      expect((await desktop(randomUUID(), from)).status).toBe(429);
      const logged = (srv.logLines ?? []).filter(
        (l) => l.reqId === reqId && l.msg === 'device address banned',
      );
      expect(logged).toHaveLength(1);
      expect(JSON.stringify(srv.logLines)).not.toContain(good);

      // Another address is not affected.
      expect((await desktop(good, address(2))).status).toBe(200);
      expect((await desktop(randomUUID(), address(2))).status).toBe(401);

      // The next window lets the address in again.
      const now = srv.app.services.rateLimits.now();
      srv.app.services.rateLimits.now = () => now + windowMs;
      expect((await desktop(good, from)).status).toBe(200);
    });

    it('successes do not count; refused actions do; the unauthenticated ping is never banned', async () => {
      const good = await hostWithToken();
      const from = address(1);
      for (let i = 0; i < 10; i++) expect((await desktop(good, from)).status).toBe(200);
      // migrate_mdm with Apple MDM off is a failed request (400) and counts.
      for (let i = 0; i < 3; i++) {
        const res = await api(srv, 'POST', `/api/latest/fleet/device/${good}/migrate_mdm`, {
          headers: { 'x-forwarded-for': from },
        });
        expect(res.status).toBe(400);
      }
      expect((await desktop(good, from)).status).toBe(429);
      const ping = await fetch(`${srv.url}/api/fleet/device/ping`, {
        method: 'HEAD',
        headers: { 'x-forwarded-for': from },
      });
      expect(ping.status).toBe(200);
    });
  },
  {
    deviceFailuresPerAddress: 3,
    deviceFailureWindowSeconds: 60,
    trustProxy: 'true' as never,
    logLevel: 'info',
  },
);
