import { toApiTime } from '../db/dialect.js';
import { teamObjects, type TeamObject } from '../teams/teamJson.js';
import type { TeamRole } from './roles.js';
import type { UserRow, UserStore } from './userStore.js';

/** The team objects that users' or invites' team roles refer to, by team id. */
export type TeamObjects = ReadonlyMap<number, TeamObject>;

/** The team objects of these roles (of any number of users or invites), loaded in one query. */
export async function loadTeamObjects(
  store: Pick<UserStore, 'teamsWithCounts'>,
  roles: TeamRole[],
): Promise<TeamObjects> {
  return teamObjects(await store.teamsWithCounts(roles.map((r) => r.teamId)));
}

/** Fleet's UserTeam entries (users' and invites' `teams`): the whole team object and the role in it. */
export function teamRolesJson(roles: (TeamRole & { teamName: string })[], teams: TeamObjects) {
  return roles.map((r) => ({ ...(teams.get(r.teamId) ?? { id: r.teamId, name: r.teamName }), role: r.role }));
}

/** Fleet's user object; `teams` are the objects of the teams the user has roles in (`loadTeamObjects`). */
export function userJson(u: UserRow, teams: TeamObjects) {
  return {
    id: u.id,
    created_at: toApiTime(u.created_at),
    updated_at: toApiTime(u.updated_at),
    name: u.name,
    email: u.email,
    force_password_reset: u.admin_forced_password_reset,
    gravatar_url: '',
    sso_enabled: u.sso_enabled,
    mfa_enabled: u.mfa_enabled,
    global_role: u.global_role,
    api_only: u.api_only,
    teams: teamRolesJson(u.teams, teams),
  };
}

/**
 * A user as a team's `users` lists it (Fleet's TeamUser): the user with the role in that team, and
 * `teams` null as Fleet leaves it (it does not load a member's other teams there).
 */
export function teamUserJson(u: UserRow, teamId: number) {
  return {
    ...userJson(u, new Map()),
    teams: null,
    role: u.teams.find((t) => t.teamId === teamId)?.role ?? null,
  };
}

/** Fleet's `available_teams` (TeamSummary) for a user with team roles. */
export function availableTeamsJson(u: UserRow, teams: TeamObjects = new Map()) {
  return u.teams.map((t) => ({
    id: t.teamId,
    name: t.teamName,
    description: teams.get(t.teamId)?.description ?? '',
  }));
}
