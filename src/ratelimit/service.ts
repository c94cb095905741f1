import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { RateLimitStore } from './store.js';

/**
 * Rate limits kept in the database, so every server process on one database shares the counters.
 *
 * Why not @fastify/rate-limit: its hook increments a counter for every request before the handler
 * runs, one key per route. Login needs two limits at once: one per client address counting every
 * attempt, and one per account counting only failed attempts, which must be reserved before the
 * password is checked (so a burst of parallel guesses cannot overshoot) and given back once the
 * password turns out right. That outcome lives in the service, and the library has no way to give
 * a hit back. A store plug-in would still leave us the per-account half to write, so both halves
 * live here, as one small service with a fixed-window counter per (scope, key).
 */

/** A limit: at most `max` hits per key in each fixed window of `windowSeconds`. */
export interface RateLimitPolicy {
  /** Names the counter family; hashed together with the key. */
  scope: string;
  /** Most hits in one window; 0 turns the limit off. */
  max: number;
  windowSeconds: number;
}

export type RateLimitPolicyName =
  | 'loginAddress'
  | 'loginAccount'
  | 'enrollAddress'
  | 'userTokenAddress'
  | 'deviceFailuresAddress'
  | 'mdmSsoAddress';

export type RateLimitPolicies = Record<RateLimitPolicyName, RateLimitPolicy>;

export function rateLimitPolicies(config: Config): RateLimitPolicies {
  return {
    loginAddress: {
      scope: 'login_address',
      max: config.loginAttemptsPerAddress,
      windowSeconds: config.loginAddressWindowSeconds,
    },
    loginAccount: {
      scope: 'login_account',
      max: config.loginFailuresPerAccount,
      windowSeconds: config.loginAccountWindowSeconds,
    },
    enrollAddress: {
      scope: 'enroll_address',
      max: config.enrollRequestsPerAddress,
      windowSeconds: config.enrollAddressWindowSeconds,
    },
    userTokenAddress: {
      scope: 'user_token_address',
      max: config.userTokenRequestsPerAddress,
      windowSeconds: config.userTokenAddressWindowSeconds,
    },
    // Failed Fleet Desktop device requests per address (a bad token is the usual failure): counted
    // only when a request fails, checked with `peek` before the token is looked at.
    deviceFailuresAddress: {
      scope: 'device_failures_address',
      max: config.deviceFailuresPerAddress,
      windowSeconds: config.deviceFailureWindowSeconds,
    },
    // End-user SSO (POST /mdm/sso and its callback) per client address.
    mdmSsoAddress: {
      scope: 'mdm_sso_address',
      max: config.mdmSsoRequestsPerAddress,
      windowSeconds: config.mdmSsoAddressWindowSeconds,
    },
  };
}

/** One counted hit: whether it went over the limit, and what it takes to give it back. */
export interface RateLimitHit {
  policy: RateLimitPolicyName;
  limited: boolean;
  /** Hits in this window, this one included. */
  count: number;
  /** Whole seconds until the window ends (at least 1): what `Retry-After` says. */
  retryAfterSeconds: number;
  keyHash: string;
  windowStart: number;
}

/** The form of an e-mail address the per-account limit counts by (MySQL compares e-mails case-blind). */
export function accountKey(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * A stable pseudonym of an account for log lines: the first 16 hex digits of the SHA-256 of the
 * normalised e-mail (`printf %s admin@example.com | sha256sum | cut -c1-16`). The e-mail itself is
 * not logged: people type passwords into the e-mail field.
 */
export function accountLogId(email: string): string {
  return createHash('sha256').update(accountKey(email), 'utf8').digest('hex').slice(0, 16);
}

export class RateLimitService {
  /** The clock (epoch milliseconds). Tests replace it to move through windows without waiting. */
  now: () => number = Date.now;

  constructor(
    private readonly store: RateLimitStore,
    private readonly policies: RateLimitPolicies,
  ) {}

  policy(name: RateLimitPolicyName): RateLimitPolicy {
    return this.policies[name];
  }

  /**
   * Counts one hit of `key` (an address, an account) under the policy. Answers undefined when the
   * policy is off; `limited` when this hit is over the window's maximum.
   */
  async hit(name: RateLimitPolicyName, key: string): Promise<RateLimitHit | undefined> {
    const policy = this.policies[name];
    if (policy.max <= 0) return undefined;
    const now = this.now();
    const windowMs = policy.windowSeconds * 1000;
    const windowStart = Math.floor(now / windowMs) * windowMs;
    const windowEnd = windowStart + windowMs;
    const keyHash = createHash('sha256').update(`${policy.scope}\n${key}`, 'utf8').digest('hex');
    const count = await this.store.hit(keyHash, windowStart, windowEnd);
    return {
      policy: name,
      limited: count > policy.max,
      count,
      retryAfterSeconds: Math.max(1, Math.ceil((windowEnd - now) / 1000)),
      keyHash,
      windowStart,
    };
  }

  /**
   * Whether `key` has used up the window's allowance (the policy's maximum already counted), without
   * counting a hit: for limits that count only failures but refuse every request once the allowance
   * is gone. Undefined when the policy is off or the key still has room.
   */
  async peek(name: RateLimitPolicyName, key: string): Promise<RateLimitHit | undefined> {
    const policy = this.policies[name];
    if (policy.max <= 0) return undefined;
    const now = this.now();
    const windowMs = policy.windowSeconds * 1000;
    const windowStart = Math.floor(now / windowMs) * windowMs;
    const keyHash = createHash('sha256').update(`${policy.scope}\n${key}`, 'utf8').digest('hex');
    const count = await this.store.count(keyHash, windowStart);
    if (count < policy.max) return undefined;
    return {
      policy: name,
      limited: true,
      count,
      retryAfterSeconds: Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000)),
      keyHash,
      windowStart,
    };
  }

  /** Gives a hit back, e.g. a login attempt whose password was right. */
  async release(hit: RateLimitHit): Promise<void> {
    await this.store.release(hit.keyHash, hit.windowStart);
  }

  /** Deletes counters whose window has ended (the `cleanup_rate_limits` cron job). */
  deleteExpired(): Promise<number> {
    return this.store.deleteExpired(this.now());
  }
}
