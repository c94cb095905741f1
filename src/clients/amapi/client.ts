import { androidmanagement, type androidmanagement_v1 } from '@googleapis/androidmanagement';
import { DefaultTransporter, JWT } from 'google-auth-library';
import {
  AmapiError,
  type AmapiCommand,
  type AmapiDevice,
  type AmapiEnrollmentToken,
  type AmapiEnterprise,
  type AmapiOperation,
  type AmapiPolicy,
  type AmapiSignupUrl,
  type AndroidManagementClient,
  type EnrollmentTokenRequest,
  type EnterpriseCreateRequest,
  type PushSubscriptionRequest,
  type ServiceAccountKey,
} from './types.js';

export interface GoogleAndroidClientOptions {
  serviceAccount: ServiceAccountKey;
  /** `https://androidmanagement.googleapis.com/` in production; the stand-in's URL in tests. */
  apiUrl: string;
  /** `https://pubsub.googleapis.com/` in production; the stand-in's URL in tests. */
  pubsubApiUrl: string;
  timeoutMs?: number;
  /** How often a 429 / 503 is retried before the error is handed to the caller (default 3). */
  maxRetries?: number;
  /** First back-off wait; doubles per retry (default 1 s). Tests make it small. */
  retryBaseDelayMs?: number;
  /** Upper bound of one wait, even when Google's Retry-After asks for longer (default 30 s). */
  maxRetryDelayMs?: number;
}

const scopes = [
  'https://www.googleapis.com/auth/androidmanagement',
  'https://www.googleapis.com/auth/pubsub',
];

/** The token URLs google-auth-library's JWT flow posts to, whatever the key's `token_uri` says. */
const fixedTokenUrls = new Set([
  'https://www.googleapis.com/oauth2/v4/token',
  'https://oauth2.googleapis.com/token',
]);

type RequestOptions = Parameters<DefaultTransporter['request']>[0];
type Callback<T> = Parameters<DefaultTransporter['request']>[1] & ((err: Error | null, res?: T) => void);

/**
 * gtoken (inside google-auth-library 8) posts the JWT grant to a fixed Google URL and ignores the
 * key's `token_uri`, which Google's other libraries honour. Sending that one URL to `token_uri`
 * makes a key that names another token endpoint (a private Google endpoint, or the local
 * stand-in in tests) work; every other request passes through unchanged.
 */
class TokenUriTransporter extends DefaultTransporter {
  constructor(private readonly tokenUri: string) {
    super();
  }

  override request<T>(opts: RequestOptions): ReturnType<DefaultTransporter['request']> & Promise<T>;
  override request<T>(opts: RequestOptions, callback?: Callback<T>): void;
  override request(opts: RequestOptions, callback?: Callback<unknown>): unknown {
    const target =
      opts.url !== undefined && fixedTokenUrls.has(String(opts.url)) ? { ...opts, url: this.tokenUri } : opts;
    return callback ? super.request(target, callback) : super.request(target);
  }
}

interface GoogleErrorLike {
  response?: { status?: number; data?: unknown; headers?: Record<string, string | undefined> };
  code?: string | number;
  message?: string;
}

/** Google's message from an error answer: AMAPI / Pub/Sub `{error:{message}}` or OAuth `{error, error_description}`. */
function googleMessage(data: unknown): string {
  if (typeof data === 'string') {
    try {
      return googleMessage(JSON.parse(data) as unknown);
    } catch {
      // A proxy's plain-text error says something; an HTML error page does not.
      return data.trimStart().startsWith('<') ? '' : data.slice(0, 200);
    }
  }
  if (!data || typeof data !== 'object') return '';
  const d = data as { error?: unknown; error_description?: unknown };
  if (d.error && typeof d.error === 'object') {
    const message = (d.error as { message?: unknown }).message;
    return typeof message === 'string' ? message : '';
  }
  if (typeof d.error === 'string') {
    return typeof d.error_description === 'string' ? `${d.error}: ${d.error_description}` : d.error;
  }
  return '';
}

/** Retry-After as seconds (Google sends seconds; an HTTP date is accepted too). */
function retryAfter(headers: Record<string, string | undefined> | undefined): number | undefined {
  const raw = headers?.['retry-after'];
  if (!raw) return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * Maps whatever the Google libraries threw to an AmapiError. Messages are built from Google's
 * answer or the socket error code only, never from the library's own text, which can carry the
 * request URL (and with it query parameters such as the one-time enterprise token).
 */
function toAmapiError(err: unknown, call: string): AmapiError {
  if (err instanceof AmapiError) return err;
  const e = (err ?? {}) as GoogleErrorLike;
  const status = e.response?.status;
  if (typeof status === 'number') {
    return new AmapiError(status, googleMessage(e.response?.data), call, retryAfter(e.response?.headers));
  }
  const failure = (err ?? {}) as { name?: unknown; type?: unknown };
  if (failure.type === 'request-timeout' || failure.name === 'AbortError') {
    return new AmapiError(0, 'network error: timeout', call);
  }
  const code = typeof e.code === 'string' ? e.code : undefined;
  return new AmapiError(0, code ? `network error: ${code}` : 'network error', call);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The Android Management API and the Pub/Sub admin calls, with Google's own libraries: the AMAPI
 * surface through `@googleapis/androidmanagement`, Pub/Sub through the same authenticated client's
 * `request()` (its REST v1 paths and bodies), one service-account JWT flow for both scopes.
 */
class GoogleAndroidClient implements AndroidManagementClient {
  readonly projectId: string;
  readonly serviceAccountEmail: string;
  private auth: JWT;
  private api: androidmanagement_v1.Androidmanagement;
  private readonly pubsubUrl: string;
  private readonly timeout: number;

  constructor(private readonly opts: GoogleAndroidClientOptions) {
    const sa = opts.serviceAccount;
    this.projectId = sa.project_id;
    this.serviceAccountEmail = sa.client_email;
    this.timeout = opts.timeoutMs ?? 30_000;
    [this.auth, this.api] = this.session();
    this.pubsubUrl = opts.pubsubApiUrl.endsWith('/') ? opts.pubsubApiUrl : `${opts.pubsubApiUrl}/`;
  }

  /**
   * A JWT auth client and the AMAPI surface on it. google-auth-library 8 keeps using a cached
   * access token until its expiry even after Google refused it, so a refusal (401) replaces the
   * whole session once.
   */
  private session(): [JWT, androidmanagement_v1.Androidmanagement] {
    const sa = this.opts.serviceAccount;
    const auth = new JWT({ email: sa.client_email, key: sa.private_key, keyId: sa.private_key_id, scopes });
    auth.transporter = new TokenUriTransporter(sa.token_uri);
    // Retries are ours (bounded, Retry-After aware, for POSTs too), so the library's are off.
    const api = androidmanagement({
      version: 'v1',
      auth,
      rootUrl: this.opts.apiUrl,
      retry: false,
      timeout: this.timeout,
    });
    return [auth, api];
  }

  async signupUrlsCreate(callbackUrl: string): Promise<AmapiSignupUrl> {
    const data = await this.call('signupUrls.create', () =>
      this.api.signupUrls.create({ projectId: this.projectId, callbackUrl }),
    );
    return { name: data.name ?? '', url: data.url ?? '' };
  }

  async enterprisesCreate(req: EnterpriseCreateRequest): Promise<AmapiEnterprise> {
    const data = await this.call('enterprises.create', () =>
      this.api.enterprises.create({
        projectId: this.projectId,
        enterpriseToken: req.enterpriseToken,
        signupUrlName: req.signupUrlName,
        requestBody: { pubsubTopic: req.pubsubTopic, enabledNotificationTypes: req.enabledNotificationTypes },
      }),
    );
    return data as AmapiEnterprise;
  }

  async enterprisesDelete(enterpriseName: string): Promise<void> {
    await this.call('enterprises.delete', () => this.api.enterprises.delete({ name: enterpriseName }));
  }

  async enterprisesList(): Promise<string[]> {
    const names: string[] = [];
    let pageToken: string | undefined;
    do {
      const data = await this.call('enterprises.list', () =>
        this.api.enterprises.list({ projectId: this.projectId, pageSize: 100, pageToken }),
      );
      for (const e of data.enterprises ?? []) if (e.name) names.push(e.name);
      pageToken = data.nextPageToken ?? undefined;
    } while (pageToken);
    return names;
  }

  async policiesPatch(
    policyName: string,
    policy: AmapiPolicy,
  ): Promise<AmapiPolicy & { name: string; version: string }> {
    const data = await this.call('policies.patch', () =>
      this.api.enterprises.policies.patch({
        name: policyName,
        requestBody: policy as androidmanagement_v1.Schema$Policy,
      }),
    );
    return { ...(data as AmapiPolicy), name: data.name ?? policyName, version: String(data.version ?? '') };
  }

  async devicesGet(deviceName: string): Promise<AmapiDevice> {
    return (await this.call('devices.get', () =>
      this.api.enterprises.devices.get({ name: deviceName }),
    )) as AmapiDevice;
  }

  async devicesPatch(
    deviceName: string,
    device: Partial<AmapiDevice>,
    updateMask: string,
  ): Promise<AmapiDevice> {
    return (await this.call('devices.patch', () =>
      this.api.enterprises.devices.patch({
        name: deviceName,
        updateMask,
        requestBody: device as androidmanagement_v1.Schema$Device,
      }),
    )) as AmapiDevice;
  }

  async devicesDelete(
    deviceName: string,
    opts: { wipeDataFlags?: string[]; wipeReasonMessage?: string } = {},
  ): Promise<void> {
    await this.call('devices.delete', () =>
      this.api.enterprises.devices.delete({
        name: deviceName,
        wipeDataFlags: opts.wipeDataFlags,
        wipeReasonMessage: opts.wipeReasonMessage,
      }),
    );
  }

  async devicesList(
    enterpriseName: string,
    pageToken?: string,
  ): Promise<{ devices: AmapiDevice[]; nextPageToken?: string }> {
    const data = await this.call('devices.list', () =>
      this.api.enterprises.devices.list({ parent: enterpriseName, pageSize: 100, pageToken }),
    );
    return {
      devices: (data.devices ?? []) as AmapiDevice[],
      ...(data.nextPageToken ? { nextPageToken: data.nextPageToken } : {}),
    };
  }

  async devicesIssueCommand(deviceName: string, command: AmapiCommand): Promise<AmapiOperation> {
    return (await this.call('devices.issueCommand', () =>
      this.api.enterprises.devices.issueCommand({
        name: deviceName,
        requestBody: command as androidmanagement_v1.Schema$Command,
      }),
    )) as AmapiOperation;
  }

  async operationsGet(operationName: string): Promise<AmapiOperation> {
    return (await this.call('operations.get', () =>
      this.api.enterprises.devices.operations.get({ name: operationName }),
    )) as AmapiOperation;
  }

  async enrollmentTokensCreate(
    enterpriseName: string,
    token: EnrollmentTokenRequest,
  ): Promise<AmapiEnrollmentToken> {
    return (await this.call('enrollmentTokens.create', () =>
      this.api.enterprises.enrollmentTokens.create({ parent: enterpriseName, requestBody: token }),
    )) as AmapiEnrollmentToken;
  }

  async pubsubCreateTopic(topicId: string, opts: { messageRetentionDuration: string }): Promise<string> {
    const name = `projects/${this.projectId}/topics/${topicId}`;
    const data = await this.pubsub<{ name?: string }>('pubsub.topics.create', 'PUT', name, {
      messageRetentionDuration: opts.messageRetentionDuration,
    });
    return data.name ?? name;
  }

  /** Read-modify-write of the topic's IAM policy; the etag makes a concurrent change fail, not vanish. */
  async pubsubGrantTopicRole(topicName: string, role: string, member: string): Promise<void> {
    interface IamPolicy {
      version?: number;
      etag?: string;
      bindings?: { role: string; members?: string[] }[];
    }
    const policy = await this.pubsub<IamPolicy>(
      'pubsub.topics.getIamPolicy',
      'GET',
      `${topicName}:getIamPolicy`,
    );
    const bindings = [...(policy.bindings ?? [])];
    const existing = bindings.find((b) => b.role === role);
    if (existing?.members?.includes(member)) return;
    if (existing) existing.members = [...(existing.members ?? []), member];
    else bindings.push({ role, members: [member] });
    await this.pubsub('pubsub.topics.setIamPolicy', 'POST', `${topicName}:setIamPolicy`, {
      policy: { ...policy, bindings },
    });
  }

  async pubsubCreatePushSubscription(req: PushSubscriptionRequest): Promise<string> {
    const name = `projects/${this.projectId}/subscriptions/${req.subscriptionId}`;
    const data = await this.pubsub<{ name?: string }>('pubsub.subscriptions.create', 'PUT', name, {
      topic: req.topicName,
      ackDeadlineSeconds: req.ackDeadlineSeconds,
      pushConfig: {
        pushEndpoint: req.pushEndpoint,
        ...(req.oidcToken ? { oidcToken: req.oidcToken } : {}),
      },
    });
    return data.name ?? name;
  }

  async pubsubDeleteSubscription(subscriptionName: string): Promise<void> {
    await this.pubsub('pubsub.subscriptions.delete', 'DELETE', subscriptionName);
  }

  async pubsubDeleteTopic(topicName: string): Promise<void> {
    await this.pubsub('pubsub.topics.delete', 'DELETE', topicName);
  }

  private pubsub<T>(call: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown) {
    return this.call(call, () =>
      this.auth.request<T>({
        url: `${this.pubsubUrl}v1/${path}`,
        method,
        ...(body === undefined ? {} : { data: body }),
        retry: false,
        timeout: this.timeout,
        responseType: 'json',
      }),
    );
  }

  /**
   * One Google call with bounded retries of 429 / 503: exponential back-off from the base delay,
   * or Google's Retry-After when it says more, each wait capped. A 304 (which the library lets
   * through as success) becomes AmapiError(304) so callers can see "already exists".
   */
  private async call<T>(call: string, send: () => Promise<{ status: number; data: T }>): Promise<T> {
    const maxRetries = this.opts.maxRetries ?? 3;
    const base = this.opts.retryBaseDelayMs ?? 1000;
    const cap = this.opts.maxRetryDelayMs ?? 30_000;
    let renewed = false;
    for (let attempt = 0; ; attempt++) {
      let error: AmapiError;
      try {
        const res = await send();
        if (res.status === 304) throw new AmapiError(304, '', call);
        return res.data;
      } catch (err) {
        error = toAmapiError(err, call);
      }
      if (error.status === 401 && !renewed) {
        renewed = true;
        [this.auth, this.api] = this.session();
        continue;
      }
      if (!error.retryable || attempt >= maxRetries) throw error;
      const backoff = base * 2 ** attempt;
      await sleep(Math.min(cap, Math.max(backoff, (error.retryAfterSeconds ?? 0) * 1000)));
    }
  }
}

/** The Google implementation of AndroidManagementClient for one service account. */
export function createGoogleAndroidClient(opts: GoogleAndroidClientOptions): AndroidManagementClient {
  return new GoogleAndroidClient(opts);
}
