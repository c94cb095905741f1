import { isAllowed, type Principal, type Resource } from '../../../../admin/roles.js';
import { roleLabel, roles } from './roleText.js';

/** The objects an admin thinks in, and the API resource that guards each. */
const rows: { resource: Resource; what: string }[] = [
  { resource: 'host', what: 'Hosts (transfer, delete, refetch)' },
  { resource: 'mdm_command', what: 'MDM commands (lock, wipe, run)' },
  { resource: 'profile', what: 'OS settings (profiles)' },
  { resource: 'label', what: 'Labels' },
  { resource: 'enroll_secret', what: 'Enroll secrets' },
  { resource: 'team', what: 'Teams' },
  { resource: 'user', what: 'Users' },
  { resource: 'app_config', what: 'Organization settings' },
  { resource: 'activity', what: 'Activities' },
];

/** A global role as the server's rules see it (no team roles). */
function globalPrincipal(role: (typeof roles)[number]): Principal {
  return { userId: 0, globalRole: role, teams: [], apiOnly: false };
}

function access(role: (typeof roles)[number], resource: Resource): string {
  const p = globalPrincipal(role);
  const read = isAllowed(p, resource, 'read');
  const write = isAllowed(p, resource, 'write');
  if (read && write) return 'Read and change';
  if (read) return 'Read';
  if (write) return 'Change (no read)';
  return '—';
}

/**
 * What each role may do, computed from the server's own rules (src/admin/roles.ts, bundled), so the
 * table cannot drift from what the API enforces.
 */
export function RoleMatrix() {
  return (
    <details class="role-matrix">
      <summary>What each role may do</summary>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Permissions of each global role</caption>
          <thead>
            <tr>
              <th scope="col">Object</th>
              {roles.map((r) => (
                <th scope="col" key={r}>
                  {roleLabel(r)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.resource}>
                <th scope="row">{row.what}</th>
                {roles.map((r) => (
                  <td key={r} data-label={roleLabel(r)}>
                    {access(r, row.resource)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="muted">
        A global role applies to every team. A team role gives the same rights on that team's hosts, OS
        settings and enroll secrets only; team admins also manage their team's members. Users, labels, teams,
        settings and activities need a global role.
      </p>
    </details>
  );
}
