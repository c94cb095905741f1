/** Roles as Fleet names them. A user has one global role or a role per team, never both. */
export const roles = ['admin', 'maintainer', 'observer', 'observer_plus', 'gitops'] as const;
export type Role = (typeof roles)[number];

export interface TeamRole {
  teamId: number;
  role: Role;
}

export interface Principal {
  userId: number;
  globalRole: Role | null;
  teams: TeamRole[];
  apiOnly: boolean;
}

/**
 * What a caller wants to do. `teamId` is the team of the object (null = a global object or the
 * "No team" bucket); undefined means "across all teams" (lists filter by team afterwards).
 */
export type Resource =
  | 'app_config'
  | 'user'
  | 'team'
  | 'enroll_secret'
  | 'label'
  | 'host'
  | 'activity'
  | 'cron'
  | 'mdm_apple_setup'
  | 'mdm_command'
  | 'mdm_command_result'
  | 'profile';
export type Action = 'read' | 'write';

type Grants = Partial<Record<Resource, Action[]>>;

const readAll: Action[] = ['read'];
const rw: Action[] = ['read', 'write'];

/** Observers read everything in their scope and change nothing. */
const observerGrants: Grants = {
  app_config: readAll,
  team: readAll,
  label: readAll,
  host: readAll,
  activity: readAll,
  mdm_command_result: readAll,
  profile: readAll,
};

/** What each role may do on objects in its scope (global role: everywhere; team role: its team). */
const grants: Record<Role, Grants> = {
  admin: {
    app_config: rw,
    user: rw,
    team: rw,
    enroll_secret: rw,
    label: rw,
    host: rw,
    activity: readAll,
    cron: rw,
    mdm_apple_setup: rw,
    mdm_command: rw,
    mdm_command_result: readAll,
    profile: rw,
  },
  maintainer: {
    app_config: readAll,
    team: readAll,
    enroll_secret: rw,
    label: rw,
    host: rw,
    activity: readAll,
    mdm_command: rw,
    mdm_command_result: readAll,
    profile: rw,
  },
  observer: observerGrants,
  // Observer+ differs from observer only in running live queries, which Flotilla does not have.
  observer_plus: observerGrants,
  // GitOps is write-only: it applies configuration but cannot read most objects back.
  gitops: {
    app_config: ['read', 'write'],
    team: ['write'],
    enroll_secret: ['write'],
    label: ['write'],
    host: ['write'],
    mdm_command: ['write'],
    profile: ['write'],
  },
};

/** Things only a global role can do, whatever a team role says. */
const globalOnly: Partial<Record<Resource, Action[]>> = {
  app_config: ['write'],
  // Users are checked per target user with canReadUser / canWriteUser below.
  user: ['read', 'write'],
  cron: ['read', 'write'],
  mdm_apple_setup: ['read', 'write'],
  label: ['write'],
  team: ['write'],
  activity: ['read'],
};

function roleAllows(role: Role, resource: Resource, action: Action): boolean {
  return grants[role][resource]?.includes(action) ?? false;
}

/**
 * May this principal do `action` on `resource` in team `teamId`?
 * teamId: a team id, null for global / No-team objects, undefined for "any team" (list endpoints,
 * which then narrow results with `visibleTeamIds`).
 */
export function isAllowed(p: Principal, resource: Resource, action: Action, teamId?: number | null): boolean {
  if (p.globalRole) return roleAllows(p.globalRole, resource, action);
  if (globalOnly[resource]?.includes(action)) {
    // Team admins manage their own team and its users.
    if (resource === 'team' && action === 'write' && typeof teamId === 'number') {
      return p.teams.some((t) => t.teamId === teamId && t.role === 'admin');
    }
    return false;
  }
  if (teamId === null) {
    // Global objects are readable by team users where the resource is readable at all (labels,
    // app config); no-team objects are not writable by team users.
    if (action === 'read' && (resource === 'label' || resource === 'app_config')) {
      return p.teams.some((t) => roleAllows(t.role, resource, action));
    }
    return false;
  }
  if (teamId === undefined) return p.teams.some((t) => roleAllows(t.role, resource, action));
  return p.teams.some((t) => t.teamId === teamId && roleAllows(t.role, resource, action));
}

/**
 * May the principal lock, unlock or wipe a host in team `teamId` (null = No team)? Global admins
 * and maintainers anywhere, team admins and maintainers in their own team. The same callers may see
 * the secrets those actions carry (lock PINs, passcodes) in command payloads and results.
 */
export function canLockWipeHost(p: Principal, teamId: number | null): boolean {
  const role = p.globalRole ?? (teamId === null ? null : p.teams.find((t) => t.teamId === teamId)?.role);
  return role === 'admin' || role === 'maintainer';
}

/** Teams whose objects the principal may see for `resource`; `'all'` for global roles. */
export function visibleTeamIds(p: Principal, resource: Resource, action: Action = 'read'): 'all' | number[] {
  if (p.globalRole) return roleAllows(p.globalRole, resource, action) ? 'all' : [];
  return p.teams.filter((t) => roleAllows(t.role, resource, action)).map((t) => t.teamId);
}

/** The teams in which the principal is a team admin. */
export function adminTeamIds(p: Principal): number[] {
  return p.teams.filter((t) => t.role === 'admin').map((t) => t.teamId);
}

/** The user fields RBAC needs about a target user. */
export interface UserScope {
  id: number;
  globalRole: Role | null;
  teamIds: number[];
}

/**
 * Fleet's user rules: everyone may read themselves; global admins read and write everyone;
 * other global roles except gitops read everyone; team admins read and write users whose
 * every team role lies in teams they administer; team members read the users of their teams.
 */
export function canReadUser(p: Principal, target: UserScope): boolean {
  if (p.userId === target.id) return true;
  if (p.globalRole) return p.globalRole !== 'gitops';
  const mine = new Set(p.teams.map((t) => t.teamId));
  return target.teamIds.some((id) => mine.has(id));
}

export function canWriteUser(p: Principal, target: UserScope): boolean {
  if (p.globalRole === 'admin') return true;
  if (p.globalRole) return false;
  const admin = new Set(adminTeamIds(p));
  return (
    target.globalRole === null && target.teamIds.length > 0 && target.teamIds.every((id) => admin.has(id))
  );
}

/** May the principal create a user with these roles (or give an existing user these roles)? */
export function canAssignRoles(p: Principal, globalRole: Role | null, teamIds: number[]): boolean {
  if (p.globalRole === 'admin') return true;
  if (p.globalRole || globalRole) return false;
  const admin = new Set(adminTeamIds(p));
  return teamIds.length > 0 && teamIds.every((id) => admin.has(id));
}
