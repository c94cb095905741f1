import { createHash } from 'node:crypto';
import http2, { type ClientHttp2Session } from 'node:http2';

/** One MDM wake-up: the device token (hex), its PushMagic and the push topic. */
export interface ApnsPushRequest {
  tokenHex: string;
  pushMagic: string;
  topic: string;
}

/** APNs' answer for one device: `ok` with the `apns-id`, or the HTTP status and `reason`. */
export interface ApnsPushResult {
  tokenHex: string;
  ok: boolean;
  status?: number;
  reason?: string;
  apnsId?: string;
  /** Only with 410 Unregistered: when the token stopped being valid (ms since epoch). */
  timestamp?: number;
}

/** The MDM push certificate and its key, as PEM. */
export interface PushCertificate {
  certPem: string;
  keyPem: string;
}

export interface ApnsClient {
  push(cert: PushCertificate, requests: ApnsPushRequest[]): Promise<ApnsPushResult[]>;
  close(): Promise<void>;
}

export const apnsProductionUrl = 'https://api.push.apple.com';
export const apnsSandboxUrl = 'https://api.sandbox.push.apple.com';

/** `production`, `sandbox` or any https URL (a local stand-in in tests). */
export function resolveApnsBaseUrl(setting: string): string {
  if (setting === 'production') return apnsProductionUrl;
  if (setting === 'sandbox' || setting === 'development') return apnsSandboxUrl;
  return setting.replace(/\/+$/, '');
}

export interface Http2ApnsClientOptions {
  baseUrl: string;
  /** Extra trusted CAs (PEM) for a custom base URL. */
  caPem?: string;
  /** Most streams in flight at once over the session. */
  maxConcurrentStreams?: number;
  /** A push that has no answer after this long fails with reason `Timeout`. */
  requestTimeoutMs?: number;
  /** An idle session is closed after this long; the next push reconnects. */
  idleTimeoutMs?: number;
}

/** Counts permits so at most `max` pushes are in flight. */
class Semaphore {
  private active = 0;
  private waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async acquire(): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

const hexToken = /^[0-9a-f]{2,200}$/;

/**
 * The real APNs client: HTTP/2 over TLS with the push certificate as the client certificate. One
 * session is reused for every push; it is replaced when the certificate changes (renewal) and
 * reopened after GOAWAY, an error or idleness.
 */
export class Http2ApnsClient implements ApnsClient {
  private session?: ClientHttp2Session;
  private sessionCertId = '';
  private readonly limit: Semaphore;
  private readonly baseUrl: string;
  private readonly requestTimeoutMs: number;
  private readonly idleTimeoutMs: number;

  constructor(private readonly opts: Http2ApnsClientOptions) {
    this.baseUrl = resolveApnsBaseUrl(opts.baseUrl);
    this.limit = new Semaphore(Math.max(1, opts.maxConcurrentStreams ?? 100));
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15_000;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  }

  async push(cert: PushCertificate, requests: ApnsPushRequest[]): Promise<ApnsPushResult[]> {
    return Promise.all(
      requests.map(async (r) => {
        const tokenHex = r.tokenHex.toLowerCase();
        if (!hexToken.test(tokenHex)) return { tokenHex: r.tokenHex, ok: false, reason: 'BadDeviceToken' };
        await this.limit.acquire();
        try {
          return await this.pushOne(cert, { ...r, tokenHex });
        } finally {
          this.limit.release();
        }
      }),
    );
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s && !s.closed) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private sessionFor(cert: PushCertificate): ClientHttp2Session {
    const certId = createHash('sha256').update(cert.certPem).update(cert.keyPem).digest('hex');
    const s = this.session;
    if (s && !s.closed && !s.destroyed && this.sessionCertId === certId) return s;
    // A renewed certificate (or a dead session): let in-flight streams finish on the old one.
    if (s && !s.closed) s.close();
    const session = http2.connect(this.baseUrl, {
      cert: cert.certPem,
      key: cert.keyPem,
      ...(this.opts.caPem ? { ca: this.opts.caPem } : {}),
    });
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    session.on('goaway', forget);
    session.on('close', forget);
    session.on('error', forget);
    session.setTimeout(this.idleTimeoutMs, () => session.close());
    this.session = session;
    this.sessionCertId = certId;
    return session;
  }

  private pushOne(cert: PushCertificate, r: ApnsPushRequest): Promise<ApnsPushResult> {
    return new Promise((resolve) => {
      let session: ClientHttp2Session;
      try {
        session = this.sessionFor(cert);
      } catch (err) {
        resolve({ tokenHex: r.tokenHex, ok: false, reason: (err as Error).message });
        return;
      }
      const body = JSON.stringify({ mdm: r.pushMagic });
      const headers: http2.OutgoingHttpHeaders = {
        ':method': 'POST',
        ':path': `/3/device/${r.tokenHex}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'apns-push-type': 'mdm',
        'apns-priority': '10',
      };
      if (r.topic) headers['apns-topic'] = r.topic;
      let settled = false;
      const done = (res: ApnsPushResult) => {
        if (settled) return;
        settled = true;
        resolve(res);
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers);
      } catch (err) {
        done({ tokenHex: r.tokenHex, ok: false, reason: (err as Error).message });
        return;
      }
      let status = 0;
      let apnsId: string | undefined;
      const chunks: Buffer[] = [];
      stream.setTimeout(this.requestTimeoutMs, () => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        done({ tokenHex: r.tokenHex, ok: false, reason: 'Timeout' });
      });
      stream.on('response', (h) => {
        status = Number(h[':status'] ?? 0);
        const id = h['apns-id'];
        apnsId = Array.isArray(id) ? id[0] : id;
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (status === 200) {
          done({ tokenHex: r.tokenHex, ok: true, status, apnsId });
          return;
        }
        let reason = status ? `HTTP ${status}` : 'no response';
        let timestamp: number | undefined;
        try {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            reason?: unknown;
            timestamp?: unknown;
          };
          if (typeof parsed.reason === 'string') reason = parsed.reason;
          if (typeof parsed.timestamp === 'number') timestamp = parsed.timestamp;
        } catch {
          // not JSON: keep the status as the reason
        }
        done({ tokenHex: r.tokenHex, ok: false, status: status || undefined, reason, apnsId, timestamp });
      });
      stream.on('error', (err) => done({ tokenHex: r.tokenHex, ok: false, reason: err.message }));
      stream.on('close', () => {
        if (!settled)
          done({ tokenHex: r.tokenHex, ok: false, reason: `stream closed (code ${stream.rstCode})` });
      });
      stream.end(body);
    });
  }
}
