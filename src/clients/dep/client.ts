import { createHmac } from 'node:crypto';
import OAuth from 'oauth-1.0a';
import type {
  DepAccount,
  DepAssignResponse,
  DepDeviceDetailsResponse,
  DepDevicesPage,
  DepProfile,
  DepProfileDefined,
} from './types.js';

/** The OAuth 1.0a credentials an ABM server token carries (the decrypted .p7m). */
export interface DepCredentials {
  consumer_key: string;
  consumer_secret: string;
  access_token: string;
  access_secret: string;
  access_token_expiry?: string;
}

/**
 * A refused DEP call. `code` is Apple's error code when the body names one (`T_C_NOT_SIGNED`,
 * `EXHAUSTED_CURSOR`, `INVALID_CURSOR`, `EXPIRED_CURSOR`, `THROTTLED`, `FORBIDDEN`, …), else ''.
 */
export class DepError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly path: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(`DEP ${path}: HTTP ${status}${code ? ` ${code}` : ''}`);
  }

  /** Apple's terms and conditions changed and nobody accepted them in ABM yet. */
  get termsNotSigned(): boolean {
    return this.code === 'T_C_NOT_SIGNED';
  }

  /** A fetch cursor that has returned everything: continue with sync from the same cursor. */
  get cursorExhausted(): boolean {
    return this.code === 'EXHAUSTED_CURSOR';
  }

  /** A cursor Apple no longer accepts (about 7 days old, or unknown): start over with a fetch. */
  get cursorInvalid(): boolean {
    return this.code === 'INVALID_CURSOR' || this.code === 'EXPIRED_CURSOR';
  }

  /** The token itself was refused at /session (expired, revoked, bad signature). */
  get tokenRejected(): boolean {
    return this.path === '/session' && (this.status === 401 || this.status === 403) && !this.termsNotSigned;
  }
}

export interface DepClientOptions {
  /** `https://mdmenrollment.apple.com` in production; the stand-in's URL in tests. */
  baseUrl: string;
  credentials: DepCredentials;
  /** Apple's `X-Server-Protocol-Version`; 8 and later carry `mdm_migration_deadline`. */
  protocolVersion?: number;
  timeoutMs?: number;
}

const knownCodes = [
  'T_C_NOT_SIGNED',
  'EXHAUSTED_CURSOR',
  'INVALID_CURSOR',
  'EXPIRED_CURSOR',
  'CURSOR_REQUIRED',
  'THROTTLED',
  'FORBIDDEN',
  'UNAUTHORIZED',
  'ACCESS_DENIED',
  'MALFORMED_REQUEST_BODY',
  'PROFILE_NOT_FOUND',
];

/** Apple answers errors as `{"code": ...}` JSON or as a bare code in text; find the code either way. */
function errorCode(body: string): string {
  try {
    const parsed = JSON.parse(body) as { code?: unknown };
    if (parsed && typeof parsed.code === 'string') return parsed.code;
  } catch {
    // not JSON: look for a known code in the text
  }
  return knownCodes.find((c) => body.includes(c)) ?? '';
}

/**
 * Apple's DEP (ABM device assignment) API. The session token lives in this object only, as NanoDEP
 * keeps it in memory: a restarted process pays one extra `/session` call, and no session secret
 * is ever stored. Apple rotates the session through the `X-ADM-Auth-Session` response header.
 */
export class DepClient {
  private session: string | undefined;
  private readonly oauth: OAuth;
  private readonly baseUrl: string;

  constructor(private readonly opts: DepClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.oauth = new OAuth({
      consumer: { key: opts.credentials.consumer_key, secret: opts.credentials.consumer_secret },
      signature_method: 'HMAC-SHA1',
      hash_function: (base, key) => createHmac('sha1', key).update(base).digest('base64'),
    });
  }

  account(): Promise<DepAccount> {
    return this.call<DepAccount>('GET', '/account');
  }

  /** Every device assigned to this server, page by page (`cursor` absent on the first page). */
  fetchDevices(req: { cursor?: string; limit?: number }): Promise<DepDevicesPage> {
    return this.call<DepDevicesPage>('POST', '/server/devices', req);
  }

  /** What changed since `cursor` (records carry `op_type` and `op_date`). */
  syncDevices(req: { cursor: string; limit?: number }): Promise<DepDevicesPage> {
    return this.call<DepDevicesPage>('POST', '/devices/sync', req);
  }

  deviceDetails(serials: string[]): Promise<DepDeviceDetailsResponse> {
    return this.call<DepDeviceDetailsResponse>('POST', '/devices', { devices: serials });
  }

  defineProfile(profile: DepProfile): Promise<DepProfileDefined> {
    return this.call<DepProfileDefined>('POST', '/profile', profile);
  }

  getProfile(profileUuid: string): Promise<DepProfile & { profile_uuid: string }> {
    return this.call('GET', `/profile?profile_uuid=${encodeURIComponent(profileUuid)}`);
  }

  /** NanoDEP uses PUT here (Apple accepts both); Fleet follows it. */
  assignProfile(profileUuid: string, serials: string[]): Promise<DepAssignResponse> {
    return this.call<DepAssignResponse>('PUT', '/profile/devices', {
      profile_uuid: profileUuid,
      devices: serials,
    });
  }

  removeProfile(serials: string[]): Promise<{ devices: Record<string, string> }> {
    return this.call('DELETE', '/profile/devices', { devices: serials });
  }

  /** Gets a session from `/session` with the OAuth 1.0a-signed request Apple requires. */
  private async authenticate(): Promise<string> {
    const url = `${this.baseUrl}/session`;
    const { access_token, access_secret } = this.opts.credentials;
    const auth = this.oauth.authorize({ url, method: 'GET' }, { key: access_token, secret: access_secret });
    const res = await fetch(url, {
      method: 'GET',
      headers: {
        ...this.oauth.toHeader(auth),
        'content-type': 'application/json;charset=UTF8',
      },
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new DepError(res.status, errorCode(text), '/session');
    let token: unknown;
    try {
      token = (JSON.parse(text) as { auth_session_token?: unknown }).auth_session_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '')
      throw new DepError(res.status, 'NO_SESSION_TOKEN', '/session');
    this.session = token;
    return token;
  }

  /**
   * One API call. Re-authenticates and replays once when Apple says the session is gone (401, or
   * 403 with FORBIDDEN); every other refusal becomes a DepError for the caller to judge.
   */
  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const session = this.session ?? (await this.authenticate());
      const res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          'x-adm-auth-session': session,
          'x-server-protocol-version': String(this.opts.protocolVersion ?? 9),
          'content-type': 'application/json;charset=UTF8',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
      const rotated = res.headers.get('x-adm-auth-session');
      if (rotated) this.session = rotated;
      const text = await res.text();
      if (res.ok) {
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new DepError(res.status, 'MALFORMED_RESPONSE', path.split('?')[0]);
        }
      }
      const code = errorCode(text);
      const sessionGone = res.status === 401 || (res.status === 403 && code === 'FORBIDDEN');
      if (sessionGone && attempt === 0) {
        this.session = undefined;
        continue;
      }
      throw new DepError(res.status, code, path.split('?')[0], retryAfter(res, text));
    }
  }
}

/** Seconds to wait before retrying, from `Retry-After` or Apple's `retry_after_seconds`. */
function retryAfter(res: Response, body: string): number | undefined {
  const header = Number(res.headers.get('retry-after'));
  if (Number.isFinite(header) && header > 0) return header;
  try {
    const v = (JSON.parse(body) as { retry_after_seconds?: unknown }).retry_after_seconds;
    if (typeof v === 'number' && v > 0) return v;
  } catch {
    // no JSON body
  }
  return undefined;
}
