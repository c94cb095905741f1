import { createContext, type ComponentChildren } from 'preact';
import { useContext } from 'preact/hooks';
import {
  canLockWipeHost,
  isAllowed,
  type Action,
  type Principal,
  type Resource,
  type Role,
} from '../../admin/roles.js';
import type { AvailableTeam, User } from './api/shapes.js';

/**
 * The signed-in user and what they may do. The console asks the server's own role rules
 * (src/admin/roles.ts, bundled as is), so a button shows exactly when the API would allow its call;
 * the API still checks every call.
 */
export interface Session {
  user: User;
  availableTeams: AvailableTeam[];
  principal: Principal;
  /** May the user do `action` on `resource` in team `teamId` (null: no team; undefined: any team)? */
  can: (resource: Resource, action: Action, teamId?: number | null) => boolean;
  canLockWipe: (teamId: number | null) => boolean;
  logout: () => Promise<void>;
}

export function principalOf(user: User): Principal {
  return {
    userId: user.id,
    globalRole: (user.global_role as Role | null) ?? null,
    teams: (user.teams ?? []).map((t) => ({ teamId: t.id, role: t.role as Role })),
    apiOnly: user.api_only,
  };
}

export function makeSession(
  user: User,
  availableTeams: AvailableTeam[],
  logout: () => Promise<void>,
): Session {
  const principal = principalOf(user);
  return {
    user,
    availableTeams,
    principal,
    can: (resource, action, teamId) => isAllowed(principal, resource, action, teamId),
    canLockWipe: (teamId) => canLockWipeHost(principal, teamId),
    logout,
  };
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider(props: { session: Session; children: ComponentChildren }) {
  return <SessionContext.Provider value={props.session}>{props.children}</SessionContext.Provider>;
}

/** The session of a signed-in page (pages are only drawn once someone is signed in). */
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in page');
  return s;
}
