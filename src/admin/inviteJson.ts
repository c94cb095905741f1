import { toApiTime } from '../db/dialect.js';
import type { InviteRow } from './inviteStore.js';
import { teamRolesJson, type TeamObjects } from './userJson.js';

/**
 * Fleet's invite object (never the token). `position` is left out when empty, as Fleet does;
 * `teams` are the whole team objects with the role (`loadTeamObjects`).
 */
export function inviteJson(i: InviteRow, teams: TeamObjects) {
  return {
    created_at: toApiTime(i.created_at),
    updated_at: toApiTime(i.updated_at),
    id: i.id,
    invited_by: i.invited_by,
    email: i.email,
    name: i.name,
    ...(i.position ? { position: i.position } : {}),
    sso_enabled: i.sso_enabled,
    mfa_enabled: i.mfa_enabled,
    global_role: i.global_role,
    teams: teamRolesJson(i.teams, teams),
  };
}
