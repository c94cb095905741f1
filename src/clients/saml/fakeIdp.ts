import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import { XMLParser } from 'fast-xml-parser';
import { SignedXml } from 'xml-crypto';
import { createCertificateAuthority } from '../../crypto/certificateAuthority.js';

/*
 * A SAML 2.0 identity provider on loopback, standing in for Okta, Entra ID or Google in tests and
 * local runs. It serves its metadata (a signing certificate made at start), takes an AuthnRequest
 * by the HTTP-Redirect binding (GET, deflated) or the HTTP-POST binding, and answers with a
 * SAMLResponse for the configured user, signed with xml-crypto, in an HTML form that posts itself
 * to the SP's ACS, as a real IdP's page does. Knobs make it answer wrongly on purpose.
 */

const ns = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
};
const bindings = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
};
const algorithms = {
  rsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  excC14n: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  enveloped: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
};

/** Ways to answer wrongly. */
export type FakeIdpFault =
  /** Signed with a key that is not the one in the metadata. */
  | 'badSignature'
  /** Signed, then the NameID changed (the digest no longer matches). */
  | 'tampered'
  /** No signature at all. */
  | 'unsigned'
  /** Audience that is not the SP's entity id. */
  | 'wrongAudience'
  /** SubjectConfirmationData Recipient that is not the ACS URL. */
  | 'wrongRecipient'
  /** Response Destination that is not the ACS URL. */
  | 'wrongDestination'
  /** Assertion Issuer that is not this IdP. */
  | 'wrongIssuer'
  /** Conditions and subject confirmation that ended 10 minutes ago. */
  | 'expired'
  /** Conditions that start in an hour. */
  | 'notYetValid'
  /** The ID of the previous assertion this IdP issued, in a fresh response (a replay). */
  | 'replay'
  /** A non-success status (AuthnFailed), no assertion. */
  | 'authnFailed';

export interface FakeIdpUser {
  /** The NameID (an e-mail, as Fleet expects). */
  nameId: string;
  /** Attributes sent in the AttributeStatement. */
  attributes?: Record<string, string | string[]>;
}

export interface FakeIdpOptions {
  /** The IdP's entityID (default: its metadata URL). */
  entityId?: string;
  /** Who signs in (default: `jane.doe@example.com`, "Jane Doe"). */
  user?: FakeIdpUser;
  /** What is signed: the assertion (default, like Okta), the whole response, or both. */
  sign?: 'assertion' | 'response' | 'both';
  /** Advertise only the HTTP-POST SSO binding in the metadata (no HTTP-Redirect). */
  postBindingOnly?: boolean;
  /** The URLs its metadata names while it is not started (a stand-in that serves nothing). */
  baseUrl?: string;
}

/** An AuthnRequest as the IdP read it. */
export interface ReceivedAuthnRequest {
  id: string;
  issuer: string;
  acsUrl: string;
  destination: string;
  binding: 'redirect' | 'post';
  relayState?: string;
}

/** What the IdP answers: where the form posts, and its fields. */
export interface IdpAnswer {
  acsUrl: string;
  samlResponse: string;
  relayState?: string;
  /** The assertion's ID ('' when there is none). */
  assertionId: string;
}

export interface ResponseOverrides {
  fault?: FakeIdpFault;
  /** Answer as if to this request ID (default: the request's). */
  inResponseTo?: string;
  /** Send the answer to this ACS URL (default: the request's). */
  acsUrl?: string;
  /** Audience (default: the request's Issuer, the SP entity id). */
  audience?: string;
  user?: FakeIdpUser;
}

const xmlEscape = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

const samlId = () => `_${randomBytes(20).toString('hex')}`;
const instant = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const certBody = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

const requestParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
});

/** Reads an AuthnRequest: base64 XML, deflated when it came by the Redirect binding. */
export function parseAuthnRequest(
  samlRequest: string,
  binding: 'redirect' | 'post',
  relayState?: string,
): ReceivedAuthnRequest {
  const raw = Buffer.from(samlRequest, 'base64');
  const xml = (binding === 'redirect' ? inflateRawSync(raw) : raw).toString('utf8');
  const doc = requestParser.parse(xml) as Record<string, any>;
  const req = doc.AuthnRequest;
  if (!req || typeof req !== 'object') throw new Error('not an AuthnRequest');
  const issuer = typeof req.Issuer === 'string' ? req.Issuer : (req.Issuer?.['#text'] ?? '');
  return {
    id: String(req['@_ID'] ?? ''),
    issuer: String(issuer),
    acsUrl: String(req['@_AssertionConsumerServiceURL'] ?? ''),
    destination: String(req['@_Destination'] ?? ''),
    binding,
    relayState,
  };
}

export class FakeIdp {
  readonly certPem: string;
  private readonly keyPem: string;
  /** A key the metadata does not name, for `badSignature`. */
  private readonly otherKeyPem: string;
  private server?: Server;
  private base = '';
  private entity = '';
  private lastAssertionId = '';
  /** Who signs in next. */
  user: FakeIdpUser;
  /** The fault of every answer until changed (undefined: answer correctly). */
  fault: FakeIdpFault | undefined;
  sign: 'assertion' | 'response' | 'both';
  /** Every AuthnRequest received, oldest first. */
  readonly requests: ReceivedAuthnRequest[] = [];

  constructor(private readonly opts: FakeIdpOptions = {}) {
    const signing = createCertificateAuthority('Flotilla fake IdP', { organization: 'Fake IdP' });
    this.certPem = signing.certPem;
    this.keyPem = signing.keyPem;
    this.otherKeyPem = createCertificateAuthority('Not the IdP').keyPem;
    this.user = opts.user ?? {
      nameId: 'jane.doe@example.com',
      attributes: { displayname: 'Jane Doe', email: 'jane.doe@example.com' },
    };
    this.sign = opts.sign ?? 'assertion';
    this.base = opts.baseUrl?.replace(/\/+$/, '') ?? '';
    this.entity = opts.entityId ?? (this.base ? this.metadataUrl : '');
  }

  /** Starts the HTTP server on 127.0.0.1 (a free port unless given). */
  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`fake IdP: ${err.message}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.entity = this.opts.entityId ?? this.metadataUrl;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  get url(): string {
    return this.base;
  }
  get metadataUrl(): string {
    return `${this.base}/metadata`;
  }
  get ssoUrl(): string {
    return `${this.base}/sso`;
  }
  get entityId(): string {
    return this.entity;
  }

  /** The IdP's metadata: entityID, signing certificate, SSO service (Redirect and POST bindings). */
  metadataXml(): string {
    const sso = [this.opts.postBindingOnly ? undefined : bindings.redirect, bindings.post].filter(
      (b): b is string => b !== undefined,
    );
    return (
      `<?xml version="1.0" encoding="UTF-8"?>` +
      `<md:EntityDescriptor xmlns:md="${ns.metadata}" entityID="${xmlEscape(this.entityId)}">` +
      `<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="${ns.protocol}">` +
      `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="${ns.dsig}"><ds:X509Data>` +
      `<ds:X509Certificate>${certBody(this.certPem)}</ds:X509Certificate>` +
      `</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
      `<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>` +
      sso
        .map((b) => `<md:SingleSignOnService Binding="${b}" Location="${xmlEscape(this.ssoUrl)}"/>`)
        .join('') +
      `</md:IDPSSODescriptor></md:EntityDescriptor>`
    );
  }

  /** Builds the SAMLResponse answering `request` for the current user (and fault). */
  respond(request: ReceivedAuthnRequest, overrides: ResponseOverrides = {}): IdpAnswer {
    const fault = overrides.fault ?? this.fault;
    const user = overrides.user ?? this.user;
    const acsUrl = overrides.acsUrl ?? request.acsUrl;
    const inResponseTo = overrides.inResponseTo ?? request.id;
    const now = Date.now();
    const [notBefore, notOnOrAfter, issued] =
      fault === 'expired'
        ? [now - 20 * 60_000, now - 10 * 60_000, now - 20 * 60_000]
        : fault === 'notYetValid'
          ? [now + 60 * 60_000, now + 65 * 60_000, now]
          : [now - 60_000, now + 5 * 60_000, now];
    const audience =
      fault === 'wrongAudience' ? 'https://not-this-sp.example.com' : (overrides.audience ?? request.issuer);
    const recipient = fault === 'wrongRecipient' ? 'https://not-this-sp.example.com/acs' : acsUrl;
    const destination = fault === 'wrongDestination' ? 'https://not-this-sp.example.com/acs' : acsUrl;
    const assertionIssuer = fault === 'wrongIssuer' ? 'https://another-idp.example.com' : this.entityId;
    const assertionId = fault === 'replay' && this.lastAssertionId ? this.lastAssertionId : samlId();
    const responseId = samlId();

    const status = (code: string) =>
      `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:${code}"/></samlp:Status>`;
    const open =
      `<samlp:Response xmlns:samlp="${ns.protocol}" xmlns:saml="${ns.assertion}" ID="${responseId}" ` +
      `Version="2.0" IssueInstant="${instant(issued)}" Destination="${xmlEscape(destination)}" ` +
      `InResponseTo="${xmlEscape(inResponseTo)}">` +
      `<saml:Issuer>${xmlEscape(this.entityId)}</saml:Issuer>`;
    if (fault === 'authnFailed') {
      const xml = `${open}${status('Responder')}</samlp:Response>`.replace(
        '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"/>',
        '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder">' +
          '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode>',
      );
      return {
        acsUrl,
        samlResponse: Buffer.from(xml).toString('base64'),
        relayState: request.relayState,
        assertionId: '',
      };
    }

    const attributes = Object.entries(user.attributes ?? {})
      .map(([name, value]) => {
        const values = (Array.isArray(value) ? value : [value])
          .map((v) => `<saml:AttributeValue>${xmlEscape(v)}</saml:AttributeValue>`)
          .join('');
        return `<saml:Attribute Name="${xmlEscape(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values}</saml:Attribute>`;
      })
      .join('');
    const assertion =
      `<saml:Assertion xmlns:saml="${ns.assertion}" ID="${assertionId}" Version="2.0" IssueInstant="${instant(issued)}">` +
      `<saml:Issuer>${xmlEscape(assertionIssuer)}</saml:Issuer>` +
      `<saml:Subject>` +
      `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${xmlEscape(user.nameId)}</saml:NameID>` +
      `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
      `<saml:SubjectConfirmationData InResponseTo="${xmlEscape(inResponseTo)}" ` +
      `NotOnOrAfter="${instant(notOnOrAfter)}" Recipient="${xmlEscape(recipient)}"/>` +
      `</saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions NotBefore="${instant(notBefore)}" NotOnOrAfter="${instant(notOnOrAfter)}">` +
      `<saml:AudienceRestriction><saml:Audience>${xmlEscape(audience)}</saml:Audience></saml:AudienceRestriction>` +
      `</saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${instant(issued)}" SessionIndex="${samlId()}">` +
      `<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>` +
      `</saml:AuthnStatement>` +
      (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
      `</saml:Assertion>`;
    let xml = `${open}${status('Success')}${assertion}</samlp:Response>`;

    if (fault !== 'unsigned') {
      const key = fault === 'badSignature' ? this.otherKeyPem : this.keyPem;
      if (this.sign === 'assertion' || this.sign === 'both') {
        xml = this.signElement(xml, key, 'Assertion');
      }
      if (this.sign === 'response' || this.sign === 'both') {
        xml = this.signElement(xml, key, 'Response');
      }
    }
    if (fault === 'tampered') {
      xml = xml.replace(`>${xmlEscape(user.nameId)}</saml:NameID>`, '>mallory@example.com</saml:NameID>');
    }
    this.lastAssertionId = assertionId;
    return {
      acsUrl,
      samlResponse: Buffer.from(xml, 'utf8').toString('base64'),
      relayState: request.relayState,
      assertionId,
    };
  }

  /** Signs the Assertion or the Response (enveloped signature after its Issuer). */
  private signElement(xml: string, keyPem: string, element: 'Assertion' | 'Response'): string {
    const target =
      element === 'Assertion' ? `//*[local-name(.)='Assertion']` : `/*[local-name(.)='Response']`;
    const sig = new SignedXml({
      privateKey: keyPem,
      publicCert: this.certPem,
      signatureAlgorithm: algorithms.rsaSha256,
      canonicalizationAlgorithm: algorithms.excC14n,
    });
    sig.addReference({
      xpath: target,
      transforms: [algorithms.enveloped, algorithms.excC14n],
      digestAlgorithm: algorithms.sha256,
    });
    sig.computeSignature(xml, {
      prefix: 'ds',
      location: { reference: `${target}/*[local-name(.)='Issuer']`, action: 'after' },
    });
    return sig.getSignedXml();
  }

  /** The page a browser gets: a form that posts the SAMLResponse to the ACS by itself. */
  static autoPostPage(answer: IdpAnswer): string {
    const relay = answer.relayState
      ? `<input type="hidden" name="RelayState" value="${xmlEscape(answer.relayState)}"/>`
      : '';
    return (
      `<!doctype html><html><body onload="document.forms[0].submit()">` +
      `<form method="post" action="${xmlEscape(answer.acsUrl)}">` +
      `<input type="hidden" name="SAMLResponse" value="${xmlEscape(answer.samlResponse)}"/>${relay}` +
      `<noscript><button type="submit">Continue</button></noscript></form></body></html>`
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.base);
    if (req.method === 'GET' && url.pathname === '/metadata') {
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(this.metadataXml());
      return;
    }
    if (url.pathname === '/sso' && (req.method === 'GET' || req.method === 'POST')) {
      let request: ReceivedAuthnRequest;
      if (req.method === 'GET') {
        if (this.opts.postBindingOnly) throw new Error('this IdP takes the POST binding only');
        const samlRequest = url.searchParams.get('SAMLRequest');
        if (!samlRequest) throw new Error('no SAMLRequest');
        request = parseAuthnRequest(samlRequest, 'redirect', url.searchParams.get('RelayState') ?? undefined);
      } else {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const samlRequest = form.get('SAMLRequest');
        if (!samlRequest) throw new Error('no SAMLRequest');
        request = parseAuthnRequest(samlRequest, 'post', form.get('RelayState') ?? undefined);
      }
      this.requests.push(request);
      const answer = this.respond(request);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(FakeIdp.autoPostPage(answer));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }
}
