import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RateLimitPolicyName, RateLimitService } from '../ratelimit/service.js';
import { tooManyRequests } from './errors.js';

/**
 * An `onRequest` hook that counts every request per client address under the policy and answers
 * 429 (Fleet's error body, `Retry-After`) once the window's maximum is passed. It answers by
 * itself rather than throwing, so routes whose scope has its own error form (fleetd, devices)
 * still send the same 429.
 *
 * The address is Fastify's `req.ip`: the peer of the TCP connection unless the app is built with
 * `trustProxy`, in which case it is the client named by `X-Forwarded-For`.
 */
export function addressRateLimit(limits: RateLimitService, policy: RateLimitPolicyName) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const hit = await limits.hit(policy, req.ip);
    if (!hit?.limited) return;
    req.log.warn(
      {
        rate_limit: limits.policy(policy).scope,
        address: req.ip,
        count: hit.count,
        retry_after: hit.retryAfterSeconds,
      },
      'rate limit exceeded',
    );
    const err = tooManyRequests(hit.retryAfterSeconds);
    return reply
      .code(err.statusCode)
      .headers(err.headers)
      .send({ message: err.message, errors: err.errors, uuid: randomUUID() });
  };
}
