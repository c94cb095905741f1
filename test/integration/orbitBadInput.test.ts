import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const secret = 'orbit-bad-input-secret-0123456789';
const plainKey = '123456-234567-345678-456789-567890-678901-789012-890123';

/** Every row orbit can write, to show a refused request changed nothing. */
async function snapshot(srv: TestServer): Promise<string> {
  const { db } = srv.app.services.database;
  const tables = [
    'hosts',
    'host_mdm',
    'host_device_auth',
    'host_emails',
    'host_disk_encryption_keys',
    'activities',
    'host_activities',
    'label_membership',
  ] as const;
  const out: Record<string, unknown> = {};
  for (const t of tables) out[t] = await db.selectFrom(t).selectAll().execute();
  return JSON.stringify(out);
}

describeEachDialect(
  'orbit bad input',
  (server) => {
    let srv: TestServer;
    let nodeKey = '';
    let otherKey = '';
    let otherToken = '';
    const email = 'someone.private@example.com';
    beforeAll(async () => {
      srv = server();
      await srv.app.services.enrollSecrets.replace(null, null, [secret]);
      const enroll = async () => {
        const res = await fetch(`${srv.url}/api/fleet/orbit/enroll`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ enroll_secret: secret, hardware_uuid: randomUUID(), platform: 'darwin' }),
        });
        return ((await res.json()) as { orbit_node_key: string }).orbit_node_key;
      };
      nodeKey = await enroll();
      otherKey = await enroll();
      otherToken = randomUUID();
      await fetch(`${srv.url}/api/fleet/orbit/device_token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ orbit_node_key: otherKey, device_auth_token: otherToken }),
      });
      await fetch(`${srv.url}/api/fleet/orbit/device_mapping`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ orbit_node_key: otherKey, email }),
      });
    });

    /**
     * Sends the request and checks the refusal: status and body exactly (but the uuid), no row
     * changed, one log line saying why, and no secret in any log line of the request.
     */
    async function refused(
      method: string,
      path: string,
      body: string | undefined,
      expected: { status: number; message: string; reason: string; name?: string; extra?: object },
      opts: { contentType?: string | null; logged?: RegExp } = {},
    ): Promise<void> {
      const before = await snapshot(srv);
      const reqId = randomUUID();
      const headers: Record<string, string> = { 'x-request-id': reqId };
      if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json';
      const res = await fetch(`${srv.url}${path}`, { method, headers, body });
      const answer = (await res.json()) as Record<string, unknown>;
      expect(res.status).toBe(expected.status);
      expect(typeof answer.uuid).toBe('string');
      expect({ ...answer, uuid: undefined }).toEqual({
        message: expected.message,
        errors: [{ name: expected.name ?? 'base', reason: expected.reason }],
        uuid: undefined,
        ...expected.extra,
      });
      // Refusals carry no capabilities (Fleet adds them to answers, not to refusals).
      expect(res.headers.get('x-fleet-capabilities')).toBeNull();
      expect(await snapshot(srv)).toBe(before);
      const lines = (srv.logLines ?? []).filter((l) => l.reqId === reqId);
      const rejected = lines.filter((l) => l.msg === 'orbit request rejected');
      expect(rejected).toHaveLength(1);
      expect(rejected[0].status).toBe(expected.status);
      if (opts.logged) expect(String(rejected[0].reason)).toMatch(opts.logged);
      const text = JSON.stringify(lines);
      for (const s of [
        secret,
        nodeKey,
        otherKey,
        otherToken,
        plainKey,
        Buffer.from(plainKey).toString('base64'),
        email,
      ]) {
        expect(text).not.toContain(s);
      }
    }

    const decoderError = { status: 400, message: 'Bad request', reason: 'json decoder error' };
    const authRequired = {
      status: 401,
      message: 'Authentication required',
      reason: 'Authentication required',
    };

    it('enroll: undecodable bodies are 400, an unknown secret 401, a missing UUID or an over-long field 400', async () => {
      const p = '/api/fleet/orbit/enroll';
      await refused('POST', p, '{"enroll_secret": ', decoderError);
      await refused('POST', p, JSON.stringify({ enroll_secret: secret, hardware_uuid: 5 }), decoderError);
      await refused('POST', p, '[1, 2]', decoderError);
      await refused('POST', p, 'not json at all', decoderError, { contentType: 'text/plain' });
      await refused('POST', p, '', { status: 400, message: 'Bad request', reason: 'Expected JSON Body' });
      await refused(
        'POST',
        p,
        JSON.stringify({ enroll_secret: 'guess', hardware_uuid: 'U' }),
        {
          status: 401,
          message: 'Authentication failed',
          reason: 'Authentication failed',
          extra: { node_invalid: true },
        },
        { logged: /invalid secret/ },
      );
      await refused('POST', p, JSON.stringify({ enroll_secret: secret, platform: 'darwin' }), {
        status: 400,
        message: 'Bad request',
        reason: 'hardware_uuid is required',
      });
      await refused(
        'POST',
        p,
        JSON.stringify({ enroll_secret: secret, hardware_uuid: 'U', hostname: 'h'.repeat(256) }),
        {
          status: 400,
          message: 'Bad request',
          reason: 'hostname exceeds 255 characters',
        },
      );
    });

    it("config: a missing or unknown node key is Fleet's 401; a node key of the wrong type is 400", async () => {
      const p = '/api/fleet/orbit/config';
      await refused('POST', p, '{}', authRequired, { logged: /missing orbit node key/ });
      await refused('POST', p, JSON.stringify({ orbit_node_key: 'not-a-key' }), authRequired, {
        logged: /invalid orbit node key/,
      });
      await refused('POST', p, JSON.stringify({ orbit_node_key: 123 }), decoderError);
      await refused('POST', p, JSON.stringify({ orbit_node_key: null }), authRequired);
    });

    it('device_token: empty or not URL-safe tokens are 400, another host’s token 409', async () => {
      const p = '/api/fleet/orbit/device_token';
      await refused('POST', p, JSON.stringify({ orbit_node_key: nodeKey, device_auth_token: '' }), {
        status: 400,
        message: 'Bad request',
        reason: 'device auth token cannot be empty',
      });
      await refused('POST', p, JSON.stringify({ orbit_node_key: nodeKey, device_auth_token: 'a b/c' }), {
        status: 400,
        message: 'Bad request',
        reason: 'device auth token contains invalid characters',
      });
      await refused(
        'POST',
        p,
        JSON.stringify({ orbit_node_key: nodeKey, device_auth_token: {} }),
        decoderError,
      );
      await refused('POST', p, JSON.stringify({ orbit_node_key: nodeKey, device_auth_token: otherToken }), {
        status: 409,
        message: 'Conflict',
        reason: 'auth token conflicts with another host',
      });
      await refused(
        'POST',
        p,
        JSON.stringify({ orbit_node_key: 'nope', device_auth_token: randomUUID() }),
        authRequired,
      );
    });

    it('device_mapping: not an email is 422, not a string 400', async () => {
      const p = '/api/fleet/orbit/device_mapping';
      await refused('PUT', p, JSON.stringify({ orbit_node_key: nodeKey, email: 'not-an-email' }), {
        status: 422,
        message: 'Validation Failed',
        name: 'email',
        reason: 'must be a valid email address',
      });
      await refused('PUT', p, JSON.stringify({ orbit_node_key: nodeKey, email: 42 }), decoderError);
      await refused('PUT', p, JSON.stringify({ orbit_node_key: 'nope', email }), authRequired);
    });

    it('disk_encryption_key: Windows MDM off is 400 before the key is read; bad base64 400; a host not in our MDM 400', async () => {
      const p = '/api/fleet/orbit/disk_encryption_key';
      const winMessage =
        "Windows MDM isn't turned on. For more information about setting up MDM, please visit https://fleetdm.com/learn-more-about/windows-mdm";
      const good = {
        orbit_node_key: nodeKey,
        encryption_key: Buffer.from(plainKey).toString('base64'),
        client_error: '',
      };
      await srv.app.services.appConfig.patch({ mdm: { windows_enabled_and_configured: false } });
      await refused('POST', p, JSON.stringify({ ...good, orbit_node_key: 'nope' }), {
        status: 400,
        message: winMessage,
        reason: winMessage,
      });
      await srv.app.services.appConfig.patch({ mdm: { windows_enabled_and_configured: true } });
      await refused('POST', p, JSON.stringify({ ...good, encryption_key: 'not base64!' }), decoderError);
      await refused('POST', p, JSON.stringify({ ...good, encryption_key: 7 }), decoderError);
      await refused('POST', p, JSON.stringify(good), {
        status: 400,
        message: 'Bad request',
        reason: 'host is not enrolled with fleet',
      });
      await refused('POST', p, JSON.stringify({ ...good, orbit_node_key: '' }), authRequired);
      await srv.app.services.appConfig.patch({ mdm: { windows_enabled_and_configured: false } });
    });

    it('device_mapping and device_token succeed with {} (for contrast) and unknown keys are ignored', async () => {
      const res = await fetch(`${srv.url}/api/fleet/orbit/device_mapping`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ orbit_node_key: nodeKey, email: 'Ada@Example.com ', future_field: [1] }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({});
      expect(res.headers.get('x-fleet-capabilities')).toContain('orbit_endpoints');
      const rows = await srv.app.services.database.db
        .selectFrom('host_emails')
        .innerJoin('hosts', 'hosts.id', 'host_emails.host_id')
        .select(['host_emails.email', 'host_emails.source'])
        .where('hosts.orbit_node_key', '=', nodeKey)
        .execute();
      expect(rows).toEqual([{ email: 'Ada@Example.com', source: 'custom_installer' }]);
    });
  },
  { logLevel: 'info' },
);
