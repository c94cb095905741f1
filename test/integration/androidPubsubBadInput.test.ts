import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmapiStandIn, type AmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import { androidTestConfig, bindEnterprise, type BoundTestEnterprise } from '../helpers/android.js';
import { api, setupAdmin } from '../helpers/api.js';
import { dialects, mysqlAvailable, startTestServer, type TestServer } from '../helpers/testServer.js';

/** The sample pushes (test/vectors/android) name enterprise LC02k5wxw7. */
const vectorEnterprise = 'LC02k5wxw7';
const secret = 'enrollsecret';
const pubsubPath = '/api/v1/fleet/android_enterprise/pubsub';

type PushBody = { message: Record<string, any>; subscription: string };

function vector(name: string): PushBody {
  return JSON.parse(readFileSync(new URL(`../vectors/android/${name}`, import.meta.url), 'utf8')) as PushBody;
}

/** A push of the sample with its `data` replaced (raw text, not re-encoded) and a fresh message ID. */
function withData(push: PushBody, data: string): PushBody {
  const id = randomUUID();
  return { ...push, message: { ...push.message, data, messageId: id, message_id: id } };
}

/** The sample's resource moved to `enterpriseId`, edited, then base64 JSON again. */
function encoded(
  push: PushBody,
  enterpriseId: string,
  edit: (d: Record<string, any>) => void = () => {},
): string {
  const text = Buffer.from(push.message.data as string, 'base64')
    .toString('utf8')
    .replaceAll(vectorEnterprise, enterpriseId);
  const d = JSON.parse(text) as Record<string, any>;
  edit(d);
  return Buffer.from(JSON.stringify(d)).toString('base64');
}

/** Every table a push can write, to show a refused push changed nothing. */
async function snapshot(srv: TestServer): Promise<string> {
  const { db } = srv.app.services.database;
  const tables = [
    'hosts',
    'host_mdm',
    'android_devices',
    'android_pubsub_messages',
    'mdm_android_commands',
    'activities',
    'host_activities',
    'label_membership',
    'software',
    'host_software',
    'host_mdm_idp_accounts',
    'host_mdm_actions',
  ] as const;
  const out: Record<string, unknown> = {};
  for (const t of tables) out[t] = await db.selectFrom(t).selectAll().execute();
  return JSON.stringify(out);
}

async function post(srv: TestServer, query: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${srv.url}${pubsubPath}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as unknown };
}

/** No log line carries the push token (nor any OIDC token given). */
function expectNoSecretLogged(srv: TestServer, secrets: string[]) {
  const all = JSON.stringify(srv.logLines);
  for (const s of secrets) expect(all.includes(s)).toBe(false);
}

const err = (status: number, message: string, name: string, reason: string) => ({
  status,
  body: { message, errors: [{ name, reason }], uuid: expect.any(String) },
});
const droppedBody = (name: string, reason: string) => ({
  status: 200,
  body: { message: 'Validation Failed', errors: [{ name, reason }] },
});

for (const dialect of dialects) {
  const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;
  d(`Android Pub/Sub push: bad input [${dialect}]`, () => {
    let standIn: AmapiStandIn;
    let srv: TestServer;
    let admin: string;
    let bound: BoundTestEnterprise;
    let token: string;

    beforeAll(async () => {
      standIn = await startAmapiStandIn();
      srv = await startTestServer(dialect, { ...androidTestConfig(standIn), logLevel: 'info' });
      admin = await setupAdmin(srv);
      bound = await bindEnterprise(srv, standIn, admin);
      token = bound.pubsubToken!;
      await srv.app.services.enrollSecrets.replace(null, null, [secret]);
    });
    afterAll(async () => {
      await srv?.close();
      await standIn?.close();
    });

    /** Posts; asserts the answer, that nothing changed, and that a log line says why. */
    async function refused(
      query: string,
      body: string,
      expected: { status: number; body: unknown },
      logMsg: string,
      headers: Record<string, string> = {},
    ) {
      const before = await snapshot(srv);
      const lines = srv.logLines!.length;
      expect(await post(srv, query, body, headers)).toEqual(expected);
      expect(await snapshot(srv)).toBe(before);
      const fresh = srv.logLines!.slice(lines);
      expect(fresh.some((l) => l.msg === logMsg)).toBe(true);
      expectNoSecretLogged(srv, [token]);
    }

    const enrollment = () =>
      withData(
        vector('pubsub_push_enrollment.json'),
        encoded(vector('pubsub_push_enrollment.json'), bound.enterpriseId),
      );

    /** Posts the sample `file` with its data replaced by `data`; it must be dropped (200) for `reason`. */
    async function dropped(file: string, data: string, name: string, reason: string) {
      await refused(
        `?token=${token}`,
        JSON.stringify(withData(vector(file), data)),
        droppedBody(name, reason),
        'android pubsub: message dropped',
      );
    }

    /** As `dropped`, the data being the sample's moved to the bound enterprise and edited. */
    const droppedEdited = (
      file: string,
      edit: (d: Record<string, any>) => void,
      name: string,
      reason: string,
    ) => dropped(file, encoded(vector(file), bound.enterpriseId, edit), name, reason);

    it('a wrong token is refused with 401', async () => {
      await refused(
        `?token=${encodeURIComponent(`${token}x`)}`,
        JSON.stringify(enrollment()),
        err(401, 'Authentication Failed', 'base', 'invalid Android Pub/Sub token'),
        'android pubsub: push refused: wrong or missing token',
      );
    });

    it('a missing token is refused with 401', async () => {
      await refused(
        '',
        JSON.stringify(enrollment()),
        err(401, 'Authentication Failed', 'base', 'missing Android Pub/Sub token'),
        'android pubsub: push refused: wrong or missing token',
      );
    });

    it('a body that is not a push request is refused with 400', async () => {
      await refused(
        `?token=${token}`,
        '{"message": [',
        err(400, 'Bad request', 'message', 'not a Pub/Sub push request: the body is not JSON'),
        'android pubsub: not a push request',
      );
      await refused(
        `?token=${token}`,
        JSON.stringify({ message: { attributes: { notificationType: 'ENROLLMENT' }, data: '' } }),
        err(
          400,
          'Bad request',
          'message',
          'not a Pub/Sub push request: the message has no usable "messageId"',
        ),
        'android pubsub: not a push request',
      );
    });

    it('malformed base64 in data is dropped with 200', async () => {
      await dropped(
        'pubsub_push_enrollment.json',
        '%%%not-base64%%%',
        'message.data',
        '"message.data" is not standard base64',
      );
    });

    it('base64 of something other than JSON is dropped with 200', async () => {
      await dropped(
        'pubsub_push_enrollment.json',
        Buffer.from('not json').toString('base64'),
        'message.data',
        '"message.data" is not base64 of JSON',
      );
    });

    it('a JSON array in data is dropped with 200', async () => {
      await dropped(
        'pubsub_push_enrollment.json',
        Buffer.from('[1,2]').toString('base64'),
        'message.data',
        '"message.data" is not a JSON object',
      );
    });

    it('a device without hardwareInfo is dropped with 200', async () => {
      await droppedEdited(
        'pubsub_push_enrollment.json',
        (dv) => delete dv.hardwareInfo,
        'device',
        'the device has no hardwareInfo',
      );
    });

    it('a device without softwareInfo (status reporting off) is dropped with 200', async () => {
      await droppedEdited(
        'pubsub_push_status_report.json',
        (dv) => delete dv.softwareInfo,
        'device',
        'the device has no softwareInfo (are statusReportingSettings on?)',
      );
    });

    it('a device of another enterprise (the sample as it is) is dropped with 200', async () => {
      const file = 'pubsub_push_enrollment.json';
      await dropped(
        file,
        vector(file).message.data as string,
        'device',
        'the device belongs to another enterprise',
      );
    });

    it('an enrollment naming an unknown enroll secret creates no host (200, dropped)', async () => {
      await droppedEdited(
        'pubsub_push_enrollment.json',
        (dv) => {
          dv.enrollmentTokenData = JSON.stringify({ EnrollSecret: 'no-such-secret', IdpUUID: '' });
        },
        'device',
        'the enrollment token names an unknown enroll secret',
      );
    });

    it('a COMMAND of another enterprise is acked and changes nothing', async () => {
      const push = vector('pubsub_push_command_operation.json');
      const before = await snapshot(srv);
      const res = await post(
        srv,
        `?token=${token}`,
        JSON.stringify(withData(push, push.message.data as string)),
      );
      expect(res).toEqual({ status: 200, body: {} });
      // Only the message ID is recorded (so a redelivery is not looked up again).
      const after = JSON.parse(await snapshot(srv)) as Record<string, unknown[]>;
      const was = JSON.parse(before) as Record<string, unknown[]>;
      expect({ ...after, android_pubsub_messages: [] }).toEqual({ ...was, android_pubsub_messages: [] });
      expect(after.android_pubsub_messages).toHaveLength(was.android_pubsub_messages!.length + 1);
    });

    it('a COMMAND of this enterprise not recorded yet is refused (503) until its row exists, then redelivered', async () => {
      const tokenRes = await api(
        srv,
        'GET',
        `/api/v1/fleet/android_enterprise/enrollment_token?enroll_secret=${secret}`,
      );
      const { device } = await standIn.enrollDevice({
        tokenValue: tokenRes.body.android_enrollment_token as string,
        ownership: 'PERSONALLY_OWNED',
        hardwareInfo: {
          brand: 'google',
          model: 'Pixel 7',
          serialNumber: 'RACE-1',
          enterpriseSpecificId: 'ESID-RACE-1',
        },
      });
      // The command reaches Google but its row is not committed yet (the race Fleet retries through).
      const client = (await srv.app.services.android.clients.get())!;
      const op = await client.devicesIssueCommand(device.name, { type: 'LOCK' });
      const before = await snapshot(srv);
      const lines = srv.logLines!.length;
      const delivery = await standIn.completeOperation(op.name);
      expect(delivery.status).toBe(503);
      expect(JSON.parse(delivery.body)).toEqual({
        message: 'Service Unavailable',
        errors: [
          {
            name: 'operation',
            reason: 'the command of this operation is not recorded yet; deliver it again',
          },
        ],
        uuid: expect.any(String),
      });
      expect(await snapshot(srv)).toBe(before);
      expect(
        srv
          .logLines!.slice(lines)
          .some(
            (l) =>
              l.msg === 'android pubsub: operation of this enterprise not recorded (yet); Pub/Sub will retry',
          ),
      ).toBe(true);

      const { db } = srv.app.services.database;
      await db
        .insertInto('mdm_android_commands')
        .values({
          command_uuid: randomUUID(),
          host_uuid: 'ESID-RACE-1',
          operation_name: op.name,
          command_type: 'LOCK',
          status: 'pending',
          request_payload: '{"type":"LOCK"}',
          created_at: '2025-06-01 00:00:00.000',
          updated_at: '2025-06-01 00:00:00.000',
        })
        .execute();
      const redelivered = await standIn.redeliverUnacked();
      expect(redelivered.map((r) => r.status)).toEqual([200]);
      const row = await db
        .selectFrom('mdm_android_commands')
        .select('status')
        .where('operation_name', '=', op.name)
        .executeTakeFirstOrThrow();
      expect(row.status).toBe('acknowledged');
    });

    it('a body over the size limit is refused with 413', async () => {
      const big = JSON.stringify(withData(vector('pubsub_push_enrollment.json'), 'A'.repeat(1024 * 1024)));
      const before = await snapshot(srv);
      const res = await post(srv, `?token=${token}`, big);
      expect(res).toEqual(
        err(
          413,
          'Request Entity Too Large',
          'base',
          'request body exceeds the max size limit of 1048576 bytes',
        ),
      );
      expect(await snapshot(srv)).toBe(before);
    });
  });

  d(`Android Pub/Sub push: Android not configured [${dialect}]`, () => {
    let srv: TestServer;
    beforeAll(async () => {
      srv = await startTestServer(dialect, { logLevel: 'info' });
    });
    afterAll(async () => {
      await srv?.close();
    });

    it('answers 200 so Pub/Sub stops, whatever the token, and stores nothing', async () => {
      const push = vector('pubsub_push_enrollment.json');
      for (const q of ['', '?token=anything']) {
        const res = await post(srv, q, JSON.stringify(push));
        expect(res).toEqual(droppedBody('android', 'Android MDM is NOT configured'));
      }
      const { db } = srv.app.services.database;
      expect(await db.selectFrom('hosts').selectAll().execute()).toEqual([]);
      expect(await db.selectFrom('android_pubsub_messages').selectAll().execute()).toEqual([]);
      expect(
        srv.logLines!.some((l) => l.msg === 'android pubsub: Android MDM is not configured; push dropped'),
      ).toBe(true);
    });
  });

  d(`Android Pub/Sub push: OIDC token required [${dialect}]`, () => {
    const audience = 'https://mdm.example.test/pubsub-audience';
    let standIn: AmapiStandIn;
    let other: AmapiStandIn;
    let srv: TestServer;
    let token: string;
    let bound: BoundTestEnterprise;

    beforeAll(async () => {
      standIn = await startAmapiStandIn();
      other = await startAmapiStandIn();
      srv = await startTestServer(dialect, {
        ...androidTestConfig(standIn),
        androidPushAudience: audience,
        logLevel: 'info',
      });
      const admin = await setupAdmin(srv);
      bound = await bindEnterprise(srv, standIn, admin);
      token = bound.pubsubToken!;
      await srv.app.services.enrollSecrets.replace(null, null, [secret]);
    });
    afterAll(async () => {
      await srv?.close();
      await standIn?.close();
      await other?.close();
    });

    const signer = 'flotilla@flotilla-test.iam.gserviceaccount.com';
    const body = () =>
      JSON.stringify(
        withData(
          vector('pubsub_push_enrollment.json'),
          encoded(vector('pubsub_push_enrollment.json'), bound.enterpriseId, (dv) => {
            dv.hardwareInfo.enterpriseSpecificId = `ESID-OIDC-${randomUUID()}`;
          }),
        ),
      );

    async function refusedWith(bearer: string | undefined, expected: { status: number; body: unknown }) {
      const before = await snapshot(srv);
      const lines = srv.logLines!.length;
      const headers: Record<string, string> = bearer ? { authorization: `Bearer ${bearer}` } : {};
      expect(await post(srv, `?token=${token}`, body(), headers)).toEqual(expected);
      expect(await snapshot(srv)).toBe(before);
      expect(srv.logLines!.slice(lines).some((l) => l.msg === 'android pubsub: push refused: OIDC')).toBe(
        true,
      );
      expectNoSecretLogged(srv, [token, ...(bearer ? [bearer] : [])]);
    }

    it('the push subscription asks Pub/Sub for an OIDC token for the audience', () => {
      const sub = [...standIn.subscriptions.values()][0]!;
      expect(sub.oidcToken).toEqual({ serviceAccountEmail: signer, audience });
    });

    it('a push without a bearer token is refused with 401', async () => {
      await refusedWith(undefined, err(401, 'Authentication Failed', 'base', 'missing OIDC bearer token'));
    });

    it('a token for another audience is refused with 401', async () => {
      const jwt = standIn.signOidcToken({ aud: 'https://elsewhere.example', email: signer });
      await refusedWith(
        jwt,
        err(401, 'Authentication Failed', 'base', 'invalid OIDC token: the token is for another audience'),
      );
    });

    it('a token signed by a key Google does not list is refused with 401', async () => {
      const jwt = other.signOidcToken({ aud: audience, email: signer });
      await refusedWith(
        jwt,
        err(
          401,
          'Authentication Failed',
          'base',
          'invalid OIDC token: the token is signed by a key Google does not list',
        ),
      );
    });

    it('an expired token is refused with 401', async () => {
      const iat = Math.floor(Date.now() / 1000) - 7200;
      const jwt = standIn.signOidcToken({ aud: audience, email: signer, iat, exp: iat + 600 });
      await refusedWith(
        jwt,
        err(401, 'Authentication Failed', 'base', 'invalid OIDC token: the token has expired'),
      );
    });

    it('a valid token of another service account is refused with 403', async () => {
      const jwt = standIn.signOidcToken({ aud: audience, email: 'someone@else.iam.gserviceaccount.com' });
      await refusedWith(
        jwt,
        err(403, 'forbidden', 'base', 'the OIDC token is not signed for the expected service account'),
      );
    });

    it('an unverified e-mail is refused with 403', async () => {
      const jwt = standIn.signOidcToken({ aud: audience, email: signer, email_verified: false });
      await refusedWith(
        jwt,
        err(403, 'forbidden', 'base', 'the OIDC token is not signed for the expected service account'),
      );
    });

    it("Google's token for the bound service account is accepted, and Pub/Sub's own pushes pass", async () => {
      const jwt = standIn.signOidcToken({ aud: audience, email: signer });
      expect(await post(srv, `?token=${token}`, body(), { authorization: `Bearer ${jwt}` })).toEqual({
        status: 200,
        body: {},
      });
      // The stand-in's Pub/Sub attaches the token the subscription asks for.
      const tokenRes = await api(
        srv,
        'GET',
        `/api/v1/fleet/android_enterprise/enrollment_token?enroll_secret=${secret}`,
      );
      const { delivery } = await standIn.enrollDevice({
        tokenValue: tokenRes.body.android_enrollment_token as string,
        ownership: 'PERSONALLY_OWNED',
        hardwareInfo: {
          brand: 'google',
          model: 'Pixel 9',
          serialNumber: 'OIDC-1',
          enterpriseSpecificId: 'ESID-OIDC-SIM',
        },
      });
      expect(delivery.status).toBe(200);
      const host = await srv.app.services.database.db
        .selectFrom('hosts')
        .select('platform')
        .where('uuid', '=', 'ESID-OIDC-SIM')
        .executeTakeFirst();
      expect(host).toEqual({ platform: 'android' });
    });
  });
}
