import type { Role } from '../../../../admin/roles.js';
import type { Team } from '../../api/shapes.js';
import { roleLabel, roles } from './roleText.js';

/** A user's roles: one global role, or a role per team (never both, as the API requires). */
export interface RoleChoice {
  scope: 'global' | 'teams';
  globalRole: Role;
  teams: { id: number; role: Role }[];
}

/** The choice as the API's user body takes it. */
export function rolesBody(c: RoleChoice): { global_role: Role | null; teams: { id: number; role: Role }[] } {
  return c.scope === 'global'
    ? { global_role: c.globalRole, teams: [] }
    : { global_role: null, teams: c.teams };
}

/** The roles a user has now, as a choice to edit. */
export function roleChoiceOf(u: {
  global_role: string | null;
  teams: { id: number; role: string }[];
}): RoleChoice {
  return u.global_role
    ? { scope: 'global', globalRole: u.global_role as Role, teams: [] }
    : {
        scope: 'teams',
        globalRole: 'observer',
        teams: u.teams.map((t) => ({ id: t.id, role: t.role as Role })),
      };
}

/**
 * Picks a global role or per-team roles. `teams` are the teams the viewer may grant roles in;
 * `allowGlobal` is false for team admins (only global admins hand out global roles).
 */
export function RoleEditor(props: {
  value: RoleChoice;
  onChange: (next: RoleChoice) => void;
  teams: Team[];
  allowGlobal: boolean;
  idPrefix: string;
}) {
  const { value, onChange, teams, allowGlobal } = props;
  const scope = allowGlobal ? value.scope : 'teams';
  const roleOf = (teamId: number) => value.teams.find((t) => t.id === teamId)?.role;
  const setTeamRole = (teamId: number, role: Role | undefined) =>
    onChange({
      ...value,
      teams: [...value.teams.filter((t) => t.id !== teamId), ...(role ? [{ id: teamId, role }] : [])].sort(
        (a, b) => a.id - b.id,
      ),
    });

  return (
    <fieldset class="role-editor stack">
      <legend>Role</legend>
      {allowGlobal && (
        <div class="row">
          <label class="inline">
            <input
              type="radio"
              name={`${props.idPrefix}-scope`}
              checked={scope === 'global'}
              onChange={() => onChange({ ...value, scope: 'global' })}
            />
            Global role (all teams)
          </label>
          <label class="inline">
            <input
              type="radio"
              name={`${props.idPrefix}-scope`}
              checked={scope === 'teams'}
              disabled={teams.length === 0}
              onChange={() => onChange({ ...value, scope: 'teams' })}
            />
            Roles per team
          </label>
        </div>
      )}
      {scope === 'global' ? (
        <label>
          Global role
          <select
            value={value.globalRole}
            onChange={(e) => onChange({ ...value, globalRole: e.currentTarget.value as Role })}
          >
            {roles.map((r) => (
              <option key={r} value={r}>
                {roleLabel(r)}
              </option>
            ))}
          </select>
        </label>
      ) : (
        <ul class="team-roles">
          {teams.length === 0 && <li class="muted">There are no teams to give a role in.</li>}
          {teams.map((t) => (
            <li key={t.id}>
              <label>
                Role in {t.name}
                <select
                  value={roleOf(t.id) ?? ''}
                  onChange={(e) =>
                    setTeamRole(t.id, (e.currentTarget.value || undefined) as Role | undefined)
                  }
                >
                  <option value="">No role</option>
                  {roles.map((r) => (
                    <option key={r} value={r}>
                      {roleLabel(r)}
                    </option>
                  ))}
                </select>
              </label>
            </li>
          ))}
        </ul>
      )}
    </fieldset>
  );
}
