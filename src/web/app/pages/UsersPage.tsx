import { useState } from 'preact/hooks';
import { adminTeamIds, canWriteUser, type Principal } from '../../../admin/roles.js';
import { api } from '../api/client.js';
import type { TeamsResponse, UserResponse, UsersResponse } from '../api/admin.js';
import type { Team, User } from '../api/shapes.js';
import { DataTable, Pager } from '../components/DataTable.js';
import { ConfirmDialog, ErrorText, Loading } from '../components/feedback.js';
import { useAction } from '../components/useAction.js';
import { useApi } from '../components/useApi.js';
import { useQueryParams } from '../router.js';
import { useSession } from '../session.js';
import { RoleEditor, roleChoiceOf, rolesBody, type RoleChoice } from './users/RoleEditor.js';
import { RoleMatrix } from './users/RoleMatrix.js';
import { roleLabel } from './users/roleText.js';
import './users/users.css';

const perPage = 50;

/** The server's canWriteUser, on a user as the API lists it. */
function mayWrite(p: Principal, u: User): boolean {
  return canWriteUser(p, {
    id: u.id,
    globalRole: (u.global_role as Principal['globalRole']) ?? null,
    teamIds: u.teams.map((t) => t.id),
  });
}

/** "Admin" for a global role; "Maintainer on Team A, Observer on Team B" for team roles. */
function rolesText(u: User): string {
  if (u.global_role) return `${roleLabel(u.global_role)} (global)`;
  if (!u.teams.length) return 'No role';
  return u.teams.map((t) => `${roleLabel(t.role)} on ${t.name}`).join(', ');
}

type Pending = { kind: 'roles' | 'reset' | 'delete'; user: User };

/** Users: list, create, edit roles, require a password reset, delete; and what each role may do. */
export function UsersPage(_props: { params: Record<string, string> }) {
  const { principal, user: me } = useSession();
  const [query, setQuery] = useQueryParams();
  const page = Number(query.page ?? 0) || 0;
  const search = query.query ?? '';
  const users = useApi(
    () => api.get<UsersResponse>('/users', { page, per_page: perPage + 1, query: search, order_key: 'name' }),
    [page, search],
  );
  // The teams a role can be given in: all of them for global admins, their own for team admins.
  const isGlobalAdmin = principal.globalRole === 'admin';
  const grantable = adminTeamIds(principal);
  const mayCreate = isGlobalAdmin || grantable.length > 0;
  const teams = useApi(
    () => (mayCreate ? api.get<TeamsResponse>('/teams') : Promise.resolve({ teams: [] as Team[] })),
    [mayCreate],
  );
  const grantableTeams = (teams.data?.teams ?? []).filter((t) => isGlobalAdmin || grantable.includes(t.id));
  const [pending, setPending] = useState<Pending>();
  const rows = users.data?.users.slice(0, perPage) ?? [];

  return (
    <section>
      <h1>Users</h1>
      <RoleMatrix />
      {mayCreate && (
        <CreateUser teams={grantableTeams} allowGlobal={isGlobalAdmin} onCreated={users.reload} />
      )}
      <div class="toolbar">
        <label>
          Search users
          <input
            type="search"
            value={search}
            placeholder="Name or email"
            onInput={(e) => setQuery({ query: e.currentTarget.value, page: undefined })}
          />
        </label>
      </div>
      {users.loading && !users.data && <Loading what="users" />}
      <ErrorText error={users.error ?? teams.error} />
      {users.data && (
        <>
          <DataTable<User>
            caption="Users"
            rows={rows}
            rowKey={(u) => u.id}
            empty={search ? 'No user matches this search.' : 'No users.'}
            columns={[
              { key: 'name', title: 'Name', render: (u) => u.name + (u.id === me.id ? ' (you)' : '') },
              { key: 'email', title: 'Email', render: (u) => u.email },
              { key: 'roles', title: 'Roles', render: rolesText },
              {
                key: 'status',
                title: 'Status',
                render: (u) =>
                  [
                    u.api_only && 'API only',
                    u.force_password_reset && 'Password reset required',
                    u.sso_enabled && 'SSO',
                  ]
                    .filter(Boolean)
                    .join(', ') || 'Active',
              },
              {
                key: 'actions',
                title: 'Actions',
                render: (u) =>
                  mayWrite(principal, u) && (
                    <span class="row-actions">
                      {(u.id !== me.id || isGlobalAdmin) && (
                        <button
                          type="button"
                          aria-label={`Edit roles of ${u.name}`}
                          onClick={() => setPending({ kind: 'roles', user: u })}
                        >
                          Edit roles
                        </button>
                      )}
                      {u.id !== me.id && !u.api_only && !u.sso_enabled && !u.force_password_reset && (
                        <button
                          type="button"
                          aria-label={`Require password reset for ${u.name}`}
                          onClick={() => setPending({ kind: 'reset', user: u })}
                        >
                          Require password reset
                        </button>
                      )}
                      {u.id !== me.id && (
                        <button
                          type="button"
                          aria-label={`Delete ${u.name}`}
                          onClick={() => setPending({ kind: 'delete', user: u })}
                        >
                          Delete
                        </button>
                      )}
                    </span>
                  ),
              },
            ]}
          />
          <Pager
            page={page}
            hasNext={users.data.users.length > perPage}
            onPage={(p) => setQuery({ ...query, page: p ? String(p) : undefined })}
            label="User pages"
          />
        </>
      )}
      {pending && (
        <UserAction
          pending={pending}
          teams={grantableTeams}
          allowGlobal={isGlobalAdmin}
          onDone={(changed) => {
            setPending(undefined);
            if (changed) users.reload();
          }}
        />
      )}
    </section>
  );
}

function CreateUser(props: { teams: Team[]; allowGlobal: boolean; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [roles, setRoles] = useState<RoleChoice>({
    scope: props.allowGlobal ? 'global' : 'teams',
    globalRole: 'observer',
    teams: [],
  });
  const { busy, error, setError, run } = useAction();
  const [created, setCreated] = useState<string>();
  return (
    <form
      class="card stack users-create"
      aria-label="Create user"
      onSubmit={(e) => {
        e.preventDefault();
        setCreated(undefined);
        const body = rolesBody(props.allowGlobal ? roles : { ...roles, scope: 'teams' });
        if (!body.global_role && body.teams.length === 0) {
          setError('Choose a global role or a role in at least one team.');
          return;
        }
        void run(async () => {
          const res = await api.post<UserResponse>('/users/admin', {
            name: name.trim(),
            email: email.trim(),
            password,
            ...body,
          });
          setCreated(`User ${res.user.name} created.`);
          setName('');
          setEmail('');
          setPassword('');
          props.onCreated();
        });
      }}
    >
      <h2>New user</h2>
      <div class="row">
        <label>
          Full name
          <input value={name} required autocomplete="off" onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Email
          <input
            type="email"
            value={email}
            required
            autocomplete="off"
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            type="password"
            value={password}
            required
            autocomplete="new-password"
            aria-describedby="new-user-password-hint"
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
      </div>
      <p id="new-user-password-hint" class="muted">
        12 to 48 characters, with a number and a symbol.
      </p>
      <RoleEditor
        value={roles}
        onChange={setRoles}
        teams={props.teams}
        allowGlobal={props.allowGlobal}
        idPrefix="new-user"
      />
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>
          Create user
        </button>
      </div>
      <ErrorText error={error} />
      <p class="muted" aria-live="polite">
        {created}
      </p>
    </form>
  );
}

/** Edit roles, require a password reset or delete: each in a dialog, the API's error kept there. */
function UserAction(props: {
  pending: Pending;
  teams: Team[];
  allowGlobal: boolean;
  onDone: (changed: boolean) => void;
}) {
  const { kind, user } = props.pending;
  const [roles, setRoles] = useState<RoleChoice>(roleChoiceOf(user));
  const { busy, error, setError, run } = useAction();
  const confirm = () => {
    const body = rolesBody(roles);
    if (kind === 'roles' && !body.global_role && body.teams.length === 0) {
      setError('Choose a global role or a role in at least one team.');
      return;
    }
    void run(async () => {
      if (kind === 'roles') await api.patch<UserResponse>(`/users/${user.id}`, body);
      else if (kind === 'reset')
        await api.post<UserResponse>(`/users/${user.id}/require_password_reset`, { require: true });
      else await api.delete(`/users/${user.id}`);
      props.onDone(true);
    });
  };
  const titles = {
    roles: `Edit roles of ${user.name}`,
    reset: 'Require password reset',
    delete: `Delete ${user.name}`,
  };
  const labels = { roles: 'Save roles', reset: 'Require reset', delete: 'Delete user' };
  return (
    <ConfirmDialog
      title={titles[kind]}
      confirmLabel={labels[kind]}
      danger={kind === 'delete'}
      busy={busy}
      error={error}
      onCancel={() => props.onDone(false)}
      onConfirm={confirm}
    >
      {kind === 'roles' && (
        <RoleEditor
          value={roles}
          onChange={setRoles}
          teams={props.teams}
          allowGlobal={props.allowGlobal}
          idPrefix="edit-user"
        />
      )}
      {kind === 'reset' && (
        <p>{user.name} is logged out everywhere and must choose a new password at the next login.</p>
      )}
      {kind === 'delete' && (
        <p>
          {user.name} ({user.email}) loses access to Flotilla. This cannot be undone.
        </p>
      )}
    </ConfirmDialog>
  );
}
