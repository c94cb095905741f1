import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeIdp, type FakeIdpFault } from '../../src/clients/saml/fakeIdp.js';
import { toDbTime } from '../../src/db/dialect.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import {
  configureIdp,
  followToIdp,
  idpAccounts,
  postToAcs,
  spEntityId,
  startLogin,
} from './endUserSsoHelpers.js';

let idp: FakeIdp;
beforeAll(async () => {
  idp = await new FakeIdp().start();
});
afterAll(async () => {
  await idp.close();
});

/** Log lines of the SSO component, and proof that no secret of a login reached any line. */
function ssoLines(srv: TestServer) {
  return (srv.logLines ?? []).filter((l) => l.component === 'end-user-sso');
}
function expectNoSecretsLogged(srv: TestServer, ...secrets: string[]) {
  const all = JSON.stringify(srv.logLines ?? []);
  for (const s of secrets.filter((x) => x.length >= 8)) expect(all).not.toContain(s.slice(0, 40));
}

/** Runs `body` with the fake IdP answering with `fault` and as `nameId`. */
async function withIdp<T>(
  opts: { fault?: FakeIdpFault; nameId?: string },
  body: () => Promise<T>,
): Promise<T> {
  const saved = { fault: idp.fault, user: idp.user };
  idp.fault = opts.fault;
  if (opts.nameId) idp.user = { nameId: opts.nameId, attributes: { displayname: `User ${opts.nameId}` } };
  try {
    return await body();
  } finally {
    idp.fault = saved.fault;
    idp.user = saved.user;
  }
}

describeEachDialect(
  'end-user authentication (SAML before ADE enrollment)',
  (server) => {
    let admin: string;
    beforeAll(async () => {
      admin = await setupAdmin(server());
      await configureIdp(server(), admin, idp);
    });

    it('signs the user in: /mdm/sso → IdP → ACS → enrollment reference, profile token, mdm_idp_accounts row', async () => {
      const srv = server();
      const team = await createTeam(srv, admin, 'Engineering');
      const patched = await api(srv, 'PATCH', `/api/latest/fleet/teams/${team}`, {
        token: admin,
        body: { mdm: { macos_setup: { enable_end_user_authentication: true } } },
      });
      expect(patched.status).toBe(200);
      // The team's ADE profile sends Setup Assistant to our SSO page.
      const { profile } = await srv.app.services.appleDep.profiles.build(team);
      expect(profile.configuration_web_url).toBe(`${srv.url}/mdm/sso`);

      // Setup Assistant opens /mdm/sso with its machine info in a header: Fleet keeps it as a query.
      const deviceInfo = Buffer.from('<plist>machine info</plist>').toString('base64');
      const opened = await fetch(`${srv.url}/mdm/sso`, {
        headers: { 'x-apple-aspen-deviceinfo': deviceInfo },
        redirect: 'manual',
      });
      expect(opened.status).toBe(307);
      expect(opened.headers.get('location')).toBe(`/mdm/sso?deviceinfo=${encodeURIComponent(deviceInfo)}`);
      const page = await fetch(`${srv.url}${opened.headers.get('location')}`, {
        headers: { 'x-apple-aspen-deviceinfo': deviceInfo },
      });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('content-security-policy')).toMatch(/script-src 'nonce-/);
      expect(await page.text()).toContain('/api/v1/fleet/mdm/sso');

      // The page asks for the IdP URL; the answer sets the session cookie.
      const login = await startLogin(srv);
      expect(login.setCookie).toMatch(
        /^__Host-FLEETSSOSESSIONID=[A-Za-z0-9_-]{40,}; Path=\/; Max-Age=300; HttpOnly; Secure; SameSite=None$/,
      );
      expect(login.idpUrl.startsWith(`${idp.ssoUrl}?SAMLRequest=`)).toBe(true);
      expect(login.request).toMatchObject({
        issuer: spEntityId,
        acsUrl: `${srv.url}/api/v1/fleet/mdm/sso/callback`,
        destination: idp.ssoUrl,
      });

      const answer = await withIdp({ nameId: 'jane.doe@example.com' }, () => followToIdp(login));
      expect(answer.acsUrl).toBe(`${srv.url}/api/v1/fleet/mdm/sso/callback`);
      const acs = await postToAcs(answer.acsUrl, {
        sessionId: login.sessionId,
        samlResponse: answer.samlResponse,
      });
      expect(acs.status).toBe(303);
      expect(acs.setCookie).toMatch(/^__Host-FLEETSSOSESSIONID=; Path=\/; Max-Age=0;/);
      const done = new URL(acs.location, srv.url);
      expect(done.pathname).toBe('/mdm/sso/callback');
      expect([...done.searchParams.keys()]).toEqual(['enrollment_reference', 'profile_token']);
      const reference = done.searchParams.get('enrollment_reference')!;
      expect(done.searchParams.get('profile_token')).toBe(
        await srv.app.services.appleDep.automaticEnrollmentToken(),
      );

      const account = (await idpAccounts(srv)).find((a) => a.email === 'jane.doe@example.com');
      expect(account).toMatchObject({
        uuid: reference,
        username: 'jane.doe',
        fullname: 'User jane.doe@example.com',
      });

      // The callback page sends the browser on to the enrollment profile.
      const finished = await fetch(`${srv.url}${acs.location}`);
      const html = await finished.text();
      expect(finished.status).toBe(200);
      const enroll = `/api/mdm/apple/enroll?token=${done.searchParams.get('profile_token')}&amp;enrollment_reference=${reference}`;
      expect(html).toContain(enroll);

      expect(ssoLines(srv).some((l) => l.msg === 'end-user SSO login accepted')).toBe(true);
      expectNoSecretsLogged(
        srv,
        login.sessionId,
        answer.samlResponse,
        done.searchParams.get('profile_token')!,
      );
    });

    it('keeps the account (and its enrollment reference) when the same user signs in again', async () => {
      const srv = server();
      const run = async () => {
        const login = await startLogin(srv);
        const answer = await withIdp({ nameId: 'again@example.com' }, () => followToIdp(login));
        const acs = await postToAcs(answer.acsUrl, {
          sessionId: login.sessionId,
          samlResponse: answer.samlResponse,
        });
        return new URL(acs.location, srv.url).searchParams.get('enrollment_reference');
      };
      const first = await run();
      expect(first).toBeTruthy();
      expect(await run()).toBe(first);
      expect((await idpAccounts(srv)).filter((a) => a.email === 'again@example.com')).toHaveLength(1);
    });

    it('works with the metadata XML stored in the settings instead of a URL', async () => {
      const srv = server();
      await configureIdp(srv, admin, idp, { inline: true });
      try {
        const login = await startLogin(srv);
        const answer = await withIdp({ nameId: 'inline@example.com' }, () => followToIdp(login));
        const acs = await postToAcs(answer.acsUrl, {
          sessionId: login.sessionId,
          samlResponse: answer.samlResponse,
        });
        expect(new URL(acs.location, srv.url).searchParams.get('enrollment_reference')).toMatch(
          /^[0-9a-f-]{36}$/,
        );
      } finally {
        await configureIdp(srv, admin, idp);
      }
    });

    const refusals: [FakeIdpFault, string][] = [
      ['badSignature', 'signature'],
      ['tampered', 'signature'],
      ['unsigned', 'signature'],
      ['wrongAudience', 'audience'],
      ['wrongRecipient', 'recipient'],
      ['expired', 'expired'],
      ['authnFailed', 'idp_status'],
    ];
    for (const [fault, reason] of refusals) {
      it(`refuses a response with ${fault}: error redirect, nothing stored, a clear log line`, async () => {
        const srv = server();
        const email = `refused-${fault.toLowerCase()}@example.com`;
        const before = await idpAccounts(srv);
        const login = await startLogin(srv);
        const answer = await withIdp({ fault, nameId: email }, () => followToIdp(login));
        const acs = await postToAcs(answer.acsUrl, {
          sessionId: login.sessionId,
          samlResponse: answer.samlResponse,
        });
        expect(acs.status).toBe(303);
        expect(acs.location).toBe('/mdm/sso/callback?error=true');
        expect(await idpAccounts(srv)).toEqual(before);
        expect(
          ssoLines(srv).some((l) => l.msg === 'end-user SSO callback refused' && l.sso_refusal === reason),
        ).toBe(true);
        expectNoSecretsLogged(srv, login.sessionId, answer.samlResponse);
      });
    }

    it('refuses a response to a request it did not send (unknown InResponseTo)', async () => {
      const srv = server();
      const before = await idpAccounts(srv);
      const login = await startLogin(srv);
      const answer = idp.respond(login.request, {
        inResponseTo: 'id0000000000unknown',
        user: { nameId: 'x@example.com' },
      });
      const acs = await postToAcs(answer.acsUrl, {
        sessionId: login.sessionId,
        samlResponse: answer.samlResponse,
      });
      expect(acs.location).toBe('/mdm/sso/callback?error=true');
      expect(await idpAccounts(srv)).toEqual(before);
      expect(ssoLines(srv).some((l) => l.sso_refusal === 'in_response_to')).toBe(true);
    });

    it('refuses a response answering another session than the cookie names', async () => {
      const srv = server();
      const before = await idpAccounts(srv);
      const mine = await startLogin(srv);
      const theirs = await startLogin(srv);
      // An attacker's valid answer (for their own login) posted with the victim's cookie.
      const answer = idp.respond(theirs.request, { user: { nameId: 'mallory@example.com' } });
      const acs = await postToAcs(answer.acsUrl, {
        sessionId: mine.sessionId,
        samlResponse: answer.samlResponse,
      });
      expect(acs.location).toBe('/mdm/sso/callback?error=true');
      expect(await idpAccounts(srv)).toEqual(before);
    });

    it('refuses a replayed response and a replayed assertion', async () => {
      const srv = server();
      const login = await startLogin(srv);
      const answer = await withIdp({ nameId: 'replay@example.com' }, () => followToIdp(login));
      const first = await postToAcs(answer.acsUrl, {
        sessionId: login.sessionId,
        samlResponse: answer.samlResponse,
      });
      expect(first.location).toMatch(/enrollment_reference=/);
      const after = await idpAccounts(srv);

      // The same post again: the session was used up.
      const again = await postToAcs(answer.acsUrl, {
        sessionId: login.sessionId,
        samlResponse: answer.samlResponse,
      });
      expect(again.location).toBe('/mdm/sso/callback?error=true&reason=session_expired');

      // A fresh login answered with the already used assertion ID.
      const second = await startLogin(srv);
      const replayed = await withIdp({ fault: 'replay', nameId: 'replay@example.com' }, () =>
        followToIdp(second),
      );
      const refused = await postToAcs(replayed.acsUrl, {
        sessionId: second.sessionId,
        samlResponse: replayed.samlResponse,
      });
      expect(refused.location).toBe('/mdm/sso/callback?error=true');
      expect(ssoLines(srv).some((l) => l.sso_refusal === 'replay')).toBe(true);
      expect(await idpAccounts(srv)).toEqual(after);
    });

    it('answers session_expired for an expired session (expiry driven in the database)', async () => {
      const srv = server();
      const before = await idpAccounts(srv);
      const login = await startLogin(srv);
      const answer = await withIdp({ nameId: 'late@example.com' }, () => followToIdp(login));
      await srv.app.services.database.db
        .updateTable('mdm_sso_sessions')
        .set({ expires_at: toDbTime(new Date(Date.now() - 1000)) })
        .execute();
      const acs = await postToAcs(answer.acsUrl, {
        sessionId: login.sessionId,
        samlResponse: answer.samlResponse,
      });
      expect(acs.location).toBe('/mdm/sso/callback?error=true&reason=session_expired');
      expect(await idpAccounts(srv)).toEqual(before);
      expect(ssoLines(srv).some((l) => l.sso_refusal === 'session_expired')).toBe(true);
    });

    it('answers session_expired without a session cookie or with an unknown one', async () => {
      const srv = server();
      const login = await startLogin(srv);
      const answer = await withIdp({ nameId: 'nocookie@example.com' }, () => followToIdp(login));
      const acsUrl = `${srv.url}/api/v1/fleet/mdm/sso/callback`;
      expect((await postToAcs(acsUrl, { samlResponse: answer.samlResponse })).location).toBe(
        '/mdm/sso/callback?error=true&reason=session_expired',
      );
      expect(
        (await postToAcs(acsUrl, { sessionId: 'made-up', samlResponse: answer.samlResponse })).location,
      ).toBe('/mdm/sso/callback?error=true&reason=session_expired');
      // The real session was not used by those: it still completes.
      const ok = await postToAcs(acsUrl, { sessionId: login.sessionId, samlResponse: answer.samlResponse });
      expect(ok.location).toMatch(/enrollment_reference=/);
    });

    it('redirects with error=true for garbage bodies and stores nothing', async () => {
      const srv = server();
      const acsUrl = `${srv.url}/api/latest/fleet/mdm/sso/callback`;
      const before = await idpAccounts(srv);
      const cases = [
        { samlResponse: '' },
        { samlResponse: 'not base64 !!!' },
        { samlResponse: Buffer.from('<samlp:Response/>').toString('base64') },
        { rawBody: '{"SAMLResponse":"x"}', contentType: 'application/json' },
        { rawBody: '\u0000\u0001garbage', contentType: 'application/octet-stream' },
      ];
      for (const c of cases) {
        const login = await startLogin(srv);
        const res = await postToAcs(acsUrl, { sessionId: login.sessionId, ...c });
        expect(res.status).toBe(303);
        expect(res.location).toBe('/mdm/sso/callback?error=true');
      }
      expect(await idpAccounts(srv)).toEqual(before);
    });

    it('shows the error page for failed logins', async () => {
      const srv = server();
      const expired = await fetch(`${srv.url}/mdm/sso/callback?error=true&reason=session_expired`);
      expect(await expired.text()).toContain('session expired');
      const failed = await fetch(`${srv.url}/mdm/sso/callback?error=true`);
      const html = await failed.text();
      expect(html).toContain('Something went wrong');
      expect(html).toContain('href="/mdm/sso"');
      const injected = await fetch(
        `${srv.url}/mdm/sso/callback?profile_token=%3Cscript%3E&enrollment_reference=x`,
      );
      expect(await injected.text()).not.toContain('<script>');
    });

    it('refuses to start when no IdP is configured, and the ACS sends the browser to the error page', async () => {
      const srv = server();
      const { appConfig } = srv.app.services;
      const saved = (await appConfig.get()).mdm.end_user_authentication;
      await appConfig.patch({
        mdm: {
          end_user_authentication: {
            entity_id: '',
            idp_name: '',
            metadata: '',
            metadata_url: '',
            issuer_uri: '',
          },
        },
      });
      try {
        const res = await api(srv, 'POST', '/api/v1/fleet/mdm/sso', { body: {} });
        expect(res.status).toBe(400);
        expect(res.body.errors[0].reason).toBe('organization not configured to use sso');
        const acs = await postToAcs(`${srv.url}/api/v1/fleet/mdm/sso/callback`, {
          sessionId: 'x',
          samlResponse: 'eA==',
        });
        expect(acs.location).toBe('/mdm/sso/callback?error=true');
      } finally {
        await appConfig.patch({ mdm: { end_user_authentication: saved } });
      }
    });

    it('answers 400 when the IdP metadata cannot be had', async () => {
      const srv = server();
      const dead = createServer();
      await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
      const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/metadata`;
      await new Promise<void>((r) => dead.close(() => r()));
      const { appConfig } = srv.app.services;
      const saved = (await appConfig.get()).mdm.end_user_authentication;
      try {
        await appConfig.patch({ mdm: { end_user_authentication: { metadata_url: deadUrl } } });
        const res = await api(srv, 'POST', '/api/v1/fleet/mdm/sso', { body: {} });
        expect(res.status).toBe(400);
        expect(res.body.errors[0].reason).toBe('failed to get and parse IdP metadata');
        await appConfig.patch({ mdm: { end_user_authentication: { metadata_url: '', metadata: '<x/>' } } });
        expect((await api(srv, 'POST', '/api/v1/fleet/mdm/sso', { body: {} })).status).toBe(400);
      } finally {
        await appConfig.patch({ mdm: { end_user_authentication: saved } });
      }
    });

    it('refuses initiators of enrollment flows it does not have, and bad bodies', async () => {
      const srv = server();
      const res = await api(srv, 'POST', '/api/latest/fleet/mdm/sso', {
        body: { initiator: 'account_driven_enroll' },
      });
      expect(res.status).toBe(400);
      expect(res.body.errors[0]).toEqual({ name: 'initiator', reason: 'unsupported initiator' });
      const bad = await api(srv, 'POST', '/api/latest/fleet/mdm/sso', { body: { host_uuid: 7 } });
      expect(bad.status).toBe(400);
      const json = await api(srv, 'POST', '/api/latest/fleet/mdm/sso', {
        rawBody: '{nope',
        headers: { 'content-type': 'application/json' },
      });
      expect(json.status).toBe(400);
    });

    it('starts a login from a plain form post with a 303 to the IdP', async () => {
      const srv = server();
      const res = await fetch(`${srv.url}/api/v1/fleet/mdm/sso`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: '',
        redirect: 'manual',
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')!.startsWith(`${idp.ssoUrl}?SAMLRequest=`)).toBe(true);
      expect(res.headers.get('set-cookie')).toMatch(/^__Host-FLEETSSOSESSIONID=/);
    });

    it('validates the IdP settings on PATCH /config with Fleet’s messages', async () => {
      const srv = server();
      const { appConfig } = srv.app.services;
      const saved = (await appConfig.get()).mdm.end_user_authentication;
      const patch = (eua: Record<string, string>) =>
        api(srv, 'PATCH', '/api/latest/fleet/config', {
          token: admin,
          body: { mdm: { end_user_authentication: eua } },
        });
      await appConfig.patch({
        mdm: {
          end_user_authentication: {
            entity_id: '',
            idp_name: '',
            metadata: '',
            metadata_url: '',
            issuer_uri: '',
          },
        },
      });
      try {
        const short = await patch({ entity_id: 'abc' });
        expect(short.status).toBe(422);
        expect(short.body.errors).toEqual(
          expect.arrayContaining([
            { name: 'metadata', reason: 'either metadata or metadata_url must be defined' },
            { name: 'entity_id', reason: 'must be 5 or more characters' },
            { name: 'idp_name', reason: 'required' },
          ]),
        );
        const both = await patch({
          entity_id: spEntityId,
          idp_name: 'x',
          metadata: '<x/>',
          metadata_url: idp.metadataUrl,
        });
        expect(both.body.errors).toContainEqual({
          name: 'metadata',
          reason: 'both metadata and metadata_url are defined, only one is allowed',
        });
        const scheme = await patch({
          entity_id: spEntityId,
          idp_name: 'x',
          metadata_url: 'ftp://idp.example.com/m',
        });
        expect(scheme.body.errors).toContainEqual({
          name: 'metadata_url',
          reason: 'must be either https or http',
        });
        const ok = await patch({ entity_id: spEntityId, idp_name: 'x', metadata_url: idp.metadataUrl });
        expect(ok.status).toBe(200);
        expect(ok.body.mdm.end_user_authentication).toMatchObject({
          entity_id: spEntityId,
          metadata_url: idp.metadataUrl,
        });
      } finally {
        await appConfig.patch({ mdm: { end_user_authentication: saved } });
      }
    });
  },
  { logLevel: 'info', mdmSsoRequestsPerAddress: 10_000 },
);

describeEachDialect(
  'end-user authentication rate limit',
  (server) => {
    it('answers 429 past the per-address limit on POST /mdm/sso and the ACS', async () => {
      const srv = server();
      const admin = await setupAdmin(srv);
      await configureIdp(srv, admin, idp);
      // A fixed clock: the requests cannot straddle two windows.
      const fixed = Date.UTC(2030, 0, 1, 12, 30);
      srv.app.services.rateLimits.now = () => fixed;
      expect((await api(srv, 'POST', '/api/v1/fleet/mdm/sso', { body: {} })).status).toBe(200);
      expect(
        (await postToAcs(`${srv.url}/api/v1/fleet/mdm/sso/callback`, { samlResponse: 'eA==' })).status,
      ).toBe(303);
      const limited = await api(srv, 'POST', '/api/v1/fleet/mdm/sso', { body: {} });
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(
        (await postToAcs(`${srv.url}/api/v1/fleet/mdm/sso/callback`, { samlResponse: 'eA==' })).status,
      ).toBe(429);
    });
  },
  { mdmSsoRequestsPerAddress: 2, mdmSsoAddressWindowSeconds: 3600 },
);

describeEachDialect('end-user authentication without an identity provider', (server) => {
  it('refuses turning it on for a team (422, team unchanged) while no IdP is configured', async () => {
    const srv = server();
    const admin = await setupAdmin(srv);
    const teamId = await createTeam(srv, admin, `SSO ${Math.random().toString(36).slice(2)}`);
    const before = await srv.app.services.teams.require(teamId);
    const res = await api(srv, 'PATCH', `/api/v1/fleet/teams/${teamId}`, {
      token: admin,
      body: { mdm: { macos_setup: { enable_end_user_authentication: true } } },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].name).toBe('macos_setup.enable_end_user_authentication');
    expect(await srv.app.services.teams.require(teamId)).toEqual(before);
  });
});
