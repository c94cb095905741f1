/**
 * Response shapes of the settings pages, taken from the server's own builders (type-only imports),
 * and the small file helpers the settings pages share (downloads of base64 answers, random secrets).
 */
import type { AppConfig } from '../../../appconfig/defaults.js';
import type { ApnsCertificateService } from '../../../apple/push/certificates.js';
import type { AbmTokenJson } from '../../../apple/dep/json.js';
import type { ServiceAccountSummary } from '../../../android/enterprise/serviceAccountAdmin.js';
import type { secretJson } from '../../../teams/teamJson.js';
import type { Json } from './shapes.js';

/** `GET /config` as a settings page reads it (SMTP/SSO/agent options may be left out by role). */
export type ConfigDocument = Json<AppConfig>;

/** `GET /mdm/apple`: the APNs certificate in use. */
export type ApnsStatus = Json<NonNullable<Awaited<ReturnType<ApnsCertificateService['status']>>>>;

/** `GET /mdm/apple/request_csr` and `GET /mdm/apple/abm_public_key`: a PEM, base64. */
export interface CsrResponse {
  csr: string;
}
export interface AbmPublicKeyResponse {
  public_key: string;
}

export type AbmToken = Json<AbmTokenJson>;
export interface AbmTokensResponse {
  abm_tokens: AbmToken[];
}
export interface AbmTokenResponse {
  abm_token: AbmToken;
}

export type EnrollSecret = Json<ReturnType<typeof secretJson>>;
export interface EnrollSecretSpecResponse {
  spec: { secrets: EnrollSecret[] };
}

export type AndroidServiceAccount = ServiceAccountSummary;
export interface AndroidEnterpriseResponse {
  android_enterprise_id: string;
}
export interface AndroidSignupUrlResponse {
  android_enterprise_signup_url: string;
}

/** The text behind a base64 answer (the server sends PEM files base64-encoded, as Fleet does). */
export function fromBase64(b64: string): string {
  return atob(b64);
}

/** Whole days from now until `iso` (negative once it has passed). */
export function daysUntil(iso: string, now = Date.now()): number {
  return Math.floor((Date.parse(iso) - now) / 86_400_000);
}

/** A date as the console shows dates: YYYY-MM-DD (UTC), unambiguous in every locale. */
export function isoDay(iso: string): string {
  return new Date(iso).toISOString().slice(0, 10);
}

/** Certificates and tokens this close to expiry are shown with a warning. */
export const renewWarningDays = 30;
