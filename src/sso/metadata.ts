import { X509Certificate } from 'node:crypto';
import { XMLValidator } from 'fast-xml-parser';
import { nodesOf, samlXmlParser, type XmlNode } from './xml.js';

/** SAML 2.0 HTTP-Redirect binding: the only one Fleet sends its AuthnRequest with. */
export const redirectBinding = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

/** What the SP needs from an IdP's metadata. */
export interface IdpMetadata {
  /** The IdP's entityID: an assertion's Issuer must be this when it is known. */
  entityId: string;
  /** Where the AuthnRequest goes (the SingleSignOnService with the HTTP-Redirect binding). */
  ssoRedirectUrl: string | undefined;
  /** The IdP's signing certificates, PEM. */
  certificates: string[];
  /** The metadata XML as received. */
  xml: string;
}

/** The IdP settings are unusable (bad metadata, unreachable URL): Fleet answers 400. */
export class IdpMetadataError extends Error {}

const parser = samlXmlParser;
type Node = XmlNode;
const list = nodesOf;

const text = (v: unknown): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Node)['#text'] === 'string') {
    return (v as Node)['#text'] as string;
  }
  return '';
};

function toPem(base64Der: string): string {
  const body = base64Der.replace(/\s+/g, '');
  const der = Buffer.from(body, 'base64');
  // Throws on anything that is not a certificate.
  const cert = new X509Certificate(der);
  return cert.toString();
}

/** The first EntityDescriptor with an IDPSSODescriptor (metadata may wrap several in EntitiesDescriptor). */
function idpEntity(doc: Node): Node | undefined {
  const direct = list(doc.EntityDescriptor);
  const nested = list(doc.EntitiesDescriptor).flatMap((e) => list(e.EntityDescriptor));
  return [...direct, ...nested].find((e) => list(e.IDPSSODescriptor).length > 0);
}

/**
 * Reads IdP metadata: its entityID, the HTTP-Redirect SingleSignOnService location and the signing
 * certificates (KeyDescriptors with `use="signing"` or no `use`). Throws IdpMetadataError when the
 * XML is not IdP metadata or carries no usable signing certificate.
 */
export function parseIdpMetadata(xml: string): IdpMetadata {
  // Metadata never needs a DTD; refusing one keeps entity expansion out entirely.
  if (/<!DOCTYPE/i.test(xml)) throw new IdpMetadataError('IdP metadata must not have a DOCTYPE');
  if (XMLValidator.validate(xml) !== true) throw new IdpMetadataError('IdP metadata is not well-formed XML');
  const entity = idpEntity(parser.parse(xml) as Node);
  if (!entity) throw new IdpMetadataError('IdP metadata has no IDPSSODescriptor');
  const descriptor = list(entity.IDPSSODescriptor)[0];
  const certificates: string[] = [];
  for (const kd of list(descriptor.KeyDescriptor)) {
    const use = typeof kd['@_use'] === 'string' ? kd['@_use'] : '';
    if (use && use !== 'signing') continue;
    for (const ki of list(kd.KeyInfo)) {
      for (const data of list(ki.X509Data)) {
        const certs = Array.isArray(data.X509Certificate) ? data.X509Certificate : [data.X509Certificate];
        for (const c of certs) {
          const b64 = text(c).trim();
          if (!b64) continue;
          try {
            certificates.push(toPem(b64));
          } catch {
            throw new IdpMetadataError('IdP metadata has a signing certificate that cannot be parsed');
          }
        }
      }
    }
  }
  if (certificates.length === 0) throw new IdpMetadataError('IdP metadata has no signing certificate');
  const sso = list(descriptor.SingleSignOnService).find((s) => s['@_Binding'] === redirectBinding);
  const location = typeof sso?.['@_Location'] === 'string' ? sso['@_Location'] : undefined;
  return {
    entityId: typeof entity['@_entityID'] === 'string' ? entity['@_entityID'] : '',
    ssoRedirectUrl: location || undefined,
    certificates,
    xml,
  };
}

/** Largest metadata document fetched from `metadata_url`. */
export const maxMetadataBytes = 1024 * 1024;

/** Fetches IdP metadata from `metadata_url` (Fleet waits 5 seconds). */
export class IdpMetadataFetcher {
  constructor(
    private readonly timeoutMs = 5000,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  async fetch(url: string): Promise<string> {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new IdpMetadataError('metadata_url is not a URL');
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      throw new IdpMetadataError('metadata_url must be either https or http');
    }
    let res: Response;
    try {
      res = await this.fetchFn(u, { signal: AbortSignal.timeout(this.timeoutMs), redirect: 'follow' });
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError';
      throw new IdpMetadataError(timedOut ? 'IdP metadata URL timed out' : 'IdP metadata URL unreachable');
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new IdpMetadataError(`IdP metadata URL answered ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > maxMetadataBytes) {
      await res.body?.cancel();
      throw new IdpMetadataError('IdP metadata is too large');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const reader = res.body?.getReader();
    if (!reader) return '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxMetadataBytes) {
        await reader.cancel();
        throw new IdpMetadataError('IdP metadata is too large');
      }
      chunks.push(Buffer.from(value));
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}
