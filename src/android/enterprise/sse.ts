import type { FastifyReply, FastifyRequest } from 'fastify';
import { signupSuccessMessage } from './service.js';

export interface SignupSseOptions {
  /** Answers whether the enterprise is bound now. */
  bound: () => Promise<boolean>;
  checkIntervalMs: number;
  heartbeatIntervalMs: number;
  /** Open streams, so the server can end them when it shuts down (see `endOpenStreams`). */
  open: Set<() => void>;
}

/** Ends every open stream (on server close: an open stream would keep its connection busy). */
export function endOpenStreams(open: Set<() => void>): void {
  for (const end of [...open]) end();
}

/**
 * `GET /android_enterprise/signup_sse`: a Server-Sent Events stream the console keeps open while the
 * admin is on Google's signup page. It looks for the binding every `checkIntervalMs`, sends the
 * comment `:heartbeat` every `heartbeatIntervalMs` (proxies close idle connections), and when the
 * enterprise is bound sends one data line and ends. Stops when the client goes away.
 */
export function streamSignupProgress(req: FastifyRequest, reply: FastifyReply, opts: SignupSseOptions): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders?.();

  let done = false;
  let checking = false;
  const timers: NodeJS.Timeout[] = [];
  const finish = (last?: string) => {
    if (done) return;
    done = true;
    opts.open.delete(end);
    for (const t of timers) clearInterval(t);
    if (last !== undefined && !res.writableEnded) res.end(last);
    else if (!res.writableEnded) res.end();
  };
  const check = async () => {
    if (done || checking) return;
    checking = true;
    try {
      if (await opts.bound()) finish(`data: ${signupSuccessMessage}\n\n`);
    } catch (err) {
      req.log.warn({ err }, 'android: signup SSE check failed');
      finish('event: error\ndata: could not read the Android Enterprise state\n\n');
    } finally {
      checking = false;
    }
  };

  const end = () => finish();
  opts.open.add(end);
  res.on('close', end);
  timers.push(
    setInterval(() => void check(), opts.checkIntervalMs),
    setInterval(() => {
      if (!done) res.write(':heartbeat\n');
    }, opts.heartbeatIntervalMs),
  );
  void check();
}
