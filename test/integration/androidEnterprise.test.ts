import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { startAmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import { AssetName } from '../../src/configassets/service.js';
import { dbNow } from '../../src/db/dialect.js';
import { apiUser, createTeam } from '../helpers/adminFixtures.js';
import {
  androidServerUrl,
  androidTestConfig,
  beginSignup,
  bindEnterprise,
  uploadServiceAccount,
} from '../helpers/android.js';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect } from '../helpers/testServer.js';

const standIn = await startAmapiStandIn();
afterAll(() => standIn.close());

const base = '/api/v1/fleet/android_enterprise';
const publisher = 'serviceAccount:android-cloud-policy@system.gserviceaccount.com';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describeEachDialect(
  'Android Enterprise binding',
  (server) => {
    let admin: string;
    let maintainer: string;
    let observer: string;
    let teamAdmin: string;

    const srv = () => server();
    const services = () => srv().app.services;
    const db = () => services().database.db;

    beforeAll(async () => {
      admin = await setupAdmin(srv());
      maintainer = (await apiUser(srv(), admin, 'Maintainer', { global_role: 'maintainer' })).token;
      observer = (await apiUser(srv(), admin, 'Observer', { global_role: 'observer' })).token;
      const team = await createTeam(srv(), admin, 'Phones');
      teamAdmin = (await apiUser(srv(), admin, 'Team admin', { teams: [{ id: team, role: 'admin' }] })).token;
    });

    // Each test starts unbound with no service account: what earlier tests bound is forgotten here
    // (Google's copy stays at the stand-in; the next binding deletes the project's other enterprises).
    beforeEach(async () => {
      await db().deleteFrom('android_enterprises').execute();
      await db().deleteFrom('android_devices').execute();
      await services().assets.delete([AssetName.androidPubsubToken, AssetName.androidServiceAccount]);
      await services().appConfig.patch({ mdm: { android_enabled_and_configured: false } });
      services().android.enterprise.signupSse = { checkIntervalMs: 10, heartbeatIntervalMs: 15 };
      standIn.setPushTarget(srv().url);
    });

    const rows = () => db().selectFrom('android_enterprises').selectAll().orderBy('id').execute();
    const activities = (type: string) =>
      db().selectFrom('activities').selectAll().where('activity_type', '=', type).execute();
    const flag = async () => (await services().appConfig.get()).mdm.android_enabled_and_configured;
    const pubsubAsset = () => services().assets.getOne(AssetName.androidPubsubToken, { fresh: true });
    /** What a refusal must leave unchanged. */
    const state = async () => ({
      rows: await rows(),
      asset: (await pubsubAsset())?.toString() ?? null,
      flag: await flag(),
      enabled: (await activities('enabled_android_mdm')).length,
      disabled: (await activities('disabled_android_mdm')).length,
      topics: [...standIn.topics.keys()].sort(),
      subscriptions: [...standIn.subscriptions.keys()].sort(),
      enterprises: [...standIn.enterprises.keys()].sort(),
    });

    it('binds an enterprise: topic, publisher grant, push subscription, enterprise, default policy, flag, activity', async () => {
      const off = await api(srv(), 'GET', '/api/v1/fleet/config', { token: admin });
      expect(off.body.mdm.android_enabled_and_configured).toBe(false);
      await uploadServiceAccount(srv(), standIn, admin);
      const signupRes = await api(srv(), 'GET', `${base}/signup_url`, { token: admin });
      expect(signupRes.status).toBe(200);
      expect(Object.keys(signupRes.body)).toEqual(['android_enterprise_signup_url']);
      expect(signupRes.body.android_enterprise_signup_url).toMatch(
        /^https:\/\/play\.google\.com\/work\/adminsignup\?token=\w+$/,
      );

      // Google was given our callback URL; we keep only the SHA-256 of its token.
      const create = standIn.requests.filter((r) => r.path === '/v1/signupUrls').at(-1)!;
      expect(create.method).toBe('POST');
      expect(create.query.projectId).toBe('flotilla-test');
      const callback = new URL(create.query.callbackUrl);
      expect(callback.origin).toBe(androidServerUrl);
      const signupToken = callback.pathname.split('/').at(-1)!;
      expect(callback.pathname).toBe(`${base}/connect/${signupToken}`);
      expect(Buffer.from(signupToken, 'base64url')).toHaveLength(32);
      const [pending] = await rows();
      expect(pending).toMatchObject({
        enterprise_id: '',
        signup_token_hash: sha256(signupToken),
        pubsub_topic_id: '',
      });
      expect(JSON.stringify(pending)).not.toContain(signupToken);

      const enterpriseToken = standIn.completeSignup(pending.signup_name);
      const cb = await api(srv(), 'GET', `${callback.pathname}?enterpriseToken=${enterpriseToken}`);
      expect(cb.status).toBe(200);
      expect(cb.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(cb.text).toContain('window.close();');
      expect(cb.headers.get('content-security-policy')).toMatch(/script-src 'nonce-[^']+'/);

      // The row: bound, its signup token hash gone, the only one.
      const all = await rows();
      expect(all).toHaveLength(1);
      const row = all[0];
      expect(row).toMatchObject({ id: pending.id, signup_token_hash: '', user_id: expect.any(Number) });
      expect(row.enterprise_id).toMatch(/^LC0/);
      expect(row.pubsub_topic_id).toMatch(/^a[0-9a-f-]{36}$/);
      const enterpriseName = `enterprises/${row.enterprise_id}`;

      // At Google: the topic with AMAPI allowed to publish, the push subscription, the enterprise.
      const topicName = `projects/flotilla-test/topics/${row.pubsub_topic_id}`;
      const topic = standIn.topics.get(topicName)!;
      expect(topic.messageRetentionDuration).toBe('86400s');
      expect(topic.iam).toEqual([{ role: 'roles/pubsub.publisher', members: [publisher] }]);
      const sub = standIn.subscriptions.get(`projects/flotilla-test/subscriptions/${row.pubsub_topic_id}`)!;
      const pubsubToken = (await pubsubAsset())!.toString();
      expect(Buffer.from(pubsubToken, 'base64url')).toHaveLength(64);
      expect(sub).toEqual({
        name: `projects/flotilla-test/subscriptions/${row.pubsub_topic_id}`,
        topic: topicName,
        pushEndpoint: `${androidServerUrl}${base}/pubsub?token=${pubsubToken}`,
        ackDeadlineSeconds: 60,
      });
      expect(standIn.enterprises.get(enterpriseName)).toEqual({
        name: enterpriseName,
        pubsubTopic: topicName,
        enabledNotificationTypes: ['ENROLLMENT', 'STATUS_REPORT', 'COMMAND', 'USAGE_LOGS'],
        signupUrlName: pending.signup_name,
      });
      expect(standIn.policies.get(`${enterpriseName}/policies/1`)?.policy).toMatchObject({
        statusReportingSettings: {
          deviceSettingsEnabled: true,
          memoryInfoEnabled: true,
          networkInfoEnabled: true,
          displayInfoEnabled: true,
          powerManagementEventsEnabled: true,
          hardwareStatusEnabled: true,
          systemPropertiesEnabled: true,
          softwareInfoEnabled: true,
          commonCriteriaModeEnabled: true,
          applicationReportsEnabled: true,
        },
      });
      // Earlier tests' enterprises in the same project were deleted.
      expect([...standIn.enterprises.keys()]).toEqual([enterpriseName]);

      // The Pub/Sub token is stored sealed.
      const sealed = await db()
        .selectFrom('mdm_config_assets')
        .select('value')
        .where('name', '=', AssetName.androidPubsubToken)
        .where('deleted_at', 'is', null)
        .executeTakeFirstOrThrow();
      expect(Buffer.from(sealed.value).toString('latin1')).not.toContain(pubsubToken);

      const cfg = await api(srv(), 'GET', '/api/v1/fleet/config', { token: admin });
      expect(cfg.body.mdm.android_enabled_and_configured).toBe(true);
      const [activity] = (await activities('enabled_android_mdm')).slice(-1);
      expect(activity).toMatchObject({ user_name: 'Admin', user_email: 'admin@example.com' });
      expect(JSON.parse(activity.details)).toEqual({});

      const got = await api(srv(), 'GET', base, { token: admin });
      expect(got.status).toBe(200);
      expect(got.body).toEqual({ android_enterprise_id: row.enterprise_id });
      const latest = await api(srv(), 'GET', '/api/latest/fleet/android_enterprise', { token: admin });
      expect(latest.body).toEqual({ android_enterprise_id: row.enterprise_id });

      // No secret reached a log line: signup token, Pub/Sub token, enterprise token, private key.
      const logs = JSON.stringify(srv().logLines);
      for (const secret of [signupToken, pubsubToken, enterpriseToken, 'PRIVATE KEY']) {
        expect(logs).not.toContain(secret);
      }
      expect(logs).toContain(`${base}/connect/:token`);
    });

    it('refuses a second signup and a second use of the callback once bound (409), changing nothing', async () => {
      await uploadServiceAccount(srv(), standIn, admin);
      const signup = await beginSignup(srv(), standIn, admin);
      const enterpriseToken = standIn.completeSignup(signup.signupUrlName);
      const url = `${signup.callbackPath}?enterpriseToken=${enterpriseToken}`;
      expect((await api(srv(), 'GET', url)).status).toBe(200);
      const before = await state();
      const requests = standIn.requests.length;

      const again = await api(srv(), 'GET', `${base}/signup_url`, { token: admin });
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({
        message: 'Validation Failed',
        errors: [{ name: 'android', reason: 'Android is already enabled and configured' }],
      });
      const replay = await api(srv(), 'GET', url);
      expect(replay.status).toBe(409);
      expect(replay.body.errors).toEqual([
        { name: 'android', reason: 'Android is already enabled and configured' },
      ]);
      expect(await state()).toEqual(before);
      expect(standIn.requests.length).toBe(requests);
    });

    it('refuses signup for a localhost server URL (400) and without a service account, calling nobody', async () => {
      const requests = standIn.requests.length;
      const none = await api(srv(), 'GET', `${base}/signup_url`, { token: admin });
      expect(none.status).toBe(400);
      expect(none.body).toMatchObject({ message: 'Bad request', errors: [{ name: 'service_account' }] });
      expect(none.body.errors[0].reason).toContain('PUT /api/v1/fleet/android_enterprise/service_account');

      await uploadServiceAccount(srv(), standIn, admin);
      const before = await state();
      for (const local of ['http://localhost:8080', 'https://127.0.0.1', 'https://[::1]:8443']) {
        await services().appConfig.patch({ server_settings: { server_url: local } });
        try {
          const res = await api(srv(), 'GET', `${base}/signup_url`, { token: admin });
          expect(res.status).toBe(400);
          expect(res.body).toMatchObject({
            message: 'Bad request',
            errors: [
              {
                name: 'base',
                reason: `Android Enterprise cannot be enabled with localhost server URL: ${local}`,
              },
            ],
          });
        } finally {
          await services().appConfig.patch({ server_settings: { server_url: androidServerUrl } });
        }
      }
      expect(await state()).toEqual(before);
      expect(standIn.requests.filter((r) => r.path !== '/token').length).toBe(
        standIn.requests.slice(0, requests).filter((r) => r.path !== '/token').length,
      );
    });

    it('answers 403 to a callback with an unknown signup token and 400 without enterpriseToken, storing nothing', async () => {
      await uploadServiceAccount(srv(), standIn, admin);
      const signup = await beginSignup(srv(), standIn, admin);
      const enterpriseToken = standIn.completeSignup(signup.signupUrlName);
      const before = await state();
      const requests = standIn.requests.length;

      const forged = await api(
        srv(),
        'GET',
        `${base}/connect/not-the-token?enterpriseToken=${enterpriseToken}`,
      );
      expect(forged.status).toBe(403);
      expect(forged.body).toMatchObject({
        message: 'forbidden',
        errors: [{ name: 'base', reason: 'invalid signup token' }],
      });
      const missing = await api(srv(), 'GET', signup.callbackPath);
      expect(missing.status).toBe(400);
      expect(missing.body).toMatchObject({
        message: 'Bad request',
        errors: [{ name: 'enterpriseToken', reason: 'enterpriseToken is required' }],
      });
      expect(await state()).toEqual(before);
      expect(standIn.requests.length).toBe(requests);
    });

    it('leaves nothing half-bound when Google fails policies.patch or enterprises.create; a retry then binds', async () => {
      await uploadServiceAccount(srv(), standIn, admin);
      const signupAt = async () => {
        const signup = await beginSignup(srv(), standIn, admin);
        const enterpriseToken = standIn.completeSignup(signup.signupUrlName);
        return `${signup.callbackPath}?enterpriseToken=${enterpriseToken}`;
      };

      // Google made the enterprise but refused its default policy: the enterprise is deleted again.
      const first = await signupAt();
      const before = await state();
      standIn.failNext('policies.patch', 403, { message: 'Caller lacks permission.' });
      const failed = await api(srv(), 'GET', first);
      expect(failed.status).toBe(502);
      expect(failed.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(failed.text).toContain('Android Enterprise was not connected');
      expect(failed.text).toContain('Caller lacks permission.');
      // Google's topic, subscription and enterprise made for the attempt are gone; nothing stored.
      expect(await state()).toEqual(before);
      const deletes = standIn.requests.filter((r) => r.method === 'DELETE').map((r) => r.path);
      expect(deletes.some((p) => /^\/v1\/enterprises\/LC0[^/]+$/.test(p))).toBe(true);

      // Google refused to create it: Google's signup stays good, so the same callback can be retried.
      const second = await signupAt();
      const before2 = await state();
      standIn.failNext('enterprises.create', 500, { message: 'Internal error encountered.' });
      const failed2 = await api(srv(), 'GET', second);
      expect(failed2.status).toBe(502);
      expect(failed2.text).toContain('Internal error encountered.');
      expect(await state()).toEqual(before2);

      expect((await api(srv(), 'GET', second)).status).toBe(200);
      expect(await rows()).toEqual([
        expect.objectContaining({ signup_token_hash: '', enterprise_id: expect.stringMatching(/^LC0/) }),
      ]);
      expect(await flag()).toBe(true);
    });

    it('streams signup progress: heartbeats until bound, then the success line (SSE)', async () => {
      await uploadServiceAccount(srv(), standIn, admin);
      const signup = await beginSignup(srv(), standIn, admin);
      const res = await fetch(`${srv().url}${base}/signup_sse`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let received = '';
      const readUntil = async (needle: string) => {
        while (!received.includes(needle)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`stream ended before "${needle}": ${received}`);
          received += decoder.decode(value, { stream: true });
        }
      };
      await readUntil(':heartbeat\n');
      expect(received).not.toContain('data:');

      const enterpriseToken = standIn.completeSignup(signup.signupUrlName);
      expect(
        (await api(srv(), 'GET', `${signup.callbackPath}?enterpriseToken=${enterpriseToken}`)).status,
      ).toBe(200);
      await readUntil('data: Android Enterprise successfully connected\n\n');
      expect((await reader.read()).done).toBe(true);

      // Already bound: answered at once.
      const now = await api(srv(), 'GET', `${base}/signup_sse`, { token: admin });
      expect(now.status).toBe(200);
      expect(now.text).toBe('data: Android Enterprise successfully connected\n\n');
    });

    it('GET answers 404 when nothing is bound; DELETE unbinds and turns MDM off for Android hosts', async () => {
      const none = await api(srv(), 'GET', base, { token: admin });
      expect(none.status).toBe(404);
      expect(none.body).toMatchObject({
        message: 'Validation Failed',
        errors: [{ name: 'enterprise', reason: 'No enterprise found' }],
      });

      const bound = await bindEnterprise(srv(), standIn, admin);
      const row = (await rows())[0];
      const hosts = services().hostStore;
      const phone = await hosts.create({
        uuid: `esid-${row.id}-phone`,
        platform: 'android',
        hostname: 'Pixel 8',
      });
      const mac = await hosts.create({ uuid: `mac-${row.id}`, platform: 'darwin', hostname: 'Mac' });
      const mdm = { server_url: androidServerUrl, installed_from_dep: false, is_personal_enrollment: false };
      await hosts.upsertHostMdm(phone, { ...mdm, enrolled: true, mdm_name: 'Fleet' });
      await hosts.upsertHostMdm(mac, { ...mdm, enrolled: true, mdm_name: 'Fleet' });
      const now = dbNow();
      await db()
        .insertInto('android_devices')
        .values({
          host_id: phone,
          device_id: `d${row.id}`,
          enterprise_specific_id: `esid-${row.id}-phone`,
          created_at: now,
          updated_at: now,
        })
        .execute();

      const del = await api(srv(), 'DELETE', base, { token: admin });
      expect(del.status).toBe(200);
      expect(del.body).toEqual({});

      expect(await rows()).toEqual([]);
      expect(await pubsubAsset()).toBeUndefined();
      expect(await flag()).toBe(false);
      expect(await db().selectFrom('android_devices').selectAll().execute()).toEqual([]);
      const mdmOf = (id: number) =>
        db()
          .selectFrom('host_mdm')
          .select(['enrolled', 'server_url'])
          .where('host_id', '=', id)
          .executeTakeFirstOrThrow();
      expect(await mdmOf(phone)).toEqual({ enrolled: 0, server_url: '' });
      expect(await mdmOf(mac)).toEqual({ enrolled: 1, server_url: androidServerUrl });
      const [activity] = (await activities('disabled_android_mdm')).slice(-1);
      expect(activity).toMatchObject({ user_name: 'Admin' });
      // Deleted at Google: the enterprise, its subscription and topic.
      expect(standIn.enterprises.has(bound.enterpriseName)).toBe(false);
      expect(standIn.topics.has(`projects/flotilla-test/topics/${row.pubsub_topic_id}`)).toBe(false);
      expect(standIn.subscriptions.has(`projects/flotilla-test/subscriptions/${row.pubsub_topic_id}`)).toBe(
        false,
      );
      expect((await api(srv(), 'GET', base, { token: admin })).status).toBe(404);
    });

    it('DELETE goes through when Google no longer has the enterprise, and changes nothing when Google fails', async () => {
      await bindEnterprise(srv(), standIn, admin);
      standIn.failNext('enterprises.delete', 500, { message: 'Backend Error' });
      const before = await state();
      const failed = await api(srv(), 'DELETE', base, { token: admin });
      expect(failed.status).toBe(502);
      expect(failed.body).toMatchObject({
        message: 'Bad Gateway',
        errors: [{ name: 'base', reason: expect.stringContaining('Backend Error') }],
      });
      expect(await state()).toEqual(before);

      standIn.failNext('enterprises.delete', 404, { message: 'Requested entity was not found.' });
      const gone = await api(srv(), 'DELETE', base, { token: admin });
      expect(gone.status).toBe(200);
      expect(await rows()).toEqual([]);
      expect(await flag()).toBe(false);
    });

    it('takes a service account: validates the key, never shows the private key, keeps it sealed', async () => {
      const empty = await api(srv(), 'GET', `${base}/service_account`, { token: admin });
      expect(empty.status).toBe(404);

      const before = await db().selectFrom('mdm_config_assets').selectAll().execute();
      const bad = [
        ['not json', 'the service account is not JSON'],
        [JSON.stringify({ ...standIn.serviceAccount, private_key: 'nope' }), 'private_key'],
        [JSON.stringify({ ...standIn.serviceAccount, type: 'authorized_user' }), 'type'],
        [JSON.stringify({ ...standIn.serviceAccount, project_id: undefined }), 'project_id'],
      ];
      for (const [body, reason] of bad) {
        const res = await api(srv(), 'PUT', `${base}/service_account`, {
          token: admin,
          rawBody: body,
          headers: { 'content-type': 'application/json' },
        });
        expect(res.status, body).toBe(422);
        expect(res.body).toMatchObject({
          message: 'Validation Failed',
          errors: [{ name: 'service_account' }],
        });
        expect(res.body.errors[0].reason).toContain(reason);
      }
      const nothing = await api(srv(), 'PUT', `${base}/service_account`, { token: admin });
      expect(nothing.status).toBe(400);
      expect(await db().selectFrom('mdm_config_assets').selectAll().execute()).toEqual(before);

      const key = standIn.serviceAccount;
      const put = await api(srv(), 'PUT', `${base}/service_account`, {
        token: admin,
        rawBody: JSON.stringify(key),
        headers: { 'content-type': 'application/json' },
      });
      expect(put.status).toBe(200);
      const shown = {
        project_id: 'flotilla-test',
        client_email: key.client_email,
        private_key_id: key.private_key_id,
      };
      expect(put.body).toEqual(shown);
      const got = await api(srv(), 'GET', `${base}/service_account`, { token: admin });
      expect(got.body).toEqual(shown);
      expect(got.text).not.toContain('PRIVATE KEY');
      const sealed = await db()
        .selectFrom('mdm_config_assets')
        .select('value')
        .where('name', '=', AssetName.androidServiceAccount)
        .where('deleted_at', 'is', null)
        .executeTakeFirstOrThrow();
      expect(Buffer.from(sealed.value).toString('latin1')).not.toContain('PRIVATE KEY');

      const removed = await api(srv(), 'DELETE', `${base}/service_account`, { token: admin });
      expect(removed.status).toBe(200);
      expect((await api(srv(), 'GET', `${base}/service_account`, { token: admin })).status).toBe(404);
    });

    it('keeps the service account while bound: no removal, no other project (409)', async () => {
      await bindEnterprise(srv(), standIn, admin);
      const del = await api(srv(), 'DELETE', `${base}/service_account`, { token: admin });
      expect(del.status).toBe(409);
      expect(del.body.message).toBe('Conflict');
      const other = await api(srv(), 'PUT', `${base}/service_account`, {
        token: admin,
        rawBody: JSON.stringify({ ...standIn.serviceAccount, project_id: 'someone-else' }),
        headers: { 'content-type': 'application/json' },
      });
      expect(other.status).toBe(409);
      const got = await api(srv(), 'GET', `${base}/service_account`, { token: admin });
      expect(got.body.project_id).toBe('flotilla-test');
      // A new key of the same project (rotation) is fine.
      const rotated = await api(srv(), 'PUT', `${base}/service_account`, {
        token: admin,
        rawBody: JSON.stringify(standIn.serviceAccount),
        headers: { 'content-type': 'application/json' },
      });
      expect(rotated.status).toBe(200);
    });

    it('lets only global admins in (403 for other roles, 401 without a token); v1 and latest only', async () => {
      await bindEnterprise(srv(), standIn, admin);
      const before = await state();
      const calls: [string, string][] = [
        ['GET', `${base}/signup_url`],
        ['GET', `${base}/signup_sse`],
        ['GET', base],
        ['DELETE', base],
        ['GET', `${base}/service_account`],
        ['PUT', `${base}/service_account`],
        ['DELETE', `${base}/service_account`],
      ];
      for (const [method, path] of calls) {
        for (const token of [maintainer, observer, teamAdmin]) {
          const res = await api(srv(), method, path, {
            token,
            ...(method === 'PUT' ? { rawBody: JSON.stringify(standIn.serviceAccount) } : {}),
          });
          expect(res.status, `${method} ${path}`).toBe(403);
          expect(res.body).toMatchObject({ message: 'forbidden' });
        }
        expect((await api(srv(), method, path)).status, `${method} ${path}`).toBe(401);
      }
      expect(await state()).toEqual(before);
      expect(
        (await api(srv(), 'GET', '/api/2022-04/fleet/android_enterprise', { token: admin })).status,
      ).toBe(404);
    });
  },
  { logLevel: 'info', ...androidTestConfig(standIn) },
);

describeEachDialect(
  'Android Enterprise binding with authenticated pushes',
  (server) => {
    it('asks Pub/Sub to sign each push with an OIDC token for the configured audience', async () => {
      const admin = await setupAdmin(server());
      const bound = await bindEnterprise(server(), standIn, admin);
      const topic = standIn.enterprises.get(bound.enterpriseName)!.pubsubTopic;
      const sub = [...standIn.subscriptions.values()].find((s) => s.topic === topic)!;
      expect(sub.oidcToken).toEqual({
        serviceAccountEmail: 'pusher@flotilla-test.iam.gserviceaccount.com',
        audience: 'https://mdm.example.test/pubsub',
      });
    });
  },
  {
    ...androidTestConfig(standIn),
    androidPushAudience: 'https://mdm.example.test/pubsub',
    androidPushServiceAccountEmail: 'pusher@flotilla-test.iam.gserviceaccount.com',
  },
);
