import { api } from '../../api/client.js';
import type { Team } from '../../api/shapes.js';
import { useApi } from '../../components/useApi.js';
import { useSession, type Session } from '../../session.js';

export type TeamOption = Pick<Team, 'id' | 'name'>;

/**
 * The teams the user sees, by name (`GET /teams`; the session's own teams when the role may not
 * list teams). Global users belong to no team, so the session alone would list none for them.
 */
export async function loadTeams(session: Session): Promise<TeamOption[]> {
  if (!session.can('team', 'read')) return session.availableTeams.map(({ id, name }) => ({ id, name }));
  const { teams } = await api.get<{ teams: Team[] }>('/teams');
  return teams.map(({ id, name }) => ({ id, name }));
}

/** `loadTeams` for a page; `enabled` false holds the call back (see sessionFirst in hostQuery.ts). */
export function useTeams(enabled = true): TeamOption[] {
  const session = useSession();
  const teams = useApi(() => (enabled ? loadTeams(session) : Promise.resolve(undefined)), [enabled]);
  return teams.data ?? [];
}
