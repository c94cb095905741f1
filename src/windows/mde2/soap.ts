import { randomUUID } from 'node:crypto';
import {
  child,
  errorDetail,
  escapeXml,
  maxErrorDetail,
  parseXml,
  textAt,
  XmlError,
  type XmlNode,
} from '../xml.js';

/** Namespace URIs and action URIs of MS-MDE2 (discovery), MS-XCEP (policy) and MS-WSTEP (enroll). */
export const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  addressing: 'http://www.w3.org/2005/08/addressing',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wst: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512',
  ac: 'http://schemas.xmlsoap.org/ws/2006/12/authorization',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xsd: 'http://www.w3.org/2001/XMLSchema',
  discovery: 'http://schemas.microsoft.com/windows/management/2012/01/enrollment',
  policy: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy',
  enrollment: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment',
  diagnostics: 'http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics',
} as const;

export const Action = {
  discover: `${NS.discovery}/IDiscoveryService/Discover`,
  discoverResponse: `${NS.discovery}/IDiscoveryService/DiscoverResponse`,
  getPolicies: `${NS.policy}/IPolicy/GetPolicies`,
  getPoliciesResponse: `${NS.policy}/IPolicy/GetPoliciesResponse`,
  rst: `${NS.enrollment}/RST/wstep`,
  rstrc: `${NS.enrollment}/RSTRC/wstep`,
} as const;

export const TokenValueType = {
  programmatic:
    'http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentUserToken',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  pkcs10: `${NS.enrollment}#PKCS10`,
  pkcs7: `${NS.enrollment}#PKCS7`,
  provisionDoc:
    'http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentProvisionDoc',
} as const;
export const base64EncodingType = `${NS.wsse}#base64binary`;
export const deviceEnrollmentTokenType =
  'http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken';
export const issueRequestType = `${NS.wst}/Issue`;
/** MS-MDE2 3.5: the request type of a certificate renewal (manual or ROBO). */
export const renewRequestType = `${NS.wst}/Renew`;

/** MS-MDE2 §2.2.10 fault subcodes. */
export type FaultCode =
  | 's:messageformat'
  | 's:authentication'
  | 's:authorization'
  | 's:certificaterequest'
  | 's:enrollmentserver'
  | 's:internalservicefault'
  | 'a:invalidsecurity';

/** Longest fault reason: a short fixed reason plus at most `maxErrorDetail` characters of detail. */
export const maxFaultReason = maxErrorDetail + 120;

/**
 * Raised anywhere in the enrollment services; the route turns it into a SOAP fault (HTTP 200).
 * The reason is bounded (`maxFaultReason` characters, XML-safe) whatever it quotes from the
 * request, so a large bad request never makes a large fault (or log line).
 */
export class SoapFault extends Error {
  constructor(
    readonly code: FaultCode,
    message: string,
  ) {
    super(errorDetail(message, maxFaultReason));
  }
}

/** Longest WS-Addressing MessageID accepted (answers echo it; Windows sends `urn:uuid:{guid}`). */
export const maxMessageIdLength = 256;

export interface SoapRequest {
  action: string;
  messageId: string;
  to: string;
  header: XmlNode;
  /** The single element inside s:Body. */
  body: XmlNode;
}

/**
 * Parses and checks a SOAP 1.2 request as Fleet does: SOAP and WS-Addressing namespaces,
 * Action, MessageID, ReplyTo/Address and To present, exactly one body element.
 */
export function parseSoapRequest(xml: string): SoapRequest {
  let root: XmlNode;
  try {
    root = parseXml(xml);
  } catch (err) {
    throw new SoapFault('s:messageformat', err instanceof XmlError ? err.message : 'invalid XML');
  }
  if (root.name !== 'Envelope' || root.ns !== NS.soap)
    throw new SoapFault('s:messageformat', 'not a SOAP 1.2 envelope');
  const header = child(root, 'Header', NS.soap);
  const bodyEl = child(root, 'Body', NS.soap);
  if (!header || !bodyEl) throw new SoapFault('s:messageformat', 'SOAP Header and Body are required');
  const a = (name: string) => child(header, name, NS.addressing);
  const messageId = a('MessageID')?.text.trim();
  const action = a('Action')?.text.trim();
  const to = a('To')?.text.trim();
  const replyTo = textAt(a('ReplyTo'), 'Address');
  if (!messageId) throw new SoapFault('s:messageformat', 'a:MessageID is missing');
  if (messageId.length > maxMessageIdLength)
    throw new SoapFault('s:messageformat', 'a:MessageID is too long');
  if (!action) throw new SoapFault('s:messageformat', 'a:Action is missing');
  if (!replyTo) throw new SoapFault('s:messageformat', 'a:ReplyTo/a:Address is missing');
  if (!to) throw new SoapFault('s:messageformat', 'a:To is missing');
  if (bodyEl.children.length !== 1)
    throw new SoapFault('s:messageformat', 'SOAP Body must hold exactly one element');
  return { action, messageId, to, header, body: bodyEl.children[0] };
}

/** Reads just the MessageID (to address a fault) from a request that failed validation. */
export function bestEffortMessageId(xml: string): string | undefined {
  const m = /<(?:[A-Za-z0-9_]+:)?MessageID[^>]*>([^<]{1,200})</.exec(xml);
  return m ? m[1].trim() : undefined;
}

const activityId = () => {
  const id = randomUUID();
  return `<ActivityId CorrelationId="${id}" xmlns="${NS.diagnostics}">${id}</ActivityId>`;
};

/** A SOAP 1.2 response envelope; `relatesTo` echoes the request's MessageID verbatim. */
export function soapEnvelope(opts: {
  action: string;
  relatesTo: string | undefined;
  body: string;
  withActivityId?: boolean;
  extraHeader?: string;
  bodyAttrs?: string;
}): string {
  return (
    `<s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS.addressing}" xmlns:u="${NS.wsu}">` +
    `<s:Header>` +
    `<a:Action s:mustUnderstand="1">${escapeXml(opts.action)}</a:Action>` +
    (opts.withActivityId ? activityId() : '') +
    `<a:RelatesTo>${escapeXml(opts.relatesTo ?? 'invalid_message_id')}</a:RelatesTo>` +
    (opts.extraHeader ?? '') +
    `</s:Header>` +
    `<s:Body${opts.bodyAttrs ?? ''}>${opts.body}</s:Body>` +
    `</s:Envelope>`
  );
}

/** MS-MDE2 §2.2.10 fault: lower-case s:fault, receiver code, the subcode, an English reason. */
export function soapFaultEnvelope(action: string, relatesTo: string | undefined, fault: SoapFault): string {
  const body =
    `<s:fault><s:code><s:value>s:receiver</s:value><s:subcode><s:value>${fault.code}</s:value></s:subcode></s:code>` +
    `<s:reason><s:text xml:lang="en-us">${escapeXml(fault.message)}</s:text></s:reason></s:fault>`;
  return soapEnvelope({ action, relatesTo, body, withActivityId: true });
}
