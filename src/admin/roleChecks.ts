import { invalid } from '../http/errors.js';
import type { TeamStore } from '../teams/store.js';
import type { Role } from './roles.js';

/**
 * Fleet's role rule for a user or an invite: a global role or team roles, exactly one of them; each
 * team at most once, and every team must exist. Throws a 422 naming the field.
 */
export async function checkRoles(
  teamStore: TeamStore,
  globalRole: Role | null | undefined,
  teams: { id: number; role: Role }[] | undefined,
): Promise<void> {
  const hasTeams = (teams?.length ?? 0) > 0;
  if (globalRole && hasTeams)
    throw invalid('a user has either a global role or team roles, not both', 'global_role');
  if (!globalRole && !hasTeams)
    throw invalid('either a global role or at least one team role is required', 'global_role');
  if (hasTeams) {
    const ids = teams!.map((t) => t.id);
    if (new Set(ids).size !== ids.length) throw invalid('a team appears more than once', 'teams');
    const existing = await teamStore.existingIds(ids);
    const missing = ids.filter((i) => !existing.includes(i));
    if (missing.length) throw invalid(`team ${missing[0]} does not exist`, 'teams');
  }
}
