import {
  createPublicKey,
  generateKeyPair,
  randomBytes,
  sign as rsaSign,
  verify as rsaVerify,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { selfSignedCertificate } from '../../crypto/issue.js';
import { GoogleHttpError } from './fakeHttp.js';
import type { ServiceAccountKey } from './types.js';

const generateRsa = promisify(generateKeyPair);

/** The token URLs Google's libraries put in a grant's `aud` besides the key's own `token_uri`. */
const googleTokenUrls = ['https://www.googleapis.com/oauth2/v4/token', 'https://oauth2.googleapis.com/token'];

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** A refused token exchange, in OAuth's own error form (not Google's API error JSON). */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
  }
}

/** A fresh service account (RSA 2048) as the Cloud console downloads it, for the stand-in to trust. */
export async function createServiceAccount(
  baseUrl: string,
): Promise<{ key: ServiceAccountKey; publicKey: KeyObject }> {
  const { privateKey, publicKey } = await generateRsa('rsa', { modulusLength: 2048 });
  return {
    publicKey,
    key: {
      type: 'service_account',
      project_id: 'flotilla-test',
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: 'flotilla@flotilla-test.iam.gserviceaccount.com',
      client_id: String(100000000000000000000n + BigInt(`0x${randomBytes(8).toString('hex')}`)),
      token_uri: `${baseUrl}token`,
    },
  };
}

function decodeJwt(jwt: string): {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signed: string;
  signature: Buffer;
} {
  const parts = jwt.split('.');
  if (parts.length !== 3)
    throw new OAuthError(
      'invalid_grant',
      'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
    );
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>,
      claims: JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>,
      signed: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2]!, 'base64url'),
    };
  } catch {
    throw new OAuthError('invalid_grant', 'Invalid JWT: the assertion is not a JWT.');
  }
}

/**
 * Google's OAuth token endpoint for one service account: the JWT-bearer grant (RS256 signature
 * checked against the account's public key, iss, aud, exp) exchanged for an access token, and the
 * check of `Authorization: Bearer` on every other call, scope included.
 */
export class FakeTokenIssuer {
  /** Access token → its scopes and expiry (ms). */
  private readonly tokens = new Map<string, { scopes: Set<string>; expiresAt: number }>();
  /** How many grants were exchanged successfully. */
  grants = 0;

  constructor(
    private readonly account: ServiceAccountKey,
    private readonly publicKey: KeyObject,
  ) {}

  exchange(form: URLSearchParams): { access_token: string; expires_in: number; token_type: 'Bearer' } {
    const grantType = form.get('grant_type');
    if (grantType !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      throw new OAuthError('unsupported_grant_type', `Invalid grant_type: ${grantType ?? ''}`);
    }
    const assertion = form.get('assertion');
    if (!assertion) throw new OAuthError('invalid_request', 'Missing required parameter: assertion');
    const { header, claims, signed, signature } = decodeJwt(assertion);
    if (header.alg !== 'RS256') throw new OAuthError('invalid_grant', 'Invalid JWT: alg must be RS256.');
    if (!rsaVerify('sha256', Buffer.from(signed), this.publicKey, signature)) {
      throw new OAuthError('invalid_grant', 'Invalid JWT Signature.');
    }
    if (claims.iss !== this.account.client_email) {
      throw new OAuthError('invalid_grant', 'Invalid JWT: iss is not a known service account.');
    }
    const audiences = [this.account.token_uri, ...googleTokenUrls];
    if (typeof claims.aud !== 'string' || !audiences.includes(claims.aud)) {
      throw new OAuthError('invalid_grant', 'Invalid JWT: aud is not the token endpoint.');
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = Number(claims.exp);
    const iat = Number(claims.iat);
    if (!Number.isFinite(exp) || !Number.isFinite(iat) || exp <= now || iat > now + 300 || exp - iat > 3600) {
      throw new OAuthError(
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
      );
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    if (!scopes.length)
      throw new OAuthError('invalid_scope', 'Invalid oauth scope or ID token audience provided.');
    const accessToken = `ya29.${b64url(randomBytes(48))}`;
    this.tokens.set(accessToken, { scopes: new Set(scopes), expiresAt: Date.now() + 3600_000 });
    this.grants++;
    return { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' };
  }

  /** Throws Google's 401 / 403 unless `authorization` carries a live token with `scope`. */
  check(authorization: string | undefined, scope: string): void {
    const m = /^Bearer (\S+)$/.exec(authorization ?? '');
    const token = m ? this.tokens.get(m[1]!) : undefined;
    if (!token || token.expiresAt <= Date.now()) throw new GoogleHttpError(401);
    if (!token.scopes.has(scope)) {
      throw new GoogleHttpError(403, 'Request had insufficient authentication scopes.');
    }
  }

  /** Every issued access token stops working (as after an hour): the client must get a new one. */
  expireAll(): void {
    this.tokens.clear();
  }
}

/**
 * The Google key that signs Pub/Sub push OIDC tokens, with its certificate served as Google
 * serves `https://www.googleapis.com/oauth2/v1/certs` (`{kid: PEM certificate}`).
 */
export class FakeOidcSigner {
  private constructor(
    private readonly privateKey: KeyObject,
    readonly kid: string,
    private readonly certPem: string,
  ) {}

  static async create(): Promise<FakeOidcSigner> {
    const { privateKey } = await generateRsa('rsa', { modulusLength: 2048 });
    const cert = selfSignedCertificate({
      privateKey,
      subject: { CN: 'flotilla-test-oidc.googleusercontent.com' },
      hours: 24 * 30,
    });
    return new FakeOidcSigner(privateKey, randomBytes(20).toString('hex'), cert.certPem);
  }

  certs(): Record<string, string> {
    return { [this.kid]: this.certPem };
  }

  publicKeyPem(): string {
    return createPublicKey(this.privateKey).export({ type: 'spki', format: 'pem' }).toString();
  }

  /** An RS256 JWT with `kid`; the claims Google puts in a push token unless overridden. */
  sign(claims: Record<string, unknown>): string {
    const iat = Math.floor(Date.now() / 1000);
    const body = {
      iss: 'https://accounts.google.com',
      sub: '112233445566778899000',
      email_verified: true,
      iat,
      exp: iat + 3600,
      ...claims,
    };
    const signed = `${b64url(JSON.stringify({ alg: 'RS256', kid: this.kid, typ: 'JWT' }))}.${b64url(JSON.stringify(body))}`;
    return `${signed}.${b64url(rsaSign('sha256', Buffer.from(signed), this.privateKey))}`;
  }
}
