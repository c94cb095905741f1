import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeAmapi } from './fakeAmapi.js';
import { AmapiState, type DeletedDevice, type FakeEnterprise, type FakePolicy } from './fakeAmapiState.js';
import { FakeAndroidDevices } from './fakeAndroidDevices.js';
import { createServiceAccount, FakeOidcSigner, FakeTokenIssuer, OAuthError } from './fakeGoogleAuth.js';
import { appendBounded, GoogleHttpError, readBody, sendError, sendJson } from './fakeHttp.js';
import { FakePubsub, type Delivery, type FakeSubscription, type FakeTopic } from './fakePubsub.js';
import type { AmapiDevice, AmapiEnrollmentToken, AmapiOperation, ServiceAccountKey } from './types.js';

export type { Delivery } from './fakePubsub.js';
export type { DeletedDevice } from './fakeAmapiState.js';

export interface RecordedGoogleRequest {
  method: string;
  /** The URL path without the query, with its leading slash: `/v1/enterprises`, `/token`. */
  path: string;
  /** Query parameters; a repeated one (`wipeDataFlags`) is joined with commas. */
  query: Record<string, string>;
  /** Parsed JSON body (the token call's form as an object), or undefined. */
  body: unknown;
}

/**
 * A local stand-in for Google as Flotilla's Android support meets it: the OAuth token endpoint,
 * the Android Management API v1, Pub/Sub's admin REST v1 and push delivery, and Google's OIDC
 * certificates, on one loopback HTTP port, in Google's wire format. State is in memory.
 */
export interface AmapiStandIn {
  /** Base URL with trailing slash: serves AMAPI (v1/...), Pub/Sub (v1/projects/...), the token endpoint and OIDC certs. */
  readonly url: string;
  /** A freshly generated service account the stand-in trusts (project `flotilla-test`, token_uri `${url}token`). */
  readonly serviceAccount: ServiceAccountKey;
  /** `${url}oauth2/v1/certs`: `{kid: PEM certificate}` of the key that signs push OIDC tokens. */
  readonly certsUrl: string;

  readonly enterprises: Map<string, FakeEnterprise>;
  readonly policies: Map<string, FakePolicy>;
  readonly devices: Map<string, AmapiDevice>;
  /** Devices removed with `devices.delete`, with the wipe flags and reason they were given (added). */
  readonly deletedDevices: Map<string, DeletedDevice>;
  readonly operations: Map<string, AmapiOperation>;
  readonly enrollmentTokens: Map<string, AmapiEnrollmentToken>;
  readonly topics: Map<string, FakeTopic>;
  readonly subscriptions: Map<string, FakeSubscription>;
  /** Every request received, oldest first (the oldest are dropped past 50,000). */
  readonly requests: RecordedGoogleRequest[];
  /** Every push made, in order (added). */
  readonly deliveries: Delivery[];
  /** Largest page `enterprises.list` / `devices.list` answer, default 100; tests lower it to see paging (added). */
  maxPageSize: number;

  completeSignup(signupUrlName: string): string;
  failNext(
    call: string,
    status: number,
    opts?: { message?: string; times?: number; retryAfterSeconds?: number },
  ): void;
  /** Every access token issued so far stops working, as after its hour (added). */
  expireAccessTokens(): void;

  enrollDevice(req: {
    tokenValue: string;
    ownership: 'COMPANY_OWNED' | 'PERSONALLY_OWNED';
    hardwareInfo: NonNullable<AmapiDevice['hardwareInfo']>;
    softwareInfo?: AmapiDevice['softwareInfo'];
    memoryInfo?: AmapiDevice['memoryInfo'];
  }): Promise<{ device: AmapiDevice; delivery: Delivery }>;
  policyFor(
    deviceName: string,
  ): { name: string; version: number; policy: Record<string, unknown> } | undefined;
  reportStatus(deviceName: string, patch: Partial<AmapiDevice>): Promise<Delivery>;
  pendingOperations(deviceName: string): AmapiOperation[];
  completeOperation(operationName: string, error?: { code: number; message: string }): Promise<Delivery>;

  publish(enterpriseName: string, notificationType: string, resource: unknown): Promise<Delivery>;
  pushRaw(enterpriseName: string, body: unknown, opts?: { bearer?: string }): Promise<Delivery>;
  setPushTarget(baseUrl: string | undefined): void;
  redeliverUnacked(): Promise<Delivery[]>;
  signOidcToken(claims: Record<string, unknown>): string;
  close(): Promise<void>;
}

interface PlannedFailure {
  status: number;
  message?: string;
  times: number;
  retryAfterSeconds?: number;
}

const amapiScope = 'https://www.googleapis.com/auth/androidmanagement';
const pubsubScope = 'https://www.googleapis.com/auth/pubsub';

/** Pub/Sub REST method ids by HTTP method and path shape, for `failNext`. */
function pubsubCall(method: string, path: string): string {
  const kind = path.includes('/subscriptions/') ? 'subscriptions' : 'topics';
  const verb = /:(getIamPolicy|setIamPolicy)$/.exec(path)?.[1];
  if (verb) return `pubsub.${kind}.${verb}`;
  const byMethod: Record<string, string> = { PUT: 'create', GET: 'get', DELETE: 'delete' };
  return `pubsub.${kind}.${byMethod[method] ?? method.toLowerCase()}`;
}

class StandIn implements AmapiStandIn {
  readonly requests: RecordedGoogleRequest[] = [];
  readonly certsUrl: string;
  private readonly failures = new Map<string, PlannedFailure[]>();

  constructor(
    private readonly server: Server,
    readonly url: string,
    readonly serviceAccount: ServiceAccountKey,
    private readonly tokens: FakeTokenIssuer,
    private readonly oidc: FakeOidcSigner,
    private readonly pubsub: FakePubsub,
    private readonly state: AmapiState,
    private readonly amapi: FakeAmapi,
    private readonly android: FakeAndroidDevices,
  ) {
    this.certsUrl = `${url}oauth2/v1/certs`;
  }

  get enterprises() {
    return this.state.enterprises;
  }
  get policies() {
    return this.state.policies;
  }
  get devices() {
    return this.state.devices;
  }
  get deletedDevices() {
    return this.state.deletedDevices;
  }
  get operations() {
    return this.state.operations;
  }
  get enrollmentTokens() {
    return this.state.enrollmentTokens;
  }
  get topics() {
    return this.pubsub.topics;
  }
  get subscriptions() {
    return this.pubsub.subscriptions;
  }
  get deliveries() {
    return this.pubsub.deliveries;
  }
  get maxPageSize() {
    return this.state.maxPageSize;
  }
  set maxPageSize(n: number) {
    this.state.maxPageSize = n;
  }

  completeSignup(signupUrlName: string): string {
    return this.amapi.completeSignup(signupUrlName);
  }

  failNext(
    call: string,
    status: number,
    opts: { message?: string; times?: number; retryAfterSeconds?: number } = {},
  ) {
    const list = this.failures.get(call) ?? [];
    list.push({
      status,
      message: opts.message,
      times: opts.times ?? 1,
      retryAfterSeconds: opts.retryAfterSeconds,
    });
    this.failures.set(call, list);
  }

  expireAccessTokens(): void {
    this.tokens.expireAll();
  }

  async enrollDevice(req: Parameters<AmapiStandIn['enrollDevice']>[0]) {
    const device = this.android.enroll(req);
    const delivery = await this.publish(this.enterpriseOf(device.name), 'ENROLLMENT', device);
    return { device, delivery };
  }

  policyFor(deviceName: string) {
    return this.android.policyFor(deviceName);
  }

  reportStatus(deviceName: string, patch: Partial<AmapiDevice>): Promise<Delivery> {
    const device = this.android.reportStatus(deviceName, patch);
    return this.publish(this.enterpriseOf(deviceName), 'STATUS_REPORT', device);
  }

  pendingOperations(deviceName: string): AmapiOperation[] {
    return this.android.pendingOperations(deviceName);
  }

  completeOperation(operationName: string, error?: { code: number; message: string }): Promise<Delivery> {
    const op = this.android.completeOperation(operationName, error);
    return this.publish(this.enterpriseOf(operationName), 'COMMAND', op);
  }

  publish(enterpriseName: string, notificationType: string, resource: unknown): Promise<Delivery> {
    const data = Buffer.from(JSON.stringify(resource)).toString('base64');
    return this.pubsub.publish(this.amapi.topicOf(enterpriseName), { notificationType }, data);
  }

  pushRaw(enterpriseName: string, body: unknown, opts?: { bearer?: string }): Promise<Delivery> {
    return this.pubsub.pushRaw(this.amapi.topicOf(enterpriseName), body, opts);
  }

  setPushTarget(baseUrl: string | undefined): void {
    this.pubsub.setPushTarget(baseUrl);
  }

  redeliverUnacked(): Promise<Delivery[]> {
    return this.pubsub.redeliverUnacked();
  }

  signOidcToken(claims: Record<string, unknown>): string {
    return this.oidc.sign(claims);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** `enterprises/E/devices/D[/operations/O]` → `enterprises/E`. */
  private enterpriseOf(name: string): string {
    return name.split('/').slice(0, 2).join('/');
  }

  private plannedFailure(call: string): GoogleHttpError | undefined {
    const list = this.failures.get(call);
    const next = list?.[0];
    if (!next) return undefined;
    if (--next.times <= 0) list.shift();
    return new GoogleHttpError(next.status, next.message, next.retryAfterSeconds);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', this.url);
    const query: Record<string, string> = {};
    for (const [k, v] of u.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    const isForm = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    let body: unknown;
    if (raw) {
      try {
        body = isForm ? Object.fromEntries(new URLSearchParams(raw)) : (JSON.parse(raw) as unknown);
      } catch {
        appendBounded(this.requests, { method, path: u.pathname, query, body: raw });
        sendError(res, new GoogleHttpError(400, 'Invalid JSON payload received.'));
        return;
      }
    }
    appendBounded(this.requests, { method, path: u.pathname, query, body });

    if (u.pathname === '/token' && method === 'POST') {
      const failure = this.plannedFailure('token');
      if (failure) {
        const headers: Record<string, string> =
          failure.retryAfterSeconds !== undefined ? { 'retry-after': String(failure.retryAfterSeconds) } : {};
        sendJson(
          res,
          failure.status,
          { error: 'invalid_grant', error_description: failure.message },
          headers,
        );
        return;
      }
      try {
        sendJson(res, 200, this.tokens.exchange(new URLSearchParams(isForm ? raw : '')));
      } catch (err) {
        if (!(err instanceof OAuthError)) throw err;
        sendJson(res, 400, { error: err.error, error_description: err.description });
      }
      return;
    }
    if (u.pathname === '/oauth2/v1/certs' && method === 'GET') {
      sendJson(res, 200, this.oidc.certs(), { 'cache-control': 'public, max-age=19800' });
      return;
    }
    try {
      if (!u.pathname.startsWith('/v1/')) throw new GoogleHttpError(404, `Not found: ${u.pathname}`);
      const path = u.pathname.slice(4);
      if (path.startsWith('projects/')) {
        this.tokens.check(req.headers.authorization, pubsubScope);
        const failure = this.plannedFailure(pubsubCall(method, path));
        if (failure) throw failure;
        sendJson(res, 200, this.pubsub.handle(method, path, body));
        return;
      }
      const route = this.amapi.route(method, path, query, body);
      this.tokens.check(req.headers.authorization, amapiScope);
      const failure = this.plannedFailure(route.call);
      if (failure) throw failure;
      sendJson(res, 200, route.run());
    } catch (err) {
      if (!(err instanceof GoogleHttpError)) throw err;
      sendError(res, err);
    }
  }
}

export async function startAmapiStandIn(opts: { host?: string } = {}): Promise<AmapiStandIn> {
  const host = opts.host ?? '127.0.0.1';
  const holder: { self?: StandIn } = {};
  const server = createServer((req, res) => {
    const self = holder.self;
    if (!self) {
      res.writeHead(503).end();
      return;
    }
    self.handle(req, res).catch((err: unknown) => {
      const status = err instanceof GoogleHttpError ? err.status : 500;
      if (!res.headersSent) sendError(res, new GoogleHttpError(status, (err as Error).message));
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  const [account, oidc] = await Promise.all([createServiceAccount(url), FakeOidcSigner.create()]);
  const pubsub = new FakePubsub(account.key.project_id, oidc);
  const state = new AmapiState(account.key.project_id);
  const amapi = new FakeAmapi(state, pubsub);
  const tokens = new FakeTokenIssuer(account.key, account.publicKey);
  holder.self = new StandIn(
    server,
    url,
    account.key,
    tokens,
    oidc,
    pubsub,
    state,
    amapi,
    new FakeAndroidDevices(state),
  );
  return holder.self;
}
