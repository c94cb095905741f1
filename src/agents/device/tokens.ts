import { createHash } from 'node:crypto';
import { conflict } from '../../http/errors.js';
import { AgentBadRequest } from '../orbit/errors.js';
import type { DeviceAuthStore } from './store.js';

/** A device token is accepted for this long after it was set (Fleet: one hour). */
export const deviceTokenTtlMs = 60 * 60 * 1000;

/**
 * After a rotation the replaced token keeps working this long. Fleet accepts only the current
 * token, but orbit registers the new one with the server before it writes the token file Fleet
 * Desktop reads, and the "My device" page open in a browser keeps the old token in its URL: without
 * a grace their requests in flight at the rotation fail and Desktop shows an error until its next
 * poll. Five minutes covers Desktop's refresh cycle and in-flight calls; it stays well under the
 * token's own hour, so a leaked old token buys an attacker next to nothing.
 */
export const previousTokenGraceMs = 5 * 60 * 1000;

/** Tokens are stored and looked up as the SHA-256 (hex) of the token text. */
export function hashDeviceToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Characters Go's `url.QueryEscape` leaves alone: Fleet refuses a token it would have to escape
 * (orbit's tokens are UUIDs).
 */
const queryEscapeSafe = /^[A-Za-z0-9\-_.~]+$/;
const maxTokenLength = 255;

/** Fleet Desktop's device tokens: orbit registers and rotates them, the device endpoints check them. */
export class DeviceTokenService {
  /** The clock (epoch ms); tests move it. */
  now: () => number = Date.now;

  constructor(private readonly store: DeviceAuthStore) {}

  /**
   * orbit's `POST /api/fleet/orbit/device_token`: 400 for an empty or not URL-safe token, 409 when
   * another host holds it. Sending the current token again leaves its age alone.
   */
  async register(hostId: number, token: string): Promise<void> {
    if (!token) throw new AgentBadRequest('device auth token cannot be empty');
    if (!queryEscapeSafe.test(token))
      throw new AgentBadRequest('device auth token contains invalid characters');
    if (token.length > maxTokenLength) throw new AgentBadRequest('device auth token is too long');
    const now = this.now();
    const outcome = await this.store.setToken(
      hostId,
      hashDeviceToken(token),
      new Date(now),
      new Date(now + previousTokenGraceMs),
    );
    if (outcome === 'conflict') throw conflict('auth token conflicts with another host');
  }

  /** The host a token authenticates (current and under an hour old, or previous within grace). */
  async hostIdFor(token: string): Promise<number | undefined> {
    if (!token || token.length > maxTokenLength) return undefined;
    const now = this.now();
    return this.store.hostIdForToken(hashDeviceToken(token), new Date(now), new Date(now - deviceTokenTtlMs));
  }
}
