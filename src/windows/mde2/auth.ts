import { child, textAt, type XmlNode } from '../xml.js';
import { base64EncodingType, NS, SoapFault, TokenValueType } from './soap.js';

/**
 * Who is enrolling, decided from the WS-Security header of GetPolicies and RequestSecurityToken.
 * Each flavour has its own branch so Entra (Azure AD) JWTs can be added without touching the rest.
 */
export type EnrollmentCredential =
  | { kind: 'programmatic'; orbitNodeKey: string }
  | { kind: 'onPremise'; username: string; password: string }
  | { kind: 'entraJwt'; jwt: string };

/** Decodes base64 leniently: standard or URL-safe alphabet, with or without padding. */
function decodeB64(s: string): Buffer {
  const clean = s.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(clean))
    throw new SoapFault('s:authentication', 'security token is not base64');
  return Buffer.from(clean, 'base64');
}

/** Reads the credential from `wsse:Security`; faults when it is absent or unreadable. */
export function readEnrollmentCredential(header: XmlNode): EnrollmentCredential {
  const security = child(header, 'Security', NS.wsse);
  if (!security) throw new SoapFault('a:invalidsecurity', 'wsse:Security header is missing');
  const userToken = child(security, 'UsernameToken', NS.wsse);
  if (userToken) {
    const username = textAt(userToken, 'Username') ?? '';
    const password = textAt(userToken, 'Password') ?? '';
    if (!username || !password)
      throw new SoapFault('s:authentication', 'UsernameToken needs a username and a password');
    return { kind: 'onPremise', username, password };
  }
  const bst = child(security, 'BinarySecurityToken', NS.wsse);
  if (!bst) throw new SoapFault('a:invalidsecurity', 'no security token in wsse:Security');
  if (bst.attrs.EncodingType !== base64EncodingType)
    throw new SoapFault('a:invalidsecurity', 'security token encoding must be base64binary');
  const content = bst.text.trim();
  if (bst.attrs.ValueType === TokenValueType.jwt)
    return { kind: 'entraJwt', jwt: decodeB64(content).toString('utf8') };
  if (bst.attrs.ValueType !== TokenValueType.programmatic)
    throw new SoapFault('a:invalidsecurity', 'unsupported security token type');
  let parsed: { type?: unknown; payload?: { orbit_node_key?: unknown; auth_token?: unknown } };
  try {
    parsed = JSON.parse(decodeB64(content).toString('utf8'));
  } catch {
    throw new SoapFault('s:authentication', 'enrollment token is not base64 JSON');
  }
  if (parsed?.type === 1) {
    const key = parsed.payload?.orbit_node_key;
    if (typeof key !== 'string' || !key)
      throw new SoapFault('s:authentication', 'enrollment token has no orbit_node_key');
    return { kind: 'programmatic', orbitNodeKey: key };
  }
  if (parsed?.type === 2)
    throw new SoapFault(
      's:authentication',
      'automatic enrollment through the STS is not supported; use programmatic enrollment',
    );
  throw new SoapFault('s:authentication', 'unknown enrollment token type');
}
