import { OAuth2Client, type Certificates } from 'google-auth-library';
import { HttpError, forbidden, unauthenticated } from '../../http/errors.js';

/** Who may sign a push's OIDC token and for which audience. */
export interface OidcExpectations {
  audience: string;
  /** The signing service account's e-mail; undefined when none can be named (then nothing passes). */
  email(): Promise<string | undefined>;
}

/** Google's issuer names for the tokens Pub/Sub attaches. */
const issuers = ['accounts.google.com', 'https://accounts.google.com'];

/** When Google's certificates answer gives no usable max-age. */
const defaultCertsTtlMs = 5 * 60 * 1000;
/** An unknown key ID refetches the certificates at most this often (Google rotates its keys). */
const refetchAfterMs = 60 * 1000;

/**
 * Why a token was refused, in words safe to log: the library's own messages quote the whole token
 * or its payload, so they are never passed on.
 */
function refusal(err: unknown): string {
  const m = err instanceof Error ? err.message : '';
  if (m.startsWith('No pem found')) return 'the token is signed by a key Google does not list';
  if (m.startsWith('Invalid token signature')) return 'the token signature does not verify';
  if (m.startsWith('Token used too late')) return 'the token has expired';
  if (m.startsWith('Token used too early')) return 'the token is not valid yet';
  if (m.startsWith('Expiration time too far')) return 'the token lives too long';
  if (m.startsWith('Invalid issuer')) return 'the token is not issued by Google';
  if (m.startsWith('Wrong recipient')) return 'the token is for another audience';
  return 'the token is malformed';
}

/**
 * Checks the OIDC token Pub/Sub attaches to a push (`Authorization: Bearer <JWT>`): Google's
 * signature (certificates fetched from `certsUrl`, cached for their Cache-Control max-age),
 * issuer, audience, and that the signer is the expected, verified service account.
 */
export class PushOidcVerifier {
  private readonly oauth = new OAuth2Client();
  private certs: { value: Certificates; expiresAt: number; fetchedAt: number } | undefined;

  constructor(
    private readonly certsUrl: string,
    private readonly expect: OidcExpectations,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  private async fetchCerts(): Promise<Certificates> {
    let res: Response;
    try {
      res = await this.fetchFn(this.certsUrl, { signal: AbortSignal.timeout(10_000) });
    } catch {
      throw new HttpError(503, 'Service Unavailable', [
        { name: 'base', reason: "Google's OIDC certificates could not be fetched" },
      ]);
    }
    const body = (await res.json().catch(() => undefined)) as unknown;
    if (!res.ok || !body || typeof body !== 'object' || Array.isArray(body)) {
      throw new HttpError(503, 'Service Unavailable', [
        { name: 'base', reason: `Google's OIDC certificates answered HTTP ${res.status}` },
      ]);
    }
    const maxAge = /max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1];
    const now = Date.now();
    this.certs = {
      value: body as Certificates,
      fetchedAt: now,
      expiresAt: now + (maxAge !== undefined ? Number(maxAge) * 1000 : defaultCertsTtlMs),
    };
    return this.certs.value;
  }

  private async currentCerts(kid: string | undefined): Promise<Certificates> {
    const c = this.certs;
    if (!c || Date.now() >= c.expiresAt) return this.fetchCerts();
    if (kid && !(kid in c.value) && Date.now() - c.fetchedAt >= refetchAfterMs) return this.fetchCerts();
    return c.value;
  }

  /** Throws 401 (no or bad token) or 403 (a valid token of another signer); 503 when Google's keys are unreachable. */
  async verify(authorization: string | undefined): Promise<void> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) throw unauthenticated('missing OIDC bearer token');
    const jwt = m[1];
    let kid: string | undefined;
    try {
      kid = JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8')).kid;
    } catch {
      throw unauthenticated('invalid OIDC token: the token is malformed');
    }
    const certs = await this.currentCerts(kid);
    let payload: Record<string, unknown> | undefined;
    try {
      const ticket = await this.oauth.verifySignedJwtWithCertsAsync(
        jwt,
        certs,
        this.expect.audience,
        issuers,
      );
      payload = ticket.getPayload() as Record<string, unknown> | undefined;
    } catch (err) {
      throw unauthenticated(`invalid OIDC token: ${refusal(err)}`);
    }
    const expected = await this.expect.email();
    const verified = payload?.email_verified === true || payload?.email_verified === 'true';
    if (!expected || payload?.email !== expected || !verified) {
      throw forbidden('the OIDC token is not signed for the expected service account');
    }
  }
}
