import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { buildPlist } from '../../src/apple/commands/build.js';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { loadConfig } from '../../src/config.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { cmsSign } from '../../src/crypto/cms.js';
import { createLogger } from '../../src/logger.js';
import { enrolledDevice, issueDeviceIdentity, quickDevice, testTopic } from '../helpers/appleDevice.js';
import {
  createTestDatabase,
  dialects,
  mysqlAvailable,
  testServerKey,
  type TestDatabase,
  type TestServer,
} from '../helpers/testServer.js';

const checkinType = 'application/x-apple-aspen-mdm-checkin';
const reportType = 'application/x-apple-aspen-mdm';
const bodyLimit = 64 * 1024;

/** Every row of the Apple tables and hosts, to show a refused request changed nothing. */
async function snapshot(srv: TestServer): Promise<string> {
  await srv.app.services.flushAppleCheckin();
  const { db } = srv.app.services.database;
  const tables = [
    'nano_devices',
    'nano_users',
    'nano_enrollments',
    'nano_commands',
    'nano_enrollment_queue',
    'nano_command_results',
    'nano_cert_auth_associations',
    'hosts',
    'host_mdm',
  ] as const;
  const out: Record<string, unknown> = {};
  for (const t of tables) out[t] = await db.selectFrom(t).selectAll().execute();
  return JSON.stringify(out, (_k, v) =>
    v && v.type === 'Buffer' ? Buffer.from(v.data).toString('base64') : v,
  );
}

for (const dialect of dialects) {
  const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;
  d(`Apple check-in bad input [${dialect}]`, () => {
    const lines: Record<string, unknown>[] = [];
    let testDb: TestDatabase;
    let app: App;
    let srv: TestServer;
    let good: SimulatedAppleDevice;
    let other: SimulatedAppleDevice;

    beforeAll(async () => {
      testDb = await createTestDatabase(dialect);
      const config = loadConfig(
        {},
        {
          listenHost: '127.0.0.1',
          listenPort: 0,
          databaseUrl: testDb.url,
          dataDir: testDb.dataDir,
          serverPrivateKey: testServerKey,
          logLevel: 'info',
          cronEnabled: false,
          appleMdmMaxBodyBytes: bodyLimit,
          appleClientCertHeader: 'X-Client-Cert',
        },
      );
      const sink = new Writable({
        write(chunk, _enc, cb) {
          for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l));
          cb();
        },
      });
      app = await buildApp({
        config,
        database: testDb.database,
        serverKey: testServerKey,
        logger: createLogger('info', sink),
      });
      await app.services.assets.ensureBuiltinCertificateAuthorities();
      await app.server.listen({ host: '127.0.0.1', port: 0 });
      const addr = app.server.server.address();
      const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
      srv = { app, url, dialect, config, testDb, close: async () => {} };
      good = await enrolledDevice(srv);
      other = await enrolledDevice(srv);
      const c = buildCommandPlist('ProfileList', {});
      await app.services.appleQueue.enqueue([good.udid], {
        commandUuid: c.commandUuid,
        requestType: 'ProfileList',
        plist: c.plist,
      });
    });
    afterAll(async () => {
      await app?.server.close();
      await testDb?.drop();
    });

    /** Sends raw bytes with the given headers; asserts the refusal, no state change, and one log line. */
    async function refused(
      expectedStatus: number,
      body: Buffer,
      headers: Record<string, string>,
      reason: RegExp,
    ): Promise<void> {
      const before = await snapshot(srv);
      const reqId = randomUUID();
      const res = await fetch(`${srv.url}/mdm/apple/mdm`, {
        method: 'PUT',
        headers: { ...headers, 'x-request-id': reqId },
        body: new Uint8Array(body),
      });
      expect(res.status).toBe(expectedStatus);
      expect(res.status).not.toBe(401);
      expect(await snapshot(srv)).toBe(before);
      const logged = lines.filter((l) => l.reqId === reqId && l.msg === 'apple mdm request rejected');
      expect(logged).toHaveLength(1);
      expect(String(logged[0].reason)).toMatch(reason);
      const text = JSON.stringify(lines.filter((l) => l.reqId === reqId));
      for (const secret of [
        headers['mdm-signature'],
        good.pushMagic,
        other.pushMagic,
        good.identity!.keyPem.slice(40, 80),
      ]) {
        if (secret) expect(text).not.toContain(secret.slice(0, 40));
      }
    }

    const signed = (dev: SimulatedAppleDevice, body: Buffer, type = checkinType) => ({
      'content-type': type,
      'mdm-signature': cmsSign(body, dev.identity!, { detached: true }).toString('base64'),
    });

    it('refuses malformed and binary plists', async () => {
      const bad = Buffer.from(
        '<?xml version="1.0"?><plist version="1.0"><dict><key>UDID</key><string>x</string><key>Status</dict></plist>',
      );
      await refused(400, bad, signed(good, bad, reportType), /malformed plist/);
      const garbage = randomBytes(300);
      await refused(400, garbage, signed(good, garbage, reportType), /malformed plist/);
      const bplist = Buffer.concat([Buffer.from('bplist00'), randomBytes(40)]);
      await refused(400, bplist, signed(good, bplist), /binary/);
      const empty = Buffer.alloc(0);
      await refused(400, empty, signed(good, empty), /malformed plist/);
    });

    it('checks the signature before parsing: an unsigned or badly signed body is never parsed', async () => {
      // A body that would be expensive to parse (deep nesting) is refused on its missing signature.
      const deep = Buffer.from(
        `<?xml version="1.0"?><plist version="1.0">${'<array>'.repeat(3000)}${'</array>'.repeat(3000)}</plist>`,
      );
      await refused(400, deep, { 'content-type': checkinType }, /Mdm-Signature header missing/);
      const malformed = Buffer.from('<plist><dict><key>UDID</key>');
      await refused(400, malformed, { 'content-type': checkinType }, /Mdm-Signature header missing/);
      const otherBody = buildPlist({ MessageType: 'Authenticate', UDID: good.udid });
      await refused(400, malformed, signed(good, otherBody), /Mdm-Signature does not verify/);
    });

    it('refuses unknown MessageType, unknown Status, a missing UDID and missing keys', async () => {
      const unknown = buildPlist({ MessageType: 'Reboot', UDID: good.udid });
      await refused(400, unknown, signed(good, unknown), /unknown MessageType/);
      const status = buildPlist({ Status: 'Maybe', UDID: good.udid, CommandUUID: 'x' });
      await refused(400, status, signed(good, status, reportType), /unknown Status/);
      const noUdid = buildPlist({
        MessageType: 'TokenUpdate',
        Topic: testTopic,
        Token: randomBytes(32),
        PushMagic: 'm',
      });
      await refused(400, noUdid, signed(good, noUdid), /missing UDID/);
      const noToken = buildPlist({
        MessageType: 'TokenUpdate',
        UDID: good.udid,
        Topic: testTopic,
        PushMagic: 'm',
      });
      await refused(400, noToken, signed(good, noToken), /missing Token/);
      const noUuid = buildPlist({ Status: 'Acknowledged', UDID: good.udid });
      await refused(400, noUuid, signed(good, noUuid, reportType), /missing CommandUUID/);
    });

    it('refuses an oversize body with 413', async () => {
      const big = buildPlist({ Status: 'Idle', UDID: good.udid, Padding: 'x'.repeat(bodyLimit) });
      await refused(413, big, signed(good, big, reportType), /too large/);
    });

    it('refuses a tampered body, a missing or garbled signature', async () => {
      const body = buildPlist({
        MessageType: 'TokenUpdate',
        UDID: good.udid,
        Topic: testTopic,
        Token: randomBytes(32),
        PushMagic: 'evil',
      });
      const headers = signed(good, body);
      const tampered = Buffer.from(body.toString().replace('evil', 'evel'));
      await refused(400, tampered, headers, /does not verify/);
      await refused(400, body, { 'content-type': checkinType }, /Mdm-Signature header missing/);
      await refused(
        400,
        body,
        { 'content-type': checkinType, 'mdm-signature': 'bm90IGEgY21zIGJsb2I=' },
        /does not verify/,
      );
    });

    it('refuses a certificate from another CA, also when forwarded by a TLS terminator', async () => {
      const foreignCa = createCertificateAuthority('Someone Else CA');
      const stranger = await quickDevice(srv, {
        identity: await issueDeviceIdentity(srv, undefined, foreignCa),
      });
      const body = buildPlist({
        MessageType: 'Authenticate',
        UDID: stranger.udid,
        Topic: testTopic,
        SerialNumber: 'X1',
      });
      await refused(400, body, signed(stranger, body), /not issued by the SCEP CA/);
      await refused(
        400,
        body,
        { 'content-type': checkinType, 'x-client-cert': encodeURIComponent(stranger.identity!.certPem) },
        /not issued by the SCEP CA/,
      );
    });

    it('accepts a forwarded client certificate of the right CA (URL-escaped PEM)', async () => {
      const body = buildPlist({ Status: 'Idle', UDID: good.udid });
      const res = await fetch(`${srv.url}/mdm/apple/mdm`, {
        method: 'PUT',
        headers: { 'content-type': reportType, 'x-client-cert': encodeURIComponent(good.identity!.certPem) },
        body: new Uint8Array(body),
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('ProfileList');
    });

    it("refuses another device's certificate replayed for this device", async () => {
      // `other`'s valid identity, presented with `good`'s UDID.
      const auth = buildPlist({
        MessageType: 'Authenticate',
        UDID: good.udid,
        Topic: testTopic,
        SerialNumber: 'X2',
      });
      await refused(400, auth, signed(other, auth), /belongs to another enrollment/);
      const tu = buildPlist({
        MessageType: 'TokenUpdate',
        UDID: good.udid,
        Topic: testTopic,
        Token: randomBytes(32),
        PushMagic: 'stolen',
      });
      await refused(400, tu, signed(other, tu), /not associated/);
      const idle = buildPlist({ Status: 'Idle', UDID: good.udid });
      await refused(400, idle, signed(other, idle, reportType), /not associated/);
      const co = buildPlist({ MessageType: 'CheckOut', UDID: good.udid, Topic: testTopic });
      await refused(400, co, signed(other, co), /not associated/);
    });

    it('refuses check-ins from an identity that never authenticated', async () => {
      const fresh = await quickDevice(srv);
      const tu = buildPlist({
        MessageType: 'TokenUpdate',
        UDID: fresh.udid,
        Topic: testTopic,
        Token: randomBytes(32),
        PushMagic: 'm',
      });
      await refused(400, tu, signed(fresh, tu), /not associated/);
    });
  });
}
