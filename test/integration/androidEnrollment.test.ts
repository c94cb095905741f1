import { sql } from 'kysely';
import QRCode from 'qrcode';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { startAmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import { enrollPage } from '../../src/android/enrollment/page.js';
import { AssetName } from '../../src/configassets/service.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { androidTestConfig, bindEnterprise } from '../helpers/android.js';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const standIn = await startAmapiStandIn();
afterAll(() => standIn.close());

const tokenPath = '/api/v1/fleet/android_enterprise/enrollment_token';
const ttlSeconds = 1800;

/** Google calls that mint enrollment tokens, so far. */
const tokenCalls = () =>
  standIn.requests.filter((r) => /^\/v1\/enterprises\/[^/]+\/enrollmentTokens$/.test(r.path));

async function globalSecret(srv: TestServer): Promise<string> {
  const [row] = await srv.app.services.enrollSecrets.list(null);
  return row.secret;
}

describeEachDialect(
  'Android enrollment tokens and the /enroll page',
  (server) => {
    let admin: string;
    let secret: string;
    let teamSecret: string;
    let enterpriseName: string;
    const srv = () => server();

    beforeAll(async () => {
      admin = await setupAdmin(srv());
      secret = await globalSecret(srv());
      const team = await createTeam(srv(), admin, 'Phones');
      teamSecret = `team-secret-${srv().dialect}`;
      await srv().app.services.enrollSecrets.replace(null, team, [teamSecret]);
      await srv().app.services.appConfig.patch({ org_info: { org_name: 'Acme <b>&"Co"</b>' } });
      enterpriseName = (await bindEnterprise(srv(), standIn, admin)).enterpriseName;
    });

    it('mints a one-time token on the default policy that carries the enroll secret', async () => {
      for (const s of [secret, teamSecret]) {
        const res = await api(srv(), 'GET', `${tokenPath}?enroll_secret=${encodeURIComponent(s)}`);
        expect(res.status).toBe(200);
        const value = res.body.android_enrollment_token as string;
        expect(res.body).toEqual({
          android_enrollment_token: value,
          android_enrollment_url: `https://enterprise.google.com/android/enroll?et=${value}`,
        });
        const token = standIn.enrollmentTokens.get(value)!;
        expect(token).toMatchObject({
          policyName: `${enterpriseName}/policies/1`,
          oneTimeOnly: true,
          allowPersonalUsage: 'PERSONAL_USAGE_ALLOWED',
        });
        expect(JSON.parse(token.additionalData!)).toEqual({ EnrollSecret: s, IdpUUID: '' });
        expect(tokenCalls().at(-1)!.body).toMatchObject({ duration: `${ttlSeconds}s` });
      }
      // The latest path too.
      const latest = await api(
        srv(),
        'GET',
        `/api/latest/fleet/android_enterprise/enrollment_token?enroll_secret=${encodeURIComponent(secret)}`,
      );
      expect(latest.status).toBe(200);
    });

    it('refuses an unknown (401) or missing (400) enroll secret without calling Google', async () => {
      const before = tokenCalls().length;
      const unknown = await api(srv(), 'GET', `${tokenPath}?enroll_secret=nope`);
      expect(unknown.status).toBe(401);
      expect(unknown.body).toMatchObject({
        message: 'Authentication Failed',
        errors: [{ name: 'base', reason: 'invalid secret' }],
      });
      for (const q of ['', '?enroll_secret=']) {
        const missing = await api(srv(), 'GET', `${tokenPath}${q}`);
        expect(missing.status).toBe(400);
        expect(missing.body).toMatchObject({
          message: 'Bad request',
          errors: [{ name: 'enroll_secret', reason: 'enroll_secret is required' }],
        });
      }
      expect(tokenCalls().length).toBe(before);
    });

    it('answers 502 when Google refuses the token', async () => {
      standIn.failNext('enrollmentTokens.create', 403, { message: 'The caller does not have permission' });
      const res = await api(srv(), 'GET', `${tokenPath}?enroll_secret=${encodeURIComponent(secret)}`);
      expect(res.status).toBe(502);
      expect(res.body).toMatchObject({
        message: 'Bad Gateway',
        errors: [{ name: 'base', reason: expect.stringContaining('The caller does not have permission') }],
      });
    });

    it('serves /enroll: the work-profile link and a QR code of Google provisioning payload, values escaped', async () => {
      const res = await fetch(`${srv().url}/enroll?enroll_secret=${encodeURIComponent(teamSecret)}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(res.headers.get('cache-control')).toBe('no-store');
      const html = await res.text();

      const value = /<code>([A-Z]+)<\/code>/.exec(html)![1];
      const token = standIn.enrollmentTokens.get(value)!;
      expect(JSON.parse(token.additionalData!)).toEqual({ EnrollSecret: teamSecret, IdpUUID: '' });
      expect(html).toContain(
        `id="enroll-link" href="https://enterprise.google.com/android/enroll?et=${value}"`,
      );
      // The QR code is Google's provisioning JSON, drawn here.
      const svg = await QRCode.toString(token.qrCode!, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      expect(html).toContain(`<div class="qr" id="qr-code">${svg}</div>`);
      // The organization's name is escaped, never markup.
      expect(html).toContain('Acme &lt;b&gt;&amp;&quot;Co&quot;&lt;/b&gt;');
      expect(html).not.toContain('<b>');
      expect(html).not.toContain(teamSecret);
    });

    it('answers /enroll with an error page for an unknown or missing secret, calling nobody', async () => {
      const before = tokenCalls().length;
      const unknown = await fetch(`${srv().url}/enroll?enroll_secret=%3Cscript%3Ex`);
      expect(unknown.status).toBe(401);
      const text = await unknown.text();
      expect(text).toContain('its enroll secret is unknown');
      expect(text).not.toContain('<script>x');
      const missing = await fetch(`${srv().url}/enroll`);
      expect(missing.status).toBe(400);
      expect(await missing.text()).toContain('missing its enroll secret');
      expect(tokenCalls().length).toBe(before);
    });

    it('never logs an enroll secret', async () => {
      for (const s of [secret, teamSecret]) {
        expect((await api(srv(), 'GET', `${tokenPath}?enroll_secret=${encodeURIComponent(s)}`)).status).toBe(
          200,
        );
        expect((await fetch(`${srv().url}/enroll?enroll_secret=${encodeURIComponent(s)}`)).status).toBe(200);
      }
      const logs = JSON.stringify(srv().logLines);
      expect(logs).toContain('"url":"/enroll"');
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(teamSecret);
    });
  },
  { logLevel: 'info', androidEnrollmentTokenTtlSeconds: ttlSeconds, ...androidTestConfig(standIn) },
);

describeEachDialect(
  'Android enrollment tokens before Android is on',
  (server) => {
    beforeAll(async () => {
      await setupAdmin(server());
    });
    // The per-address counters are shared by these tests: each starts with none.
    beforeEach(async () => {
      await sql`DELETE FROM rate_limits`.execute(server().app.services.database.db);
    });

    it('answers 409 (Android MDM is NOT configured) for the token and the page, calling nobody', async () => {
      const secret = await globalSecret(server());
      const before = standIn.requests.length;
      const res = await api(server(), 'GET', `${tokenPath}?enroll_secret=${encodeURIComponent(secret)}`);
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({
        message: 'Validation Failed',
        errors: [{ name: 'android', reason: 'Android MDM is NOT configured' }],
      });
      const page = await fetch(`${server().url}/enroll?enroll_secret=${encodeURIComponent(secret)}`);
      expect(page.status).toBe(409);
      expect(await page.text()).toContain('Android management is not turned on');
      expect(standIn.requests.length).toBe(before);
      expect(await server().app.services.assets.getOne(AssetName.androidPubsubToken)).toBeUndefined();
    });

    it('limits token requests per client address (429 with Retry-After)', async () => {
      const statuses: number[] = [];
      let last: Response | undefined;
      for (let i = 0; i < 4; i++) {
        last = await fetch(`${server().url}${tokenPath}?enroll_secret=whatever`);
        statuses.push(last.status);
      }
      expect(statuses.slice(0, 3).every((s) => s !== 429)).toBe(true);
      expect(statuses[3]).toBe(429);
      expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    });
  },
  { enrollRequestsPerAddress: 3, ...androidTestConfig(standIn) },
);

it('falls back to the link when Google gives no QR payload', async () => {
  const page = await enrollPage('Acme', {
    value: 'ABCDEF',
    url: 'https://enterprise.google.com/android/enroll?et=ABCDEF',
  });
  expect(page.status).toBe(200);
  expect(page.html).not.toContain('<svg');
  expect(page.html).toContain(
    'href="https://enterprise.google.com/android/enroll?et=ABCDEF">Enroll as a company device',
  );
});
