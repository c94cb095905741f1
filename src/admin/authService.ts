import { randomBytes } from 'node:crypto';
import { fromDbTime } from '../db/dialect.js';
import { unauthenticated } from '../http/errors.js';
import { hashPassword, verifyPassword } from './password.js';
import type { Principal } from './roles.js';
import type { UserRow, UserStore } from './userStore.js';

export interface Viewer {
  user: UserRow;
  principal: Principal;
  sessionId: number;
}

export function principalOf(user: UserRow): Principal {
  return {
    userId: user.id,
    globalRole: user.global_role,
    teams: user.teams.map((t) => ({ teamId: t.teamId, role: t.role })),
    apiOnly: user.api_only,
  };
}

export function newSessionKey(): string {
  return randomBytes(32).toString('base64');
}

// Compared against when the email is unknown, so both paths cost one hash.
const dummyHash = hashPassword('not-a-real-password-1!');

/** Login, logout and Bearer-token authentication. */
export class AuthService {
  // Touching accessed_at on every request would be a write per request; once a minute is enough.
  private readonly touchEveryMs = 60_000;

  constructor(
    private readonly users: UserStore,
    private readonly sessionDurationSeconds: number,
  ) {}

  async login(email: string, password: string): Promise<{ user: UserRow; token: string }> {
    const user = await this.users.getByEmail(email);
    const ok = await verifyPassword(password, user?.password ?? (await dummyHash));
    if (!user || !ok) throw unauthenticated('invalid email or password');
    if (user.api_only) throw unauthenticated('API-only users cannot log in with a password');
    const token = newSessionKey();
    await this.users.createSession(user.id, token);
    return { user, token };
  }

  async logout(viewer: Viewer): Promise<void> {
    await this.users.deleteSession(viewer.sessionId);
  }

  async authenticate(token: string | undefined): Promise<Viewer> {
    if (!token) throw unauthenticated('missing bearer token');
    const session = await this.users.getSessionByToken(token);
    if (!session) throw unauthenticated('invalid session');
    const user = await this.users.getById(session.user_id);
    if (!user) throw unauthenticated('invalid session');
    const accessed = fromDbTime(session.accessed_at)!.getTime();
    if (this.expired(session, user)) {
      await this.users.deleteSession(session.id);
      throw unauthenticated('session expired');
    }
    if (Date.now() - accessed > this.touchEveryMs) await this.users.touchSession(session.id);
    return { user, principal: principalOf(user), sessionId: session.id };
  }

  /** Whether a session has gone unused too long (API-only users' tokens never expire). */
  expired(session: { accessed_at: string }, user: Pick<UserRow, 'api_only'>): boolean {
    const accessed = fromDbTime(session.accessed_at)!.getTime();
    return !user.api_only && accessed + this.sessionDurationSeconds * 1000 < Date.now();
  }

  /** Issues a token that never expires (for API-only users). */
  async issueToken(userId: number): Promise<string> {
    const token = newSessionKey();
    await this.users.createSession(userId, token);
    return token;
  }
}
