import { randomBytes } from 'node:crypto';
import { sessionKeyHash } from './userStore.js';

/**
 * A one-time token for a link mailed to someone (an invite, a password reset): 32 random bytes,
 * base64url, so it sits in a URL path or query without escaping.
 */
export function newLinkToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What is stored for a link token: its SHA-256, lowercase hex (as for session tokens). */
export function linkTokenHash(token: string): string {
  return sessionKeyHash(token);
}
