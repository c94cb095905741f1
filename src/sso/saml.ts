import { SAML, ValidateInResponseTo, type CacheProvider } from '@node-saml/node-saml';
import { listOf, nodesOf, samlXmlParser, type XmlNode } from './xml.js';
import type { IdpMetadata } from './metadata.js';

/**
 * The SAML 2.0 service provider side of end-user authentication, on @node-saml/node-saml: it
 * builds the AuthnRequest (HTTP-Redirect binding) and checks the IdP's answer (HTTP-POST binding).
 * node-saml checks the XML signature against the IdP's certificates, the status, the time
 * conditions and InResponseTo; the checks it leaves to its caller (issuer, audience, destination,
 * recipient, the assertion's ID) are done here on the verified assertion.
 */

/** Why a SAML response was refused: a short code for the log line, never the assertion. */
export type RefusalReason =
  | 'malformed'
  | 'signature'
  | 'idp_status'
  | 'in_response_to'
  | 'expired'
  | 'not_yet_valid'
  | 'audience'
  | 'issuer'
  | 'destination'
  | 'recipient'
  | 'no_user'
  | 'replay';

export class SamlRefusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

/** Fleet (crewjam/saml) allows 180 seconds of clock difference with the IdP. */
export const clockSkewMs = 180_000;

/** The SP side of one login: who we are to the IdP and where its answer comes back. */
export interface ServiceProvider {
  /** `mdm.end_user_authentication.entity_id`: the AuthnRequest's Issuer. */
  entityId: string;
  /** `<MDM URL>/api/v1/fleet/mdm/sso/callback`. */
  acsUrl: string;
}

/** A verified assertion, reduced to what the server keeps. */
export interface VerifiedAssertion {
  /** The assertion's ID (for replay protection). */
  assertionId: string;
  /** NameID: Fleet takes it as the user's e-mail. */
  nameId: string;
  /** A display name from the attributes, '' when none. */
  fullName: string;
  /** Conditions/NotOnOrAfter, when the IdP sent one. */
  notOnOrAfter: Date | undefined;
}

/** node-saml keeps request IDs in a cache; one login checks against exactly one stored ID. */
class OneRequestCache implements CacheProvider {
  constructor(
    private readonly requestId: string,
    private readonly createdAt: string,
  ) {}
  async saveAsync(): Promise<null> {
    return null;
  }
  async getAsync(key: string): Promise<string | null> {
    return key === this.requestId ? this.createdAt : null;
  }
  async removeAsync(): Promise<string | null> {
    return null;
  }
}

/** The IdP URL that starts a login: its SSO location with the deflated AuthnRequest. */
export async function authnRequestUrl(
  sp: ServiceProvider,
  idp: IdpMetadata,
  requestId: string,
): Promise<string> {
  if (!idp.ssoRedirectUrl) throw new Error('IdP does not support the HTTP-Redirect binding');
  const saml = new SAML({
    entryPoint: idp.ssoRedirectUrl,
    issuer: sp.entityId,
    callbackUrl: sp.acsUrl,
    idpCert: idp.certificates,
    generateUniqueId: () => requestId,
    // Fleet asks for no particular authentication context (IdPs with MFA refuse a fixed one).
    disableRequestedAuthnContext: true,
    providerName: 'Flotilla',
    validateInResponseTo: ValidateInResponseTo.never,
  });
  return saml.getAuthorizeUrlAsync('', undefined, {});
}

const parser = samlXmlParser;
type Node = XmlNode;
const list = listOf;
const nodes = nodesOf;
const text = (v: unknown): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null) {
    const t = (v as Node)['#text'];
    if (typeof t === 'string') return t;
  }
  return '';
};
const attr = (n: Node | undefined, name: string): string =>
  n && typeof n[`@_${name}`] === 'string' ? (n[`@_${name}`] as string) : '';

/** Attribute names IdPs use for a person's display name (compared case-blind). */
const displayNameAttributes = [
  'displayname',
  'name',
  'fullname',
  'cn',
  'urn:oid:2.16.840.1.113730.3.1.241',
  'urn:oid:2.5.4.3',
  'http://schemas.microsoft.com/identity/claims/displayname',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
];
const givenNameAttributes = [
  'givenname',
  'firstname',
  'first_name',
  'urn:oid:2.5.4.42',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
];
const surnameAttributes = [
  'sn',
  'surname',
  'lastname',
  'last_name',
  'familyname',
  'urn:oid:2.5.4.4',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
];

function attributeValues(assertion: Node): Map<string, string> {
  const out = new Map<string, string>();
  for (const statement of nodes(assertion.AttributeStatement)) {
    for (const a of nodes(statement.Attribute)) {
      const value = list(a.AttributeValue)
        .map(text)
        .find((v) => v.trim() !== '');
      if (value === undefined) continue;
      for (const name of [attr(a, 'Name'), attr(a, 'FriendlyName')]) {
        if (name && !out.has(name.toLowerCase())) out.set(name.toLowerCase(), value.trim());
      }
    }
  }
  return out;
}

/** The user's display name: a display-name attribute, else given name and surname, else ''. */
export function displayName(assertion: Node): string {
  const values = attributeValues(assertion);
  const first = (names: string[]) => names.map((n) => values.get(n)).find((v) => v);
  const full = first(displayNameAttributes);
  if (full) return full;
  return [first(givenNameAttributes), first(surnameAttributes)].filter(Boolean).join(' ');
}

/** Maps node-saml's error messages onto refusal reasons. */
function classify(err: unknown): SamlRefusal {
  const msg = err instanceof Error ? err.message : String(err);
  // node-saml's subject-confirmation search looks at their times only: none valid means expired.
  const reason: RefusalReason = /No valid subject confirmation/i.test(msg)
    ? 'expired'
    : /InResponseTo/i.test(msg)
      ? 'in_response_to'
      : /expired/i.test(msg)
        ? 'expired'
        : /not yet valid/i.test(msg)
          ? 'not_yet_valid'
          : /signature/i.test(msg)
            ? 'signature'
            : /SAML provider returned/i.test(msg)
              ? 'idp_status'
              : 'malformed';
  return new SamlRefusal(reason, msg.slice(0, 300));
}

export interface ValidateOptions {
  sp: ServiceProvider;
  idp: IdpMetadata;
  /** Audiences accepted (Fleet: the entity id, the server URL and the ACS URL). */
  audiences: string[];
  /** The AuthnRequest ID this login sent, and when. */
  requestId: string;
  requestCreatedAt: Date;
  /** How long after the request an answer is still taken. */
  requestValidityMs: number;
}

/**
 * Checks a base64 `SAMLResponse` and returns its verified assertion, or throws SamlRefusal. The
 * response or its one assertion must be signed by a certificate from the IdP metadata.
 */
export async function validateSamlResponse(
  samlResponse: string,
  opts: ValidateOptions,
): Promise<VerifiedAssertion> {
  if (!/^[A-Za-z0-9+/=\s]+$/.test(samlResponse)) {
    throw new SamlRefusal('malformed', 'SAMLResponse is not base64');
  }
  const saml = new SAML({
    issuer: opts.sp.entityId,
    callbackUrl: opts.sp.acsUrl,
    idpCert: opts.idp.certificates,
    // Either the response or the assertion must carry a valid signature (as crewjam/saml).
    wantAssertionsSigned: false,
    wantAuthnResponseSigned: false,
    // Audience is checked below against Fleet's list of accepted audiences.
    audience: false,
    acceptedClockSkewMs: clockSkewMs,
    validateInResponseTo: ValidateInResponseTo.always,
    requestIdExpirationPeriodMs: opts.requestValidityMs,
    cacheProvider: new OneRequestCache(opts.requestId, opts.requestCreatedAt.toISOString()),
  });
  let profile;
  try {
    ({ profile } = await saml.validatePostResponseAsync({ SAMLResponse: samlResponse }));
  } catch (err) {
    throw classify(err);
  }
  if (!profile?.getAssertionXml) throw new SamlRefusal('malformed', 'SAML response has no assertion');

  const verified = parser.parse(profile.getAssertionXml()) as Node;
  const assertion = nodes(verified.Assertion)[0];
  if (!assertion) throw new SamlRefusal('malformed', 'verified XML is not an assertion');

  const issuer = text(nodes(assertion.Issuer)[0] ?? list(assertion.Issuer)[0]).trim();
  if (opts.idp.entityId && issuer !== opts.idp.entityId) {
    throw new SamlRefusal('issuer', 'assertion issuer is not the configured IdP');
  }

  const conditions = nodes(assertion.Conditions)[0];
  if (!conditions) throw new SamlRefusal('audience', 'assertion has no Conditions');
  const restrictions = nodes(conditions.AudienceRestriction);
  if (restrictions.length === 0) throw new SamlRefusal('audience', 'assertion has no AudienceRestriction');
  for (const r of restrictions) {
    const audiences = list(r.Audience).map((a) => text(a).trim());
    if (!audiences.some((a) => opts.audiences.includes(a))) {
      throw new SamlRefusal('audience', 'assertion is meant for another audience');
    }
  }

  const subject = nodes(assertion.Subject)[0];
  const bearer = nodes(subject?.SubjectConfirmation).filter(
    (c) => attr(c, 'Method') === 'urn:oasis:names:tc:SAML:2.0:cm:bearer',
  );
  const recipients = bearer.flatMap((c) => nodes(c.SubjectConfirmationData).map((d) => attr(d, 'Recipient')));
  if (!recipients.includes(opts.sp.acsUrl)) {
    throw new SamlRefusal('recipient', 'no bearer subject confirmation for this ACS URL');
  }

  // The response's Destination, when present, must be this ACS (the response may be unsigned, so
  // this is a consistency check; the recipient above is inside the signed assertion).
  const response = nodes((parser.parse(profile.getSamlResponseXml?.() ?? '') as Node).Response)[0];
  const destination = attr(response, 'Destination');
  if (destination && destination !== opts.sp.acsUrl) {
    throw new SamlRefusal('destination', 'response Destination is not this ACS URL');
  }

  const nameId = text(nodes(subject?.NameID)[0] ?? list(subject?.NameID)[0]).trim();
  if (!nameId) throw new SamlRefusal('no_user', 'assertion has no NameID');
  const assertionId = attr(assertion, 'ID');
  if (!assertionId) throw new SamlRefusal('malformed', 'assertion has no ID');
  const notOnOrAfterText = attr(conditions, 'NotOnOrAfter');
  const notOnOrAfter = notOnOrAfterText ? new Date(notOnOrAfterText) : undefined;
  return {
    assertionId,
    nameId,
    fullName: displayName(assertion),
    notOnOrAfter: notOnOrAfter && !Number.isNaN(notOnOrAfter.getTime()) ? notOnOrAfter : undefined,
  };
}
