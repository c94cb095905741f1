import { createHash } from 'node:crypto';
import { DepClient, type DepCredentials } from '../../clients/dep/client.js';

/**
 * One DepClient per ABM token, kept between syncs so Apple's session (held in the client's memory,
 * as NanoDEP keeps it) is reused. A renewed token or another base URL gets a new client.
 */
export class DepClientPool {
  private readonly clients = new Map<number, { key: string; client: DepClient }>();

  constructor(
    private readonly defaultBaseUrl: string,
    private readonly opts: { timeoutMs?: number; protocolVersion?: number } = {},
  ) {}

  private static key(creds: DepCredentials, baseUrl: string): string {
    return createHash('sha256')
      .update(
        [creds.consumer_key, creds.consumer_secret, creds.access_token, creds.access_secret, baseUrl].join(
          '\n',
        ),
      )
      .digest('hex');
  }

  /** The client of a stored token (base URL: the name's override, else the configured one). */
  forToken(tokenId: number, creds: DepCredentials, baseUrl?: string | null): DepClient {
    const url = baseUrl || this.defaultBaseUrl;
    const key = DepClientPool.key(creds, url);
    const have = this.clients.get(tokenId);
    if (have && have.key === key) return have.client;
    const client = this.oneOff(creds, url);
    this.clients.set(tokenId, { key, client });
    return client;
  }

  /** A client for credentials not stored yet (an upload or a renewal being checked). */
  oneOff(creds: DepCredentials, baseUrl?: string | null): DepClient {
    return new DepClient({
      baseUrl: baseUrl || this.defaultBaseUrl,
      credentials: creds,
      timeoutMs: this.opts.timeoutMs,
      protocolVersion: this.opts.protocolVersion,
    });
  }

  forget(tokenId: number): void {
    this.clients.delete(tokenId);
  }
}
