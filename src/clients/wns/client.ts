/**
 * Windows Push Notification Service (WNS): raw notifications that make a Windows PC start an
 * OMA-DM session at once instead of at its next poll. Two HTTP calls: an OAuth client-credentials
 * token (cached until shortly before it expires), then one POST to the PC's ChannelURI.
 */

/** What one push came to. `channelExpired`: WNS answered 410, the stored ChannelURI is dead. */
export type WnsPushOutcome =
  | { ok: true; status: number }
  | { ok: false; status?: number; reason: string; channelExpired?: boolean; refused?: boolean };

export interface WnsClient {
  /** Sends one raw notification to a ChannelURI; never throws. */
  sendRaw(channelUri: string): Promise<WnsPushOutcome>;
}

/** Which ChannelURIs may be contacted: WNS hands out https URIs on notify.windows.com. */
export interface ChannelUriPolicy {
  /** Host suffixes (`notify.windows.com` allows it and every subdomain). */
  allowedHosts: string[];
  /** Accept http as well as https (tests with a loopback stand-in only). */
  allowHttp: boolean;
}

/**
 * Why a ChannelURI must not be contacted, or undefined when it may be. A PC reports the URI, so
 * it is untrusted input: anything but https on an allowed host would make us send a bearer token
 * (and a request) wherever a device says.
 */
export function channelUriRefusal(uri: string, policy: ChannelUriPolicy): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'channel URI is not a URL';
  }
  if (u.protocol !== 'https:' && !(policy.allowHttp && u.protocol === 'http:'))
    return 'channel URI is not https';
  if (u.username || u.password) return 'channel URI carries credentials';
  const host = u.hostname.toLowerCase().replace(/\.$/, '');
  const allowed = policy.allowedHosts.some((h) => host === h || host.endsWith(`.${h}`));
  return allowed ? undefined : 'channel URI host is not an allowed WNS host';
}

export interface HttpWnsClientOptions extends ChannelUriPolicy {
  /** Package SID from Partner Center; `ms-app://` is added when missing. */
  packageSid: string;
  clientSecret: string;
  tokenUrl: string;
  /** Per-request time limit. */
  timeoutMs?: number;
  /** Refresh this long before the token's reported expiry. */
  expiryMarginMs?: number;
  clock?: () => number;
}

/** The raw notification's body: the PC only wakes up, it does not read it. */
const rawPayload = 'flotilla';
const appScheme = 'ms-app://';

class WnsTokenError extends Error {}

/** WNS over `fetch`: token cache, one refresh on 401, 410 reported as an expired channel. */
export class HttpWnsClient implements WnsClient {
  private token: { value: string; expiresAt: number } | undefined;
  /** A token request in flight, shared by concurrent pushes. */
  private fetching: Promise<string> | undefined;
  private readonly clock: () => number;

  constructor(private readonly opts: HttpWnsClientOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  async sendRaw(channelUri: string): Promise<WnsPushOutcome> {
    const refusal = channelUriRefusal(channelUri, this.opts);
    if (refusal) return { ok: false, reason: refusal, refused: true };
    try {
      let token = await this.accessToken();
      let status = await this.post(channelUri, token);
      if (status === 401) {
        // Revoked or expired early: one fresh token, one more try.
        token = await this.refresh(token);
        status = await this.post(channelUri, token);
      }
      if (status === 200) return { ok: true, status };
      if (status === 410) return { ok: false, status, reason: 'channel expired', channelExpired: true };
      return { ok: false, status, reason: `WNS answered HTTP ${status}` };
    } catch (err) {
      const reason =
        err instanceof WnsTokenError ? err.message : `WNS unreachable: ${(err as Error).name || 'error'}`;
      return { ok: false, reason };
    }
  }

  /** Forgets the cached token (tests, a changed secret). */
  reset(): void {
    this.token = undefined;
  }

  private async accessToken(): Promise<string> {
    if (this.token && this.clock() < this.token.expiresAt) return this.token.value;
    return this.fetchToken();
  }

  /** A token other than `rejected`: the one another push already fetched, or a new one. */
  private async refresh(rejected: string): Promise<string> {
    if (this.token && this.token.value !== rejected && this.clock() < this.token.expiresAt)
      return this.token.value;
    this.token = undefined;
    return this.fetchToken();
  }

  private fetchToken(): Promise<string> {
    this.fetching ??= this.requestToken().finally(() => (this.fetching = undefined));
    return this.fetching;
  }

  private async requestToken(): Promise<string> {
    const sid = this.opts.packageSid.startsWith(appScheme)
      ? this.opts.packageSid
      : appScheme + this.opts.packageSid;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: sid,
      client_secret: this.opts.clientSecret,
      scope: 'notify.windows.com',
    });
    const res = await fetch(this.opts.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
    });
    const text = (await res.text()).slice(0, 64 * 1024);
    // The answer is never quoted: an error body may echo the request, secret included.
    if (res.status !== 200) throw new WnsTokenError(`WNS token request failed: HTTP ${res.status}`);
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new WnsTokenError('WNS token answer is not JSON');
    }
    if (typeof body.access_token !== 'string' || !body.access_token)
      throw new WnsTokenError('WNS token answer has no access_token');
    const seconds = Number(body.expires_in);
    const lifetimeMs = (Number.isFinite(seconds) && seconds > 0 ? seconds : 86_400) * 1000;
    const margin = this.opts.expiryMarginMs ?? 5 * 60_000;
    this.token = {
      value: body.access_token,
      expiresAt: this.clock() + (lifetimeMs > margin ? lifetimeMs - margin : lifetimeMs),
    };
    return body.access_token;
  }

  private async post(channelUri: string, token: string): Promise<number> {
    const res = await fetch(channelUri, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/octet-stream',
        'x-wns-type': 'wns/raw',
        'x-wns-cache-policy': 'cache',
      },
      body: rawPayload,
      // A redirect would take the bearer token to a host the policy never checked.
      redirect: 'manual',
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
    });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  }
}
