import { toApiTime } from '../db/dialect.js';
import type { UserRow } from './userStore.js';

/** Fleet's user object. */
export function userJson(u: UserRow) {
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
    teams: u.teams.map((t) => ({ id: t.teamId, name: t.teamName, role: t.role })),
  };
}

export function availableTeamsJson(u: UserRow) {
  return u.teams.map((t) => ({ id: t.teamId, name: t.teamName, description: '' }));
}
