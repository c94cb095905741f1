import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeIdp, parseAuthnRequest, type FakeIdpFault } from '../../src/clients/saml/fakeIdp.js';
import { IdpMetadataError, IdpMetadataFetcher, parseIdpMetadata } from '../../src/sso/metadata.js';
import {
  authnRequestUrl,
  SamlRefusal,
  validateSamlResponse,
  type RefusalReason,
} from '../../src/sso/saml.js';

const sp = {
  entityId: 'https://mdm.example.com/sp',
  acsUrl: 'https://mdm.example.com/api/v1/fleet/mdm/sso/callback',
};

let idp: FakeIdp;
beforeAll(async () => {
  idp = await new FakeIdp().start();
});
afterAll(async () => {
  await idp.close();
});

/** Starts a login the way the server does and has the fake IdP read the AuthnRequest. */
async function login(requestId = `id${Math.random().toString(16).slice(2)}`) {
  const meta = parseIdpMetadata(idp.metadataXml());
  const url = new URL(await authnRequestUrl(sp, meta, requestId));
  const request = parseAuthnRequest(url.searchParams.get('SAMLRequest')!, 'redirect');
  return { meta, url, request, requestId };
}

function validate(samlResponse: string, requestId: string, meta = parseIdpMetadata(idp.metadataXml())) {
  return validateSamlResponse(samlResponse, {
    sp,
    idp: meta,
    audiences: [sp.entityId, sp.acsUrl],
    requestId,
    requestCreatedAt: new Date(),
    requestValidityMs: 300_000,
  });
}

async function refusal(p: Promise<unknown>): Promise<RefusalReason> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SamlRefusal) return err.reason;
    throw err;
  }
  throw new Error('the response was accepted');
}

describe('fake IdP metadata', () => {
  it('names its entity, its HTTP-Redirect SSO URL and its signing certificate', () => {
    const meta = parseIdpMetadata(idp.metadataXml());
    expect(meta.entityId).toBe(idp.entityId);
    expect(meta.ssoRedirectUrl).toBe(idp.ssoUrl);
    expect(meta.certificates).toHaveLength(1);
    expect(new X509Certificate(meta.certificates[0]).fingerprint256).toBe(
      new X509Certificate(idp.certPem).fingerprint256,
    );
  });

  it('is served over HTTP and fetched with the metadata fetcher', async () => {
    const xml = await new IdpMetadataFetcher().fetch(idp.metadataUrl);
    expect(parseIdpMetadata(xml).entityId).toBe(idp.entityId);
  });

  it('has no redirect SSO URL when the IdP takes the POST binding only', async () => {
    const postOnly = await new FakeIdp({ postBindingOnly: true }).start();
    try {
      expect(parseIdpMetadata(postOnly.metadataXml()).ssoRedirectUrl).toBeUndefined();
    } finally {
      await postOnly.close();
    }
  });

  it('refuses metadata that is not IdP metadata', async () => {
    expect(() => parseIdpMetadata('<x/>')).toThrow(IdpMetadataError);
    expect(() => parseIdpMetadata('not xml <')).toThrow(IdpMetadataError);
    expect(() => parseIdpMetadata('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')).toThrow(IdpMetadataError);
    const noCert = idp.metadataXml().replace(/<md:KeyDescriptor[\s\S]*<\/md:KeyDescriptor>/, '');
    expect(() => parseIdpMetadata(noCert)).toThrow(/no signing certificate/);
    await expect(new IdpMetadataFetcher().fetch(`${idp.url}/nothing`)).rejects.toThrow(/answered 404/);
    await expect(new IdpMetadataFetcher().fetch('ftp://example.com/m')).rejects.toThrow(IdpMetadataError);
  });
});

describe('AuthnRequest', () => {
  it('goes to the IdP with our entity id, ACS URL and request ID', async () => {
    const { url, request, requestId } = await login('id0123456789abcdef');
    expect(`${url.origin}${url.pathname}`).toBe(idp.ssoUrl);
    expect(url.searchParams.get('RelayState')).toBeNull();
    expect(request).toMatchObject({
      id: requestId,
      issuer: sp.entityId,
      acsUrl: sp.acsUrl,
      destination: idp.ssoUrl,
      binding: 'redirect',
    });
  });
});

describe('SAML responses from the fake IdP', () => {
  for (const sign of ['assertion', 'response', 'both'] as const) {
    it(`are accepted when the ${sign === 'both' ? 'response and the assertion are' : `${sign} is`} signed`, async () => {
      idp.sign = sign;
      try {
        const { request, requestId } = await login();
        const answer = idp.respond(request);
        const verified = await validate(answer.samlResponse, requestId);
        expect(verified).toMatchObject({
          assertionId: answer.assertionId,
          nameId: 'jane.doe@example.com',
          fullName: 'Jane Doe',
        });
        expect(verified.notOnOrAfter!.getTime()).toBeGreaterThan(Date.now());
      } finally {
        idp.sign = 'assertion';
      }
    });
  }

  it('take the full name from given name and surname when there is no display name', async () => {
    const { request, requestId } = await login();
    const answer = idp.respond(request, {
      user: { nameId: 'sam@example.com', attributes: { givenName: 'Sam', sn: 'Smith' } },
    });
    expect((await validate(answer.samlResponse, requestId)).fullName).toBe('Sam Smith');
  });

  const faults: [FakeIdpFault, RefusalReason][] = [
    ['badSignature', 'signature'],
    ['tampered', 'signature'],
    ['unsigned', 'signature'],
    ['wrongAudience', 'audience'],
    ['wrongRecipient', 'recipient'],
    ['wrongDestination', 'destination'],
    ['wrongIssuer', 'issuer'],
    ['expired', 'expired'],
    ['notYetValid', 'not_yet_valid'],
    ['authnFailed', 'idp_status'],
  ];
  for (const [fault, reason] of faults) {
    it(`are refused for ${fault} (${reason})`, async () => {
      const { request, requestId } = await login();
      const answer = idp.respond(request, { fault });
      expect(await refusal(validate(answer.samlResponse, requestId))).toBe(reason);
    });
  }

  it('are refused when they answer another request', async () => {
    const { request, requestId } = await login();
    const answer = idp.respond(request, { inResponseTo: 'id-someone-else' });
    expect(await refusal(validate(answer.samlResponse, requestId))).toBe('in_response_to');
  });

  it('are refused when the assertion is moved into a response for another request', async () => {
    const first = await login();
    const second = await login();
    const good = Buffer.from(idp.respond(first.request).samlResponse, 'base64').toString('utf8');
    // The signed assertion still says InResponseTo=first; the (unsigned) response now claims second.
    const moved = good.replace(/(<samlp:Response[^>]*InResponseTo=")[^"]+/, `$1${second.requestId}`);
    expect(await refusal(validate(Buffer.from(moved).toString('base64'), second.requestId))).toBe(
      'in_response_to',
    );
  });

  it('are refused when signed by another IdP than the one configured', async () => {
    const other = await new FakeIdp().start();
    try {
      const { request, requestId } = await login();
      const answer = other.respond(request);
      expect(await refusal(validate(answer.samlResponse, requestId))).toBe('signature');
    } finally {
      await other.close();
    }
  });

  it('reuse the previous assertion ID with the replay knob', async () => {
    const a = await login();
    const first = idp.respond(a.request);
    const b = await login();
    const replayed = idp.respond(b.request, { fault: 'replay' });
    expect(replayed.assertionId).toBe(first.assertionId);
    // On its own it is a valid response: refusing it is the server's job (it remembers used IDs).
    expect((await validate(replayed.samlResponse, b.requestId)).assertionId).toBe(first.assertionId);
  });

  it('refuse garbage', async () => {
    expect(await refusal(validate('%%%not base64%%%', 'id1'))).toBe('malformed');
    expect(await refusal(validate(Buffer.from('hello').toString('base64'), 'id1'))).toBe('malformed');
    expect(await refusal(validate(Buffer.from('<a><b/></a>').toString('base64'), 'id1'))).not.toBe(undefined);
  });
});

describe('fake IdP over HTTP', () => {
  it('answers a redirect-binding AuthnRequest with a form that posts to the ACS', async () => {
    const { url, requestId } = await login();
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const html = await res.text();
    const action = /action="([^"]+)"/.exec(html)![1];
    const samlResponse = /name="SAMLResponse" value="([^"]+)"/.exec(html)![1];
    expect(action).toBe(sp.acsUrl);
    expect((await validate(samlResponse, requestId)).nameId).toBe('jane.doe@example.com');
    expect(idp.requests.at(-1)?.id).toBe(requestId);
  });
});
