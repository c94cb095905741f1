import type { FakeOidcSigner } from './fakeGoogleAuth.js';
import { appendBounded, GoogleHttpError, parseDurationSeconds } from './fakeHttp.js';

/** One push to one endpoint and what the endpoint answered (status 0: no HTTP answer at all). */
export interface Delivery {
  messageId: string;
  endpoint: string;
  status: number;
  body: string;
}

export interface FakeTopic {
  name: string;
  iam: { role: string; members: string[] }[];
  messageRetentionDuration?: string;
}

export interface FakeSubscription {
  name: string;
  topic: string;
  pushEndpoint: string;
  ackDeadlineSeconds: number;
  oidcToken?: { serviceAccountEmail: string; audience: string };
}

interface Unacked {
  subscription: string;
  messageId: string;
  body: string;
}

/** Pub/Sub's push agent identifies itself so. */
const pushUserAgent = 'APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)';

const resourceId = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;

/**
 * Google Cloud Pub/Sub as AMAPI's notifications travel through it: the admin REST calls Flotilla
 * makes (topics, their IAM policy, push subscriptions) and push delivery, with an OIDC token on
 * the push when the subscription asks for one, and redelivery of what an endpoint did not ack.
 */
export class FakePubsub {
  readonly topics = new Map<string, FakeTopic>();
  readonly subscriptions = new Map<string, FakeSubscription>();
  /** Every push made, in order (the oldest are dropped past 50,000). */
  readonly deliveries: Delivery[] = [];
  private readonly unacked: Unacked[] = [];
  private readonly etags = new Map<string, number>();
  private pushTarget: string | undefined;
  private nextMessageId = 1_000_000_000 + Math.floor(Math.random() * 1_000_000);

  constructor(
    private readonly projectId: string,
    private readonly oidc: FakeOidcSigner,
  ) {}

  setPushTarget(baseUrl: string | undefined): void {
    this.pushTarget = baseUrl;
  }

  /** Answers a Pub/Sub REST v1 call (`path` without the `v1/` prefix); throws GoogleHttpError. */
  handle(method: string, path: string, body: unknown): unknown {
    const m = /^projects\/([^/]+)\/(topics|subscriptions)\/([^/:]+)(?::(getIamPolicy|setIamPolicy))?$/.exec(
      path,
    );
    if (!m) throw new GoogleHttpError(404, `Method not found: ${method} v1/${path}`);
    const [, project, kind, id, verb] = m as unknown as [string, string, string, string, string | undefined];
    if (project !== this.projectId)
      throw new GoogleHttpError(403, 'User not authorized to perform this action.');
    const name = `projects/${project}/${kind}/${id}`;
    if (!resourceId.test(id) || id.startsWith('goog')) {
      throw new GoogleHttpError(400, `Invalid resource name given (name=${name}).`);
    }
    const b = (body ?? {}) as Record<string, unknown>;
    if (kind === 'topics') {
      if (verb === 'getIamPolicy' && (method === 'GET' || method === 'POST'))
        return this.iamPolicy(this.topic(name));
      if (verb === 'setIamPolicy' && method === 'POST') return this.setIamPolicy(this.topic(name), b.policy);
      if (verb) throw new GoogleHttpError(404, `Method not found: ${method} v1/${path}`);
      if (method === 'PUT') return this.createTopic(name, b);
      if (method === 'GET') return this.topicResource(this.topic(name));
      if (method === 'DELETE') return this.deleteTopic(name);
    } else if (!verb) {
      if (method === 'PUT') return this.createSubscription(name, b);
      if (method === 'GET') return this.subscriptionResource(this.subscription(name));
      if (method === 'DELETE') return this.deleteSubscription(name);
    }
    throw new GoogleHttpError(404, `Method not found: ${method} v1/${path}`);
  }

  /** Publishes one message to every push subscription of the topic; the first delivery is answered. */
  async publish(
    topic: string | undefined,
    attributes: Record<string, string>,
    data: string,
  ): Promise<Delivery> {
    const messageId = String(this.nextMessageId++);
    const publishTime = new Date().toISOString();
    const subs = [...this.subscriptions.values()].filter((s) => topic !== undefined && s.topic === topic);
    if (!subs.length) return { messageId, endpoint: '', status: 0, body: 'no push subscription' };
    const deliveries = await Promise.all(
      subs.map(async (sub) => {
        const body = JSON.stringify({
          message: {
            attributes,
            data,
            messageId,
            message_id: messageId,
            publishTime,
            publish_time: publishTime,
          },
          subscription: sub.name,
        });
        const delivery = await this.deliver(sub, messageId, body);
        if (!acked(delivery.status)) this.unacked.push({ subscription: sub.name, messageId, body });
        return delivery;
      }),
    );
    return deliveries[0]!;
  }

  /** Posts `body` as it is to the topic's push endpoints (OIDC as configured unless `bearer` is given). */
  async pushRaw(topic: string | undefined, body: unknown, opts: { bearer?: string } = {}): Promise<Delivery> {
    const subs = [...this.subscriptions.values()].filter((s) => topic !== undefined && s.topic === topic);
    if (!subs.length) throw new Error(`no push subscription on topic ${topic ?? '(none)'}`);
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const deliveries = await Promise.all(subs.map((sub) => this.deliver(sub, 'raw', text, opts.bearer)));
    return deliveries[0]!;
  }

  async redeliverUnacked(): Promise<Delivery[]> {
    const pending = this.unacked.splice(0);
    const out: Delivery[] = [];
    for (const u of pending) {
      const sub = this.subscriptions.get(u.subscription);
      if (!sub) continue;
      const delivery = await this.deliver(sub, u.messageId, u.body);
      if (!acked(delivery.status)) this.unacked.push(u);
      out.push(delivery);
    }
    return out;
  }

  private async deliver(
    sub: FakeSubscription,
    messageId: string,
    body: string,
    bearer?: string,
  ): Promise<Delivery> {
    const endpoint = this.target(sub.pushEndpoint);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': pushUserAgent,
    };
    if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
    else if (sub.oidcToken) {
      headers.authorization = `Bearer ${this.oidc.sign({
        // Pub/Sub's default audience is the push endpoint as configured.
        aud: sub.oidcToken.audience || sub.pushEndpoint,
        email: sub.oidcToken.serviceAccountEmail,
        azp: sub.oidcToken.serviceAccountEmail,
      })}`;
    }
    let delivery: Delivery;
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(sub.ackDeadlineSeconds * 1000),
      });
      delivery = { messageId, endpoint, status: res.status, body: await res.text() };
    } catch (err) {
      delivery = { messageId, endpoint, status: 0, body: (err as Error).message };
    }
    appendBounded(this.deliveries, delivery);
    return delivery;
  }

  private target(endpoint: string): string {
    if (!this.pushTarget) return endpoint;
    const u = new URL(endpoint);
    return new URL(`${u.pathname}${u.search}`, this.pushTarget).toString();
  }

  private topic(name: string): FakeTopic {
    const t = this.topics.get(name);
    if (!t) throw new GoogleHttpError(404, `Resource not found (resource=${name.split('/').pop()}).`);
    return t;
  }

  private subscription(name: string): FakeSubscription {
    const s = this.subscriptions.get(name);
    if (!s) throw new GoogleHttpError(404, `Resource not found (resource=${name.split('/').pop()}).`);
    return s;
  }

  private createTopic(name: string, body: Record<string, unknown>) {
    if (this.topics.has(name)) {
      throw new GoogleHttpError(
        409,
        `Resource already exists in the project (resource=${name.split('/').pop()}).`,
      );
    }
    const retention = body.messageRetentionDuration;
    if (retention !== undefined) {
      const seconds = parseDurationSeconds(retention);
      if (seconds === undefined || seconds < 600 || seconds > 31 * 86400) {
        throw new GoogleHttpError(
          400,
          'Invalid message_retention_duration: must be between 10 minutes and 31 days.',
        );
      }
    }
    const topic: FakeTopic = {
      name,
      iam: [],
      ...(typeof retention === 'string' ? { messageRetentionDuration: retention } : {}),
    };
    this.topics.set(name, topic);
    this.etags.set(name, 1);
    return this.topicResource(topic);
  }

  private deleteTopic(name: string) {
    this.topic(name);
    this.topics.delete(name);
    // Pub/Sub keeps a deleted topic's subscriptions, detached.
    for (const s of this.subscriptions.values()) if (s.topic === name) s.topic = '_deleted-topic_';
    return {};
  }

  private topicResource(t: FakeTopic) {
    return {
      name: t.name,
      ...(t.messageRetentionDuration ? { messageRetentionDuration: t.messageRetentionDuration } : {}),
    };
  }

  private etag(name: string): string {
    return Buffer.from(`etag-${this.etags.get(name) ?? 1}`).toString('base64');
  }

  private iamPolicy(t: FakeTopic) {
    const bindings = t.iam
      .filter((b) => b.members.length)
      .map((b) => ({ role: b.role, members: [...b.members] }));
    return { version: 1, etag: this.etag(t.name), ...(bindings.length ? { bindings } : {}) };
  }

  private setIamPolicy(t: FakeTopic, policy: unknown) {
    if (!policy || typeof policy !== 'object')
      throw new GoogleHttpError(400, 'Invalid JSON payload: policy is required.');
    const p = policy as { etag?: unknown; bindings?: unknown };
    if (p.etag !== undefined && p.etag !== this.etag(t.name)) {
      throw new GoogleHttpError(
        409,
        'There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.',
      );
    }
    const bindings = p.bindings === undefined ? [] : p.bindings;
    if (
      !Array.isArray(bindings) ||
      !bindings.every(
        (b: { role?: unknown; members?: unknown }) =>
          typeof b?.role === 'string' &&
          Array.isArray(b.members) &&
          b.members.every(
            (m) =>
              typeof m === 'string' &&
              /^(user|serviceAccount|group|domain):.+|^allUsers$|^allAuthenticatedUsers$/.test(m),
          ),
      )
    ) {
      throw new GoogleHttpError(400, 'Invalid argument: policy.bindings');
    }
    t.iam = (bindings as { role: string; members: string[] }[]).map((b) => ({
      role: b.role,
      members: [...b.members],
    }));
    this.etags.set(t.name, (this.etags.get(t.name) ?? 1) + 1);
    return this.iamPolicy(t);
  }

  private createSubscription(name: string, body: Record<string, unknown>) {
    if (this.subscriptions.has(name)) {
      throw new GoogleHttpError(
        409,
        `Resource already exists in the project (resource=${name.split('/').pop()}).`,
      );
    }
    if (typeof body.topic !== 'string')
      throw new GoogleHttpError(400, 'Invalid argument: topic is required.');
    this.topic(body.topic);
    const push = (body.pushConfig ?? {}) as { pushEndpoint?: unknown; oidcToken?: unknown };
    if (typeof push.pushEndpoint !== 'string' || !/^https?:\/\//.test(push.pushEndpoint)) {
      throw new GoogleHttpError(400, 'Invalid push_config: push_endpoint must be an https URL.');
    }
    const ack = body.ackDeadlineSeconds === undefined ? 10 : Number(body.ackDeadlineSeconds);
    if (!Number.isInteger(ack) || ack < 10 || ack > 600) {
      throw new GoogleHttpError(400, 'Invalid ack_deadline_seconds: must be between 10 and 600.');
    }
    let oidcToken: FakeSubscription['oidcToken'];
    if (push.oidcToken !== undefined) {
      const o = push.oidcToken as { serviceAccountEmail?: unknown; audience?: unknown };
      if (typeof o.serviceAccountEmail !== 'string' || !o.serviceAccountEmail.includes('@')) {
        throw new GoogleHttpError(400, 'Invalid push_config.oidc_token: service_account_email is required.');
      }
      oidcToken = {
        serviceAccountEmail: o.serviceAccountEmail,
        audience: typeof o.audience === 'string' ? o.audience : '',
      };
    }
    const sub: FakeSubscription = {
      name,
      topic: body.topic,
      pushEndpoint: push.pushEndpoint,
      ackDeadlineSeconds: ack,
      ...(oidcToken ? { oidcToken } : {}),
    };
    this.subscriptions.set(name, sub);
    return this.subscriptionResource(sub);
  }

  private deleteSubscription(name: string) {
    this.subscription(name);
    this.subscriptions.delete(name);
    for (let i = this.unacked.length - 1; i >= 0; i--)
      if (this.unacked[i]!.subscription === name) this.unacked.splice(i, 1);
    return {};
  }

  private subscriptionResource(s: FakeSubscription) {
    return {
      name: s.name,
      topic: s.topic,
      pushConfig: { pushEndpoint: s.pushEndpoint, ...(s.oidcToken ? { oidcToken: s.oidcToken } : {}) },
      ackDeadlineSeconds: s.ackDeadlineSeconds,
      state: 'ACTIVE',
    };
  }
}

/** Pub/Sub push treats 102, 200, 201, 202 and 204 as an ack. */
function acked(status: number): boolean {
  return status === 102 || status === 200 || status === 201 || status === 202 || status === 204;
}
