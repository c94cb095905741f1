import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DepCredentials } from './client.js';
import type { DepDevice, DepProfile } from './types.js';

/** One ABM organisation (one server token) the stand-in serves. */
interface Account {
  orgName: string;
  credentials: DepCredentials;
  /** Serial → device as currently assigned to this MDM server. */
  devices: Map<string, DepDevice>;
  /** Every change, in order; sync cursors point into it. */
  events: DepDevice[];
  profiles: Map<string, DepProfile>;
}

/** What a cursor stands for: a fetch snapshot being paged, or a position in the change log. */
interface Cursor {
  account: Account;
  kind: 'fetch' | 'sync';
  /** Fetch: the serials of the snapshot and how many were returned so far. */
  snapshot: string[];
  offset: number;
  /** Index in `events` this cursor has seen up to. */
  eventIndex: number;
}

export interface RecordedDepRequest {
  method: string;
  path: string;
  orgName?: string;
  body: unknown;
}

/** RFC 3986 percent-encoding, as OAuth 1.0a signs with. */
function pct(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function parseOAuthHeader(header: string | undefined): Record<string, string> | undefined {
  if (!header?.startsWith('OAuth ')) return undefined;
  const out: Record<string, string> = {};
  for (const m of header.slice(6).matchAll(/([a-z_]+)="([^"]*)"/g)) out[m[1]!] = decodeURIComponent(m[2]!);
  return out;
}

/**
 * A local stand-in for Apple's DEP API (mdmenrollment.apple.com): OAuth 1.0a-signed `/session`
 * (signature checked here with its own HMAC-SHA1, independently of the client's library),
 * `X-ADM-Auth-Session` sessions, fetch and sync cursors with paging (default 100, at most 1000),
 * op types, profiles, assignment with per-serial results, and failures on demand: THROTTLED,
 * T_C_NOT_SIGNED, expired cursors and sessions, revoked tokens, and error pages.
 */
export class FakeDepServer {
  readonly requests: RecordedDepRequest[] = [];
  /** Every API call answers 403 T_C_NOT_SIGNED while true (new terms in ABM not accepted). */
  termsNotSigned = false;
  /** Organisations (by name) whose API calls answer 403 T_C_NOT_SIGNED, the others unaffected. */
  readonly termsNotSignedOrgs = new Set<string>();
  /** Hands out a new session token in `X-ADM-Auth-Session` on every answer, as Apple may. */
  rotateSessions = false;
  /** Per-serial assignment result to force (FAILED, THROTTLED, NOT_ACCESSIBLE). */
  readonly assignResults = new Map<string, string>();
  private readonly accounts = new Map<string, Account>();
  private readonly sessions = new Map<string, Account>();
  private readonly cursors = new Map<string, Cursor>();
  private readonly seenNonces = new Set<string>();
  private readonly overrides: { status: number; body: string; contentType: string }[] = [];
  private clock = Date.parse('2026-01-01T00:00:00Z');

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeDepServer> {
    const holder: { self?: FakeDepServer } = {};
    const server = createServer((req, res) => {
      void holder.self!.handle(req, res).catch((err: Error) => {
        res.statusCode = 500;
        res.end(err.message);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    holder.self = new FakeDepServer(server, `http://127.0.0.1:${port}`);
    return holder.self;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A new ABM organisation; its credentials are what the server token (.p7m) would carry. */
  addAccount(orgName: string, expiry = '2099-01-01T00:00:00Z'): DepCredentials {
    const credentials: DepCredentials = {
      consumer_key: `CK_${randomBytes(8).toString('hex')}`,
      consumer_secret: `CS_${randomBytes(8).toString('hex')}`,
      access_token: `AT_${randomBytes(8).toString('hex')}`,
      access_secret: `AS_${randomBytes(8).toString('hex')}`,
      access_token_expiry: expiry,
    };
    this.accounts.set(credentials.consumer_key, {
      orgName,
      credentials,
      devices: new Map(),
      events: [],
      profiles: new Map(),
    });
    return credentials;
  }

  /** Expires or revokes a token: `/session` refuses it from now on. */
  expireToken(consumerKey: string): void {
    const a = this.accounts.get(consumerKey);
    if (a) a.credentials.access_token_expiry = '2000-01-01T00:00:00Z';
  }

  /** Assigns devices to this server in ABM (an `added` event each). */
  addDevices(consumerKey: string, devices: DepDevice[]): void {
    const a = this.account(consumerKey);
    for (const d of devices) {
      const record = { profile_status: 'empty', ...d };
      a.devices.set(d.serial_number, record);
      a.events.push({ ...record, op_type: 'added', op_date: this.tick() });
    }
  }

  /** Changes a device (a `modified` event), e.g. moved between MDM servers or given a deadline. */
  modifyDevice(consumerKey: string, serial: string, change: Partial<DepDevice>): void {
    const a = this.account(consumerKey);
    const record = { ...(a.devices.get(serial) ?? { serial_number: serial }), ...change };
    a.devices.set(serial, record);
    a.events.push({ ...record, op_type: 'modified', op_date: this.tick() });
  }

  /** Unassigns a device from this server in ABM (a `deleted` event). */
  deleteDevice(consumerKey: string, serial: string): void {
    const a = this.account(consumerKey);
    const record = a.devices.get(serial) ?? { serial_number: serial };
    a.devices.delete(serial);
    a.events.push({ ...record, op_type: 'deleted', op_date: this.tick() });
  }

  /** The device as the stand-in holds it (its assigned profile, status). */
  device(consumerKey: string, serial: string): DepDevice | undefined {
    return this.account(consumerKey).devices.get(serial);
  }

  profile(consumerKey: string, profileUuid: string): DepProfile | undefined {
    return this.account(consumerKey).profiles.get(profileUuid);
  }

  /** Apple forgets every cursor (they expire after about 7 days). */
  expireCursors(): void {
    this.cursors.clear();
  }

  /** Drops every session: the next call gets 401 and the client must authenticate again. */
  expireSessions(): void {
    this.sessions.clear();
  }

  /** The next API answers (after authentication) are these instead (error pages, garbage). */
  overrideNext(status: number, body: string, contentType = 'text/html'): void {
    this.overrides.push({ status, body, contentType });
  }

  private account(consumerKey: string): Account {
    const a = this.accounts.get(consumerKey);
    if (!a) throw new Error(`no account ${consumerKey}`);
    return a;
  }

  private tick(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString().replace('.000Z', 'Z');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json;charset=UTF8', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (url.pathname === '/session' && req.method === 'GET') return this.session(req, url, send);

    const session = String(req.headers['x-adm-auth-session'] ?? '');
    const account = this.sessions.get(session);
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      return send(400, { code: 'MALFORMED_REQUEST_BODY' });
    }
    this.requests.push({ method: req.method ?? '', path: url.pathname, orgName: account?.orgName, body });
    if (!account) return send(401, 'UNAUTHORIZED');
    const override = this.overrides.shift();
    if (override) {
      res.writeHead(override.status, { 'content-type': override.contentType });
      return void res.end(override.body);
    }
    if (this.termsNotSigned || this.termsNotSignedOrgs.has(account.orgName))
      return send(403, { code: 'T_C_NOT_SIGNED' });
    const headers: Record<string, string> = {};
    if (this.rotateSessions) {
      this.sessions.delete(session);
      const next = randomUUID();
      this.sessions.set(next, account);
      headers['x-adm-auth-session'] = next;
    }
    const reply = (status: number, payload: unknown) => send(status, payload, headers);
    const b = (body ?? {}) as Record<string, unknown>;
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /account':
        return reply(200, {
          server_name: 'Flotilla',
          server_uuid: randomUUID().toUpperCase(),
          admin_id: `admin@${account.orgName.toLowerCase().replace(/\W+/g, '')}.example`,
          facilitator_id: `facilitator@${account.orgName.toLowerCase().replace(/\W+/g, '')}.example`,
          org_name: account.orgName,
          org_email: 'it@example.com',
          org_phone: '+1 555 0100',
          org_address: '1 Infinite Loop',
          org_type: 'org',
          org_version: 'v2',
        });
      case 'POST /server/devices':
        return this.fetch(account, b, reply);
      case 'POST /devices/sync':
        return this.sync(account, b, reply);
      case 'POST /devices': {
        const serials = Array.isArray(b.devices) ? (b.devices as string[]) : [];
        const devices: Record<string, unknown> = {};
        for (const s of serials) {
          const d = account.devices.get(s);
          devices[s] = d ? { ...d, response_status: 'SUCCESS' } : { response_status: 'NOT_ACCESSIBLE' };
        }
        return reply(200, { devices });
      }
      case 'POST /profile': {
        if (typeof b.profile_name !== 'string' || typeof b.url !== 'string')
          return reply(400, { code: 'MALFORMED_REQUEST_BODY' });
        const uuid = randomBytes(16).toString('hex').toUpperCase();
        account.profiles.set(uuid, b as DepProfile);
        const serials = Array.isArray(b.devices) ? (b.devices as string[]) : [];
        return reply(200, { profile_uuid: uuid, devices: this.assign(account, uuid, serials) });
      }
      case 'GET /profile': {
        const uuid = url.searchParams.get('profile_uuid') ?? '';
        const p = account.profiles.get(uuid);
        return p ? reply(200, { ...p, profile_uuid: uuid }) : reply(400, { code: 'PROFILE_NOT_FOUND' });
      }
      case 'PUT /profile/devices':
      case 'POST /profile/devices': {
        const uuid = String(b.profile_uuid ?? '');
        if (!account.profiles.has(uuid)) return reply(400, { code: 'PROFILE_NOT_FOUND' });
        const serials = Array.isArray(b.devices) ? (b.devices as string[]) : [];
        const devices = this.assign(account, uuid, serials);
        const throttled = Object.values(devices).includes('THROTTLED');
        return reply(200, {
          profile_uuid: uuid,
          devices,
          ...(throttled ? { retry_after_seconds: 3600 } : {}),
        });
      }
      case 'DELETE /profile/devices': {
        const serials = Array.isArray(b.devices) ? (b.devices as string[]) : [];
        const devices: Record<string, string> = {};
        for (const s of serials) {
          const d = account.devices.get(s);
          if (d) d.profile_status = 'removed';
          devices[s] = d ? 'SUCCESS' : 'NOT_ACCESSIBLE';
        }
        return reply(200, { devices });
      }
      default:
        return reply(404, { code: 'NOT_FOUND' });
    }
  }

  /** Checks the OAuth 1.0a signature of `/session` and hands out a session token. */
  private session(req: IncomingMessage, url: URL, send: (status: number, body: unknown) => void): void {
    const params = parseOAuthHeader(req.headers.authorization);
    const account = params ? this.accounts.get(params.oauth_consumer_key ?? '') : undefined;
    this.requests.push({ method: 'GET', path: '/session', orgName: account?.orgName, body: undefined });
    if (!params || !account || params.oauth_signature_method !== 'HMAC-SHA1')
      return send(403, 'ACCESS_DENIED');
    const { credentials } = account;
    if (params.oauth_token !== credentials.access_token) return send(403, 'ACCESS_DENIED');
    const base = [
      'GET',
      pct(`${url.origin}${url.pathname}`),
      pct(
        Object.keys(params)
          .filter((k) => k.startsWith('oauth_') && k !== 'oauth_signature')
          .sort()
          .map((k) => `${pct(k)}=${pct(params[k]!)}`)
          .join('&'),
      ),
    ].join('&');
    const key = `${pct(credentials.consumer_secret)}&${pct(credentials.access_secret)}`;
    const expected = createHmac('sha1', key).update(base).digest();
    const got = Buffer.from(params.oauth_signature ?? '', 'base64');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) return send(403, 'ACCESS_DENIED');
    const nonce = `${params.oauth_consumer_key}:${params.oauth_nonce}`;
    if (this.seenNonces.has(nonce)) return send(403, 'ACCESS_DENIED');
    this.seenNonces.add(nonce);
    if (Date.parse(credentials.access_token_expiry ?? '2099-01-01') < Date.now())
      return send(401, 'oauth_problem_adv=token_rejected');
    const token = randomUUID();
    this.sessions.set(token, account);
    send(200, { auth_session_token: token });
  }

  private newCursor(c: Cursor): string {
    const id = randomBytes(24).toString('base64url');
    this.cursors.set(id, c);
    return id;
  }

  private limitOf(b: Record<string, unknown>): number {
    const n = typeof b.limit === 'number' ? b.limit : 100;
    return Math.max(1, Math.min(1000, Math.floor(n)));
  }

  private fetch(account: Account, b: Record<string, unknown>, reply: (s: number, p: unknown) => void): void {
    let cur: Cursor;
    if (typeof b.cursor === 'string' && b.cursor !== '') {
      const found = this.cursors.get(b.cursor);
      if (!found || found.account !== account) return reply(400, { code: 'EXPIRED_CURSOR' });
      if (found.kind !== 'fetch' || found.offset >= found.snapshot.length)
        return reply(400, { code: 'EXHAUSTED_CURSOR' });
      cur = found;
    } else {
      cur = {
        account,
        kind: 'fetch',
        snapshot: [...account.devices.keys()].sort(),
        offset: 0,
        eventIndex: account.events.length,
      };
    }
    const limit = this.limitOf(b);
    const serials = cur.snapshot.slice(cur.offset, cur.offset + limit);
    const offset = cur.offset + serials.length;
    const more = offset < cur.snapshot.length;
    const devices = serials
      .map((s) => account.devices.get(s))
      .filter((d): d is DepDevice => Boolean(d))
      .map(({ op_type: _t, op_date: _d, ...d }) => d);
    const cursor = this.newCursor({ ...cur, offset: more ? offset : cur.snapshot.length });
    reply(200, { devices, cursor, more_to_follow: more, fetched_until: new Date(this.clock).toISOString() });
  }

  private sync(account: Account, b: Record<string, unknown>, reply: (s: number, p: unknown) => void): void {
    const found = typeof b.cursor === 'string' ? this.cursors.get(b.cursor) : undefined;
    if (!found || found.account !== account) return reply(400, { code: 'EXPIRED_CURSOR' });
    const limit = this.limitOf(b);
    const events = account.events.slice(found.eventIndex, found.eventIndex + limit);
    const eventIndex = found.eventIndex + events.length;
    const cursor = this.newCursor({ ...found, kind: 'sync', eventIndex });
    reply(200, {
      devices: events,
      cursor,
      more_to_follow: eventIndex < account.events.length,
      fetched_until: new Date(this.clock).toISOString(),
    });
  }

  private assign(account: Account, profileUuid: string, serials: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const s of serials) {
      const d = account.devices.get(s);
      const forced = this.assignResults.get(s);
      if (forced) out[s] = forced;
      else if (!d) out[s] = 'NOT_ACCESSIBLE';
      else {
        d.profile_uuid = profileUuid;
        d.profile_status = 'assigned';
        d.profile_assign_time = new Date(this.clock).toISOString();
        out[s] = 'SUCCESS';
      }
    }
    return out;
  }
}
