import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { dbNow, fromDbTime } from '../../src/db/dialect.js';
import { api } from '../helpers/api.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { installPushCertificate } from '../helpers/apns.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const secret = 'device-endpoints-secret';

/** A webhook receiver on loopback: records every POST and answers with `status`. */
class WebhookReceiver {
  readonly bodies: { headers: IncomingMessage['headers']; body: unknown }[] = [];
  status = 200;
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.bodies.push({
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString() || 'null'),
        });
        res.statusCode = this.status;
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    this.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/migrate?secret=webhook-secret-marker`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const webhook = new WebhookReceiver();
await webhook.start();
afterAll(() => webhook.stop());

describeEachDialect(
  'Fleet Desktop device endpoints',
  (server) => {
    let srv: TestServer;
    beforeAll(async () => {
      srv = server();
      await srv.app.services.enrollSecrets.replace(null, null, [secret]);
      await srv.app.services.appConfig.patch({
        server_settings: { server_url: srv.url },
        org_info: { org_name: 'Acme', org_logo_url: 'https://acme.example/logo.png' },
      });
    });

    const s = () => srv.app.services;
    const db = () => srv.app.services.database.db;
    const path = (token: string, rest = '') => `/api/latest/fleet/device/${token}${rest}`;

    beforeEach(async () => {
      s().deviceTokens.now = Date.now;
      s().device.now = Date.now;
      webhook.status = 200;
      webhook.bodies.length = 0;
    });

    async function enrollOrbit(fields: Record<string, string> = {}) {
      const res = await api(srv, 'POST', '/api/fleet/orbit/enroll', {
        body: {
          enroll_secret: secret,
          hardware_uuid: randomUUID().toUpperCase(),
          platform: 'darwin',
          ...fields,
        },
      });
      expect(res.status).toBe(200);
      const host = await s().hostStore.findByOrbitNodeKey(res.body.orbit_node_key);
      return { key: res.body.orbit_node_key as string, hostId: host!.id };
    }

    const registerToken = (key: string, token: string) =>
      api(srv, 'POST', '/api/fleet/orbit/device_token', {
        body: { orbit_node_key: key, device_auth_token: token },
      });

    async function hostWithToken(fields: Record<string, string> = {}) {
      const h = await enrollOrbit(fields);
      const token = randomUUID();
      const res = await registerToken(h.key, token);
      expect([res.status, res.body]).toEqual([200, {}]);
      return { ...h, token };
    }

    const authRow = (hostId: number) =>
      db().selectFrom('host_device_auth').selectAll().where('host_id', '=', hostId).executeTakeFirst();
    const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
    const criticalUntil = async (hostId: number) =>
      (
        await db()
          .selectFrom('hosts')
          .select('refetch_critical_queries_until')
          .where('id', '=', hostId)
          .executeTakeFirstOrThrow()
      ).refetch_critical_queries_until;

    it('device_token stores only the hash; the same token again keeps its age; a rotation keeps the old one for the grace', async () => {
      const t0 = Date.UTC(2031, 5, 1, 8, 0, 0);
      s().deviceTokens.now = () => t0;
      const h = await enrollOrbit();
      const first = randomUUID();
      expect((await registerToken(h.key, first)).status).toBe(200);
      let row = await authRow(h.hostId);
      expect(row?.token_hash).toBe(sha256(first));
      expect(JSON.stringify(row)).not.toContain(first);
      expect(fromDbTime(row!.updated_at)?.getTime()).toBe(t0);

      // orbit re-sends its current token at start-up: nothing moves.
      s().deviceTokens.now = () => t0 + 10 * 60_000;
      expect((await registerToken(h.key, first)).status).toBe(200);
      row = await authRow(h.hostId);
      expect(fromDbTime(row!.updated_at)?.getTime()).toBe(t0);
      expect(row?.previous_token_hash).toBeNull();

      // A rotation: the new token is current, the old one counts for five more minutes.
      const t1 = t0 + 60 * 60_000;
      s().deviceTokens.now = () => t1;
      const second = randomUUID();
      expect((await registerToken(h.key, second)).status).toBe(200);
      row = await authRow(h.hostId);
      expect(row).toMatchObject({ token_hash: sha256(second), previous_token_hash: sha256(first) });
      expect(fromDbTime(row!.updated_at)?.getTime()).toBe(t1);
      expect(fromDbTime(row!.previous_valid_until)?.getTime()).toBe(t1 + 5 * 60_000);
      s().deviceTokens.now = () => t1 + 4 * 60_000;
      expect((await api(srv, 'GET', path(first, '/desktop'))).status).toBe(200);
      expect((await api(srv, 'GET', path(second, '/desktop'))).status).toBe(200);
      s().deviceTokens.now = () => t1 + 5 * 60_000 + 1;
      expect((await api(srv, 'GET', path(first, '/desktop'))).status).toBe(401);
      expect((await api(srv, 'GET', path(second, '/desktop'))).status).toBe(200);
    });

    it('a token is valid for one hour after it was set (time moved by writing updated_at)', async () => {
      const h = await hostWithToken();
      const ping = async () =>
        (await fetch(`${srv.url}${path(h.token, '/ping')}`, { method: 'HEAD' })).status;
      expect(await ping()).toBe(200);
      await db()
        .updateTable('host_device_auth')
        .set({ updated_at: dbNow(-59 * 60_000) })
        .where('host_id', '=', h.hostId)
        .execute();
      expect(await ping()).toBe(200);
      await db()
        .updateTable('host_device_auth')
        .set({ updated_at: dbNow(-61 * 60_000) })
        .where('host_id', '=', h.hostId)
        .execute();
      expect(await ping()).toBe(401);
      const res = await api(srv, 'GET', path(h.token));
      expect(res.status).toBe(401);
      expect({ ...res.body, uuid: undefined }).toEqual({
        message: 'Authentication required',
        errors: [{ name: 'base', reason: 'Authentication required' }],
        uuid: undefined,
      });
      // orbit rotates: the new token works at once.
      const fresh = randomUUID();
      expect((await registerToken(h.key, fresh)).status).toBe(200);
      expect((await api(srv, 'GET', path(fresh))).status).toBe(200);
    });

    it('a token another host holds is a 409 and changes nothing', async () => {
      const a = await hostWithToken();
      const b = await hostWithToken();
      const before = [await authRow(a.hostId), await authRow(b.hostId)];
      const res = await registerToken(b.key, a.token);
      expect(res.status).toBe(409);
      expect({ ...res.body, uuid: undefined }).toEqual({
        message: 'Conflict',
        errors: [{ name: 'base', reason: 'auth token conflicts with another host' }],
        uuid: undefined,
      });
      expect([await authRow(a.hostId), await authRow(b.hostId)]).toEqual(before);
      // Nor may a host take another's previous token while it is still in its grace.
      const rotated = randomUUID();
      expect((await registerToken(a.key, rotated)).status).toBe(200);
      expect((await registerToken(b.key, a.token)).status).toBe(409);
    });

    it("GET /device/{token}: the host's detail and what the page needs", async () => {
      await s().appConfig.patch({ mdm: { enabled_and_configured: false } });
      const h = await hostWithToken({ hardware_serial: 'C02DEVICE1', computer_name: 'Ada’s Mac' });
      const res = await api(srv, 'GET', path(h.token));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        host: {
          id: h.hostId,
          hardware_serial: 'C02DEVICE1',
          computer_name: 'Ada’s Mac',
          platform: 'darwin',
          dep_assigned_to_fleet: false,
          mdm: expect.any(Object),
          labels: expect.any(Array),
        },
        self_service: false,
        org_logo_url: 'https://acme.example/logo.png',
        org_logo_url_light_background: '',
        org_contact_url: 'https://fleetdm.com/company/contact',
        license: { tier: 'free' },
        global_config: {
          mdm: { enabled_and_configured: false },
          features: { enable_software_inventory: true },
        },
      });
    });

    it('GET /desktop, POST /refetch, GET /transparency', async () => {
      const h = await hostWithToken();
      const desktop = await api(srv, 'GET', path(h.token, '/desktop'));
      expect(desktop.status).toBe(200);
      expect(desktop.body).toEqual({
        failing_policies_count: 0,
        self_service: false,
        notifications: {},
        config: {
          org_info: {
            org_name: 'Acme',
            org_logo_url: 'https://acme.example/logo.png',
            org_logo_url_light_background: '',
            org_logo_url_dark_mode: '',
            org_logo_url_light_mode: '',
            contact_url: 'https://fleetdm.com/company/contact',
          },
          mdm: { macos_migration: { mode: '' } },
        },
      });

      await db().updateTable('hosts').set({ refetch_requested: 0 }).where('id', '=', h.hostId).execute();
      const refetch = await api(srv, 'POST', path(h.token, '/refetch'));
      expect([refetch.status, refetch.body]).toEqual([200, {}]);
      expect((await s().hostStore.getById(h.hostId))?.refetch_requested).toBe(true);

      const t = await fetch(`${srv.url}${path(h.token, '/transparency')}`, { redirect: 'manual' });
      expect(t.status).toBe(307);
      expect(t.headers.get('location')).toBe('https://fleetdm.com/transparency');
    });

    it('iOS and iPadOS hosts cannot use device tokens', async () => {
      const id = await s().hostStore.create({ uuid: randomUUID(), platform: 'ios' });
      const token = randomUUID();
      await s().deviceTokens.register(id, token);
      expect((await api(srv, 'GET', path(token, '/desktop'))).status).toBe(401);
    });

    it('logs the device path without its token, and no token, node key or webhook secret at all', async () => {
      const h = await hostWithToken();
      const reqId = randomUUID();
      const res = await api(srv, 'GET', path(h.token, '/desktop'), { headers: { 'x-request-id': reqId } });
      expect(res.status).toBe(200);
      const bad = randomUUID();
      const badId = randomUUID();
      expect(
        (await api(srv, 'GET', path(bad, '/desktop'), { headers: { 'x-request-id': badId } })).status,
      ).toBe(401);
      const lines = srv.logLines ?? [];
      const request = lines.find((l) => l.reqId === reqId && l.msg === 'request');
      expect(request).toMatchObject({ url: '/api/latest/fleet/device/:token/desktop', status: 200 });
      const rejected = lines.filter((l) => l.reqId === badId && l.msg === 'device request rejected');
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatchObject({ status: 401, reason: 'invalid device authentication token' });
      const text = JSON.stringify(lines);
      for (const secretValue of [h.token, bad, h.key, 'webhook-secret-marker'])
        expect(text).not.toContain(secretValue);
    });

    describeMigration();

    function describeMigration() {
      it('manual enrollment profile: 400 while Apple MDM is off, then the signed .mobileconfig', async () => {
        await s().appConfig.patch({ mdm: { enabled_and_configured: false } });
        const h = await hostWithToken();
        const off = await api(srv, 'GET', path(h.token, '/mdm/apple/manual_enrollment_profile'));
        expect(off.status).toBe(400);
        const message =
          "MDM features aren't turned on in Fleet. For more information about setting up MDM, please visit https://fleetdm.com/docs/using-fleet";
        expect({ ...off.body, uuid: undefined }).toEqual({
          message,
          errors: [{ name: 'base', reason: message }],
          uuid: undefined,
        });
        await installPushCertificate(s(), { topic: testTopic });
        const on = await fetch(`${srv.url}${path(h.token, '/mdm/apple/manual_enrollment_profile')}`);
        expect(on.status).toBe(200);
        expect(on.headers.get('content-type')).toBe('application/x-apple-aspen-config');
        expect(on.headers.get('content-disposition')).toContain('fleet-mdm-enrollment-profile.mobileconfig');
        const der = Buffer.from(await on.arrayBuffer());
        expect(der.toString('latin1')).toContain('com.apple.mdm');
        // A bad token is still refused once MDM is on.
        expect((await api(srv, 'GET', path('nope', '/mdm/apple/manual_enrollment_profile'))).status).toBe(
          401,
        );
      });

      it('migrate_mdm: refused unless migration is set up and the Mac eligible; then the webhook, once per window', async () => {
        await installPushCertificate(s(), { topic: testTopic });
        await s().appConfig.patch({
          mdm: {
            enabled_and_configured: true,
            macos_migration: { enable: false, mode: 'voluntary', webhook_url: '' },
          },
        });
        const h = await hostWithToken({ hardware_serial: 'C02MIGRATE' });
        const host = await s().hostStore.getById(h.hostId);
        const migrate = () => api(srv, 'POST', path(h.token, '/migrate_mdm'));
        const refusedEmpty = async () => {
          const res = await migrate();
          expect(res.status).toBe(400);
          // Fleet keeps the reason internal: the body says only "Bad request".
          expect({ ...res.body, uuid: undefined }).toEqual({
            message: 'Bad request',
            errors: [{ name: 'base', reason: '' }],
            uuid: undefined,
          });
        };
        await refusedEmpty(); // migration not enabled
        await s().appConfig.patch({
          mdm: { macos_migration: { enable: true, mode: 'voluntary', webhook_url: '' } },
        });
        await refusedEmpty(); // no webhook URL
        await s().appConfig.patch({
          mdm: { macos_migration: { enable: true, mode: 'forced', webhook_url: webhook.url } },
        });
        await refusedEmpty(); // not enrolled in another MDM, no macOS version
        expect(webhook.bodies).toHaveLength(0);

        await db()
          .updateTable('hosts')
          .set({ os_version: 'macOS 15.2' })
          .where('id', '=', h.hostId)
          .execute();
        await s().hostStore.upsertHostMdm(h.hostId, {
          enrolled: true,
          server_url: 'https://mdm.example.com/',
          installed_from_dep: false,
          is_personal_enrollment: false,
          mdm_name: 'MicroMDM',
        });
        const desktop = await api(srv, 'GET', path(h.token, '/desktop'));
        expect(desktop.body.notifications).toEqual({ needs_mdm_migration: true });
        expect(desktop.body.config.mdm).toEqual({ macos_migration: { mode: 'forced' } });

        // The webhook fails: 502, and no window opens, so the user may retry.
        webhook.status = 500;
        const failed = await migrate();
        expect(failed.status).toBe(502);
        expect(failed.text).not.toContain('webhook-secret-marker');
        expect(webhook.bodies).toHaveLength(1);
        expect(await criticalUntil(h.hostId)).toBeNull();

        webhook.status = 200;
        const t0 = Date.now();
        s().device.now = () => t0;
        const ok = await migrate();
        expect([ok.status, ok.text]).toEqual([204, '']);
        expect(webhook.bodies).toHaveLength(2);
        expect(webhook.bodies[1].headers['content-type']).toBe('application/json');
        expect(webhook.bodies[1].body).toEqual({
          timestamp: new Date(t0).toISOString(),
          host: { id: h.hostId, uuid: host!.uuid, hardware_serial: 'C02MIGRATE' },
        });
        const until = await criticalUntil(h.hostId);
        expect(fromDbTime(until)?.getTime()).toBe(t0 + 3 * 60_000);

        // While the window is open a second click does nothing.
        s().device.now = () => t0 + 2 * 60_000;
        expect((await migrate()).status).toBe(204);
        expect(webhook.bodies).toHaveLength(2);
        // After it, the webhook goes out again.
        s().device.now = () => t0 + 4 * 60_000;
        expect((await migrate()).status).toBe(204);
        expect(webhook.bodies).toHaveLength(3);

        // Apple MDM off: Fleet's 400 before anything else.
        await s().appConfig.patch({ mdm: { enabled_and_configured: false } });
        expect((await migrate()).status).toBe(400);
        expect(webhook.bodies).toHaveLength(3);
      });

      it('a Mac enrolled in Flotilla’s own MDM is not eligible', async () => {
        await installPushCertificate(s(), { topic: testTopic });
        await s().appConfig.patch({
          mdm: {
            enabled_and_configured: true,
            macos_migration: { enable: true, mode: 'voluntary', webhook_url: webhook.url },
          },
        });
        const mac = await enrolledDevice(srv, { osVersion: '15.1' });
        const h = await hostWithToken({ hardware_uuid: mac.udid, hardware_serial: mac.serial });
        expect((await api(srv, 'GET', path(h.token, '/desktop'))).body.notifications).toEqual({});
        expect((await api(srv, 'POST', path(h.token, '/migrate_mdm'))).status).toBe(400);
        expect(webhook.bodies).toHaveLength(0);
      });
    }
  },
  { logLevel: 'info' },
);
