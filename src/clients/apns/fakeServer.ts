import { randomUUID } from 'node:crypto';
import http2, { type Http2SecureServer, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority } from '../../crypto/certificateAuthority.js';
import { issueLoopbackServerCertificate } from './testCertificates.js';

/** One push the stand-in accepted (or refused), as it arrived. */
export interface RecordedPush {
  tokenHex: string;
  topic: string;
  pushType: string;
  priority: string;
  body: string;
  pushMagic?: string;
  /** UID (topic) of the client certificate that sent it. */
  clientCertTopic: string;
  /** Serial number (hex, upper case) of that client certificate. */
  clientCertSerial: string;
  status: number;
  reason?: string;
  at: Date;
}

export type PushListener = (push: RecordedPush) => void;

export interface FakeApnsServerOptions {
  /** CA certificates (PEM) the client certificate must chain to, as Apple's CA for real push certs. */
  trustedClientCaPem?: string | string[];
  /**
   * Instead: any client certificate is accepted (its UID must still match the topic, so a push
   * without one is refused). For the load generator, which cannot know who signed the push
   * certificate of the server under test.
   */
  acceptAnyClientCertificate?: boolean;
  /** The TLS identity to present (the server under test trusts `caPem`); a fresh one when absent. */
  tls?: { certPem: string; keyPem: string; caPem: string };
  /** Where to listen; 127.0.0.1 on a free port when absent. */
  host?: string;
  port?: number;
  /** Delay before answering each push (lets tests see concurrency). */
  responseDelayMs?: number;
}

/**
 * A local stand-in for APNs that speaks its wire format: HTTP/2 over TLS, a client certificate is
 * required and checked, `POST /3/device/<hex token>` with `apns-topic`, `apns-push-type: mdm` and
 * `{"mdm": PushMagic}`; answers 200 with `apns-id`, or `{"reason": ...}` errors as Apple does.
 * Simulated devices subscribe to their token with `onPush` to be woken.
 */
export class FakeApnsServer {
  readonly pushes: RecordedPush[] = [];
  /** Most pushes in flight at once, seen since start (or `resetStats`). */
  maxConcurrent = 0;
  responseDelayMs: number;
  private inFlight = 0;
  private readonly badTokens = new Set<string>();
  private readonly unregistered = new Map<string, number>();
  private readonly listeners = new Map<string, Set<PushListener>>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  private constructor(
    private readonly server: Http2SecureServer,
    readonly url: string,
    /** Trust this CA (PEM) in the APNs client to reach the stand-in. */
    readonly caPem: string,
    opts: FakeApnsServerOptions,
  ) {
    this.responseDelayMs = opts.responseDelayMs ?? 0;
  }

  static async start(opts: FakeApnsServerOptions): Promise<FakeApnsServer> {
    let tls = opts.tls;
    if (!tls) {
      const serverCa = createCertificateAuthority('Flotilla APNs stand-in CA');
      tls = { ...issueLoopbackServerCertificate(serverCa), caPem: serverCa.certPem };
    }
    const clientCas = opts.trustedClientCaPem === undefined ? undefined : [opts.trustedClientCaPem].flat();
    if (!clientCas && !opts.acceptAnyClientCertificate)
      throw new Error('FakeApnsServer: give trustedClientCaPem or acceptAnyClientCertificate');
    const server = http2.createSecureServer({
      cert: tls.certPem,
      key: tls.keyPem,
      ...(clientCas ? { ca: clientCas } : {}),
      requestCert: true,
      rejectUnauthorized: !!clientCas,
      allowHTTP1: false,
    });
    // Connections that fail the TLS handshake (no or untrusted client certificate) end here.
    server.on('tlsClientError', () => {});
    const host = opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const anyHost = host === '0.0.0.0' || host === '::';
    const urlHost = anyHost ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    const fake = new FakeApnsServer(server, `https://${urlHost}:${port}`, tls.caPem, opts);
    server.on('stream', (stream, headers) => fake.handle(stream, headers));
    server.on('sessionError', () => {});
    server.on('session', (session) => {
      fake.sessions.add(session);
      session.on('close', () => fake.sessions.delete(session));
    });
    return fake;
  }

  /** Pushes to this token answer 400 BadDeviceToken. */
  markBadToken(tokenHex: string): void {
    this.badTokens.add(tokenHex.toLowerCase());
  }

  /** Pushes to this token answer 410 Unregistered with the given time. */
  markUnregistered(tokenHex: string, since = new Date()): void {
    this.unregistered.set(tokenHex.toLowerCase(), since.getTime());
  }

  /** Calls `fn` for every accepted push to this token; returns an unsubscribe function. */
  onPush(tokenHex: string, fn: PushListener): () => void {
    const key = tokenHex.toLowerCase();
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  pushesTo(tokenHex: string): RecordedPush[] {
    const key = tokenHex.toLowerCase();
    return this.pushes.filter((p) => p.tokenHex === key);
  }

  resetStats(): void {
    this.pushes.length = 0;
    this.maxConcurrent = 0;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    this.inFlight++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.inFlight);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      setTimeout(() => {
        this.inFlight--;
        this.answer(stream, headers, Buffer.concat(chunks).toString('utf8'));
      }, this.responseDelayMs);
    });
    stream.on('error', () => {});
  }

  private answer(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: string): void {
    const socket = stream.session?.socket as TLSSocket | undefined;
    const peer = socket?.getPeerCertificate?.();
    const clientCertTopic = String(
      (peer?.subject as unknown as Record<string, unknown> | undefined)?.UID ?? '',
    );
    const clientCertSerial = String(peer?.serialNumber ?? '').toUpperCase();
    const path = String(headers[':path'] ?? '');
    const match = /^\/3\/device\/([0-9a-fA-F]+)$/.exec(path);
    const tokenHex = match ? match[1].toLowerCase() : '';
    const topic = String(headers['apns-topic'] ?? '');
    const pushType = String(headers['apns-push-type'] ?? '');
    const priority = String(headers['apns-priority'] ?? '10');
    let pushMagic: string | undefined;
    let payloadOk = false;
    try {
      const parsed = JSON.parse(body) as Record<string, unknown>;
      pushMagic = typeof parsed.mdm === 'string' ? parsed.mdm : undefined;
      payloadOk = pushMagic !== undefined && Object.keys(parsed).length === 1;
    } catch {
      payloadOk = false;
    }

    let status = 200;
    let reason: string | undefined;
    let timestamp: number | undefined;
    if (headers[':method'] !== 'POST') [status, reason] = [405, 'MethodNotAllowed'];
    else if (!match) [status, reason] = [404, 'BadPath'];
    else if (!topic) [status, reason] = [400, 'MissingTopic'];
    else if (topic !== clientCertTopic) [status, reason] = [400, 'TopicDisallowed'];
    else if (pushType !== 'mdm') [status, reason] = [400, 'InvalidPushType'];
    else if (priority !== '10' && priority !== '5' && priority !== '1')
      [status, reason] = [400, 'BadPriority'];
    else if (!body) [status, reason] = [400, 'PayloadEmpty'];
    else if (!payloadOk) [status, reason] = [400, 'BadPayload'];
    else if (this.badTokens.has(tokenHex)) [status, reason] = [400, 'BadDeviceToken'];
    else if (this.unregistered.has(tokenHex)) {
      [status, reason] = [410, 'Unregistered'];
      timestamp = this.unregistered.get(tokenHex);
    }

    const push: RecordedPush = {
      tokenHex,
      topic,
      pushType,
      priority,
      body,
      pushMagic,
      clientCertTopic,
      clientCertSerial,
      status,
      reason,
      at: new Date(),
    };
    this.pushes.push(push);
    const apnsId = randomUUID().toUpperCase();
    if (stream.destroyed) return;
    if (status === 200) {
      stream.respond({ ':status': 200, 'apns-id': apnsId });
      stream.end();
      for (const fn of this.listeners.get(tokenHex) ?? []) {
        try {
          fn(push);
        } catch {
          // a listener's failure is its own business
        }
      }
      return;
    }
    stream.respond({ ':status': status, 'apns-id': apnsId, 'content-type': 'application/json' });
    stream.end(JSON.stringify(timestamp === undefined ? { reason } : { reason, timestamp }));
  }
}
