import { escapeXml } from '../xml.js';
import {
  Action,
  base64EncodingType,
  deviceEnrollmentTokenType,
  NS,
  soapEnvelope,
  TokenValueType,
} from './soap.js';

/** Body builders for the three enrollment services' success answers. */

export function discoverResponse(relatesTo: string, urls: { policy: string; enroll: string }): string {
  const body =
    `<DiscoverResponse xmlns="${NS.discovery}"><DiscoverResult>` +
    `<AuthPolicy>OnPremise</AuthPolicy>` +
    `<EnrollmentVersion>4.0</EnrollmentVersion>` +
    `<EnrollmentPolicyServiceUrl>${escapeXml(urls.policy)}</EnrollmentPolicyServiceUrl>` +
    `<EnrollmentServiceUrl>${escapeXml(urls.enroll)}</EnrollmentServiceUrl>` +
    `</DiscoverResult></DiscoverResponse>`;
  return soapEnvelope({ action: Action.discoverResponse, relatesTo, body, withActivityId: true });
}

const nil = (name: string) => `<${name} xsi:nil="true"/>`;

/**
 * MS-XCEP GetPoliciesResponse: one policy, RSA 2048+, SHA-256, one-year validity, and the renewal
 * period the provisioning document also tells the device (Fleet advertises 180 days).
 */
export function getPoliciesResponse(relatesTo: string, renewalPeriodSeconds = 15_552_000): string {
  const body =
    `<GetPoliciesResponse xmlns="${NS.policy}"><response>` +
    `<policyID></policyID>${nil('policyFriendlyName')}${nil('nextUpdateHours')}${nil('policiesNotChanged')}` +
    `<policies><policy><policyOIDReference>0</policyOIDReference>${nil('cAs')}<attributes>` +
    `<commonName>FleetDMAttributes</commonName><policySchema>3</policySchema>` +
    `<certificateValidity><validityPeriodSeconds>31536000</validityPeriodSeconds><renewalPeriodSeconds>${renewalPeriodSeconds}</renewalPeriodSeconds></certificateValidity>` +
    `<permission><enroll>true</enroll><autoEnroll>false</autoEnroll></permission>` +
    `<privateKeyAttributes><minimalKeyLength>2048</minimalKeyLength>${nil('keySpec')}${nil('keyUsageProperty')}${nil('permissions')}${nil('algorithmOIDReference')}` +
    `<cryptoProviders><provider>Microsoft Platform Crypto Provider</provider><provider>Microsoft Software Key Storage Provider</provider></cryptoProviders>` +
    `</privateKeyAttributes>` +
    `<revision><majorRevision>101</majorRevision><minorRevision>0</minorRevision></revision>` +
    `${nil('supersededPolicies')}${nil('privateKeyFlags')}${nil('subjectNameFlags')}${nil('enrollmentFlags')}${nil('generalFlags')}` +
    `<hashAlgorithmOIDReference>0</hashAlgorithmOIDReference>` +
    `${nil('rARequirements')}${nil('keyArchivalAttributes')}${nil('extensions')}` +
    `</attributes></policy></policies></response>` +
    `${nil('cAs')}<oIDs>` +
    `<oID><value>2.16.840.1.101.3.4.2.1</value><group>1</group><oIDReferenceID>0</oIDReferenceID><defaultName>szOID_NIST_sha256</defaultName></oID>` +
    `<oID><value>1.2.840.113549.1.1.1</value><group>3</group><oIDReferenceID>1</oIDReferenceID><defaultName>szOID_RSA_RSA</defaultName></oID>` +
    `</oIDs></GetPoliciesResponse>`;
  return soapEnvelope({
    action: Action.getPoliciesResponse,
    relatesTo,
    body,
    bodyAttrs: ` xmlns:xsi="${NS.xsi}" xmlns:xsd="${NS.xsd}"`,
  });
}

const wsTime = (d: Date) => d.toISOString();

/** MS-WSTEP RequestSecurityTokenResponseCollection carrying the base64 provisioning document. */
export function requestSecurityTokenResponse(
  relatesTo: string,
  provisioningDocXml: string,
  now = new Date(),
): string {
  const security =
    `<o:Security xmlns:o="${NS.wsse}" s:mustUnderstand="1"><u:Timestamp u:Id="_0">` +
    `<u:Created>${wsTime(new Date(now.getTime() - 5 * 60_000))}</u:Created>` +
    `<u:Expires>${wsTime(new Date(now.getTime() + 5 * 60_000))}</u:Expires>` +
    `</u:Timestamp></o:Security>`;
  const doc = Buffer.from(provisioningDocXml, 'utf8').toString('base64');
  const body =
    `<RequestSecurityTokenResponseCollection xmlns="${NS.wst}"><RequestSecurityTokenResponse>` +
    `<TokenType>${deviceEnrollmentTokenType}</TokenType>` +
    `<DispositionMessage xmlns="${NS.enrollment}"></DispositionMessage>` +
    `<RequestedSecurityToken><BinarySecurityToken xmlns="${NS.wsse}" ValueType="${TokenValueType.provisionDoc}" EncodingType="${base64EncodingType}">${doc}</BinarySecurityToken></RequestedSecurityToken>` +
    `<RequestID xmlns="${NS.enrollment}">0</RequestID>` +
    `</RequestSecurityTokenResponse></RequestSecurityTokenResponseCollection>`;
  return soapEnvelope({ action: Action.rstrc, relatesTo, body, extraHeader: security });
}
