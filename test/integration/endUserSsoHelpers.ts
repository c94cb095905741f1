import {
  FakeIdp,
  parseAuthnRequest,
  type IdpAnswer,
  type ReceivedAuthnRequest,
} from '../../src/clients/saml/fakeIdp.js';
import { api } from '../helpers/api.js';
import type { TestServer } from '../helpers/testServer.js';

export const spEntityId = 'https://flotilla.example.com/mdm-sso';

/** Points the server at the fake IdP (by metadata URL unless `inline`), with its own URL as server URL. */
export async function configureIdp(
  srv: TestServer,
  token: string,
  idp: FakeIdp,
  opts: { inline?: boolean } = {},
) {
  const res = await api(srv, 'PATCH', '/api/latest/fleet/config', {
    token,
    body: {
      server_settings: { server_url: srv.url },
      mdm: {
        end_user_authentication: {
          entity_id: spEntityId,
          idp_name: 'Fake IdP',
          metadata: opts.inline ? idp.metadataXml() : '',
          metadata_url: opts.inline ? '' : idp.metadataUrl,
        },
      },
    },
  });
  if (res.status !== 200) throw new Error(`configuring the IdP failed: ${res.status} ${res.text}`);
}

/** A login started with `POST /api/v1/fleet/mdm/sso`: the IdP URL and the session cookie. */
export interface StartedLogin {
  idpUrl: string;
  sessionId: string;
  setCookie: string;
  request: ReceivedAuthnRequest;
}

export async function startLogin(srv: TestServer): Promise<StartedLogin> {
  const res = await api(srv, 'POST', '/api/v1/fleet/mdm/sso', { body: {} });
  if (res.status !== 200) throw new Error(`POST /mdm/sso failed: ${res.status} ${res.text}`);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const sessionId = /__Host-FLEETSSOSESSIONID=([^;]*)/.exec(setCookie)?.[1] ?? '';
  const url = new URL(res.body.url as string);
  const request = parseAuthnRequest(url.searchParams.get('SAMLRequest')!, 'redirect');
  return { idpUrl: res.body.url as string, sessionId, setCookie, request };
}

/** Follows the IdP URL as a browser would and reads the form the IdP's page posts to the ACS. */
export async function followToIdp(login: StartedLogin): Promise<IdpAnswer> {
  const res = await fetch(login.idpUrl);
  const html = await res.text();
  if (res.status !== 200) throw new Error(`IdP answered ${res.status}: ${html}`);
  const unescape = (s: string) =>
    s
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  return {
    acsUrl: unescape(/action="([^"]+)"/.exec(html)![1]),
    samlResponse: unescape(/name="SAMLResponse" value="([^"]+)"/.exec(html)![1]),
    assertionId: '',
  };
}

/** Posts to the ACS as the browser would (form body, session cookie); returns status and Location. */
export async function postToAcs(
  url: string,
  opts: { sessionId?: string; samlResponse?: string; rawBody?: string; contentType?: string },
) {
  const headers: Record<string, string> = {
    'content-type': opts.contentType ?? 'application/x-www-form-urlencoded',
  };
  if (opts.sessionId !== undefined) headers.cookie = `__Host-FLEETSSOSESSIONID=${opts.sessionId}`;
  const body =
    opts.rawBody ??
    (opts.samlResponse !== undefined
      ? new URLSearchParams({ SAMLResponse: opts.samlResponse }).toString()
      : '');
  const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual' });
  await res.text();
  return {
    status: res.status,
    location: res.headers.get('location') ?? '',
    setCookie: res.headers.get('set-cookie') ?? '',
  };
}

export async function idpAccounts(srv: TestServer) {
  return srv.app.services.database.db
    .selectFrom('mdm_idp_accounts')
    .select(['uuid', 'username', 'fullname', 'email', 'updated_at'])
    .orderBy('email')
    .execute();
}
