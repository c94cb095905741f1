import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A raw notification the stand-in accepted. */
export interface ReceivedPush {
  channelId: string;
  body: string;
  headers: { contentType: string; wnsType: string; cachePolicy: string };
}

export interface FakeWnsOptions {
  /** The Package SID and secret the token endpoint accepts (`client_id` is `ms-app://<sid>`). */
  packageSid: string;
  clientSecret: string;
  /** Lifetime the token endpoint reports, in seconds. */
  tokenLifetimeSeconds?: number;
}

interface Channel {
  pfn: string;
  expired: boolean;
  onPush?: () => void;
}

const tokenPath = '/accesstoken.srf';
const channelPrefix = '/w/';

function equalSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A local stand-in for WNS on 127.0.0.1, speaking its wire format: the OAuth token endpoint
 * (`POST /accesstoken.srf`, form client credentials, JSON answer) and channel endpoints
 * (`POST /w/<id>` with `Authorization: Bearer`, `X-WNS-Type: wns/raw`: 200 received, 401 bad or
 * revoked token, 410 expired channel, 404 unknown channel, 400 malformed). PCs (the simulator)
 * register a channel for a PFN and are called back on each accepted push.
 */
export class FakeWnsServer {
  /** Every accepted push, oldest first. */
  readonly pushes: ReceivedPush[] = [];
  /** Every request to a channel (accepted or not): channel id and the status answered. */
  readonly channelRequests: { channelId: string; status: number }[] = [];
  /** How many tokens were handed out. */
  tokensIssued = 0;
  private readonly tokens = new Set<string>();
  private readonly channels = new Map<string, Channel>();
  private readonly waiters: { channelId: string; resolve: (p: ReceivedPush) => void }[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly opts: FakeWnsOptions,
  ) {}

  static async start(opts: FakeWnsOptions): Promise<FakeWnsServer> {
    const holder: { self?: FakeWnsServer } = {};
    const server = createServer((req, res) => void holder.self?.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    holder.self = new FakeWnsServer(server, `http://127.0.0.1:${port}`, opts);
    return holder.self;
  }

  get tokenUrl(): string {
    return this.url + tokenPath;
  }

  /** What a PC gets from Windows when its DMClient registers a PFN: a fresh ChannelURI. */
  registerChannel(pfn: string, onPush?: () => void): string {
    const id = randomBytes(12).toString('hex');
    this.channels.set(id, { pfn, expired: false, onPush });
    return `${this.url}${channelPrefix}${id}`;
  }

  /** The channel stops accepting pushes (WNS answers 410 from now on). */
  expireChannel(channelUri: string): void {
    const c = this.channels.get(channelIdOf(channelUri));
    if (c) c.expired = true;
  }

  /** Every token handed out so far is rejected from now on (the next push gets 401). */
  revokeTokens(): void {
    this.tokens.clear();
  }

  /** Accepted pushes to one channel. */
  pushesTo(channelUri: string): ReceivedPush[] {
    const id = channelIdOf(channelUri);
    return this.pushes.filter((p) => p.channelId === id);
  }

  /** Resolves with the next push accepted for this channel (or one already accepted, if `after` is lower). */
  waitForPush(channelUri: string, after = this.pushesTo(channelUri).length): Promise<ReceivedPush> {
    const id = channelIdOf(channelUri);
    const seen = this.pushes.filter((p) => p.channelId === id);
    if (seen.length > after) return Promise.resolve(seen[after]);
    return new Promise((resolve) => this.waiters.push({ channelId: id, resolve }));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'POST' && path === tokenPath) return this.token(req, body, res);
    if (req.method === 'POST' && path.startsWith(channelPrefix)) return this.push(req, path, body, res);
    res.writeHead(404).end();
  }

  private token(req: IncomingMessage, body: string, res: ServerResponse): void {
    const form = new URLSearchParams(body);
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    };
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
      return json(400, { error: 'invalid_request' });
    if (form.get('grant_type') !== 'client_credentials' || form.get('scope') !== 'notify.windows.com')
      return json(400, { error: 'invalid_request' });
    const sidOk = equalSecret(form.get('client_id') ?? '', `ms-app://${this.opts.packageSid}`);
    const secretOk = equalSecret(form.get('client_secret') ?? '', this.opts.clientSecret);
    if (!sidOk || !secretOk) return json(400, { error: 'invalid_client' });
    const token = randomBytes(24).toString('base64url');
    this.tokens.add(token);
    this.tokensIssued++;
    return json(200, {
      token_type: 'bearer',
      access_token: token,
      expires_in: this.opts.tokenLifetimeSeconds ?? 86_400,
    });
  }

  private push(req: IncomingMessage, path: string, body: string, res: ServerResponse): void {
    const id = path.slice(channelPrefix.length);
    const answer = (status: number) => {
      this.channelRequests.push({ channelId: id, status });
      res.writeHead(status, { 'x-wns-status': status === 200 ? 'received' : 'dropped' }).end();
    };
    const channel = this.channels.get(id);
    if (!channel) return answer(404);
    const auth = String(req.headers.authorization ?? '');
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!token || !this.tokens.has(token)) return answer(401);
    const headers = {
      contentType: String(req.headers['content-type'] ?? ''),
      wnsType: String(req.headers['x-wns-type'] ?? ''),
      cachePolicy: String(req.headers['x-wns-cache-policy'] ?? ''),
    };
    if (headers.wnsType !== 'wns/raw' || headers.contentType !== 'application/octet-stream')
      return answer(400);
    if (channel.expired) return answer(410);
    const push: ReceivedPush = { channelId: id, body, headers };
    this.pushes.push(push);
    answer(200);
    for (const w of this.waiters.filter((x) => x.channelId === id)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve(push);
    }
    channel.onPush?.();
  }
}

function channelIdOf(channelUri: string): string {
  const path = new URL(channelUri).pathname;
  return path.startsWith(channelPrefix) ? path.slice(channelPrefix.length) : '';
}
