import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import type { TeamMember, TeamResponse, UsersResponse } from '../../api/admin.js';
import { ConfirmDialog, ErrorText } from '../../components/feedback.js';
import { DataTable } from '../../components/DataTable.js';
import { useAction } from '../../components/useAction.js';
import { useApi } from '../../components/useApi.js';
import { roleLabel, roles } from '../users/roleText.js';

/**
 * The users with a role in a team. `mayManage` (global admins and this team's admins, as the API's
 * PATCH/DELETE /teams/:id/users allow) adds, re-roles and removes them.
 */
export function TeamMembers(props: {
  teamId: number;
  teamName: string;
  members: TeamMember[];
  mayManage: boolean;
  selfId: number;
  onChanged: () => void;
}) {
  const { teamId, members, mayManage } = props;
  // Only users without a global role can get a team role; the API refuses the others.
  const candidates = useApi(
    () => (mayManage ? api.get<UsersResponse>('/users') : Promise.resolve({ users: [] })),
    [mayManage, members.length],
  );
  const [userId, setUserId] = useState('');
  const [role, setRole] = useState<string>('observer');
  const { busy, error, setError, run } = useAction();
  const [removing, setRemoving] = useState<TeamMember>();

  const memberIds = new Set(members.map((m) => m.id));
  const addable = (candidates.data?.users ?? []).filter((u) => !u.global_role && !memberIds.has(u.id));

  const change = (call: () => Promise<unknown>) =>
    run(async () => {
      await call();
      setRemoving(undefined);
      props.onChanged();
    });
  const setMemberRole = (id: number, nextRole: string) =>
    change(() => api.patch<TeamResponse>(`/teams/${teamId}/users`, { users: [{ id, role: nextRole }] }));

  return (
    <section aria-labelledby="team-members-title">
      <h3 id="team-members-title">Members</h3>
      <DataTable<TeamMember>
        caption={`Members of ${props.teamName}`}
        rows={members}
        rowKey={(m) => m.id}
        empty="No users have a role in this team."
        columns={[
          { key: 'name', title: 'Name', render: (m) => m.name },
          { key: 'email', title: 'Email', render: (m) => m.email },
          {
            key: 'role',
            title: 'Role',
            render: (m) =>
              mayManage && m.id !== props.selfId ? (
                <select
                  aria-label={`Role of ${m.name}`}
                  value={m.role ?? ''}
                  disabled={busy}
                  onChange={(e) => void setMemberRole(m.id, e.currentTarget.value)}
                >
                  {roles.map((r) => (
                    <option key={r} value={r}>
                      {roleLabel(r)}
                    </option>
                  ))}
                </select>
              ) : (
                roleLabel(m.role)
              ),
          },
          ...(mayManage
            ? [
                {
                  key: 'actions',
                  title: 'Actions',
                  render: (m: TeamMember) =>
                    m.id !== props.selfId && (
                      <button type="button" onClick={() => setRemoving(m)}>
                        Remove {m.name}
                      </button>
                    ),
                },
              ]
            : []),
        ]}
      />
      {mayManage && (
        <form
          class="row member-add"
          onSubmit={(e) => {
            e.preventDefault();
            if (!userId) return;
            void setMemberRole(Number(userId), role).then((ok) => ok && setUserId(''));
          }}
        >
          <label>
            User
            <select value={userId} onChange={(e) => setUserId(e.currentTarget.value)}>
              <option value="">Choose a user…</option>
              {addable.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.name} ({u.email})
                </option>
              ))}
            </select>
          </label>
          <label>
            Team role
            <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
              {roles.map((r) => (
                <option key={r} value={r}>
                  {roleLabel(r)}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" class="primary" disabled={busy || !userId}>
            Add member
          </button>
        </form>
      )}
      {!removing && <ErrorText error={error ?? candidates.error} />}
      {removing && (
        <ConfirmDialog
          title="Remove member"
          confirmLabel="Remove"
          danger
          busy={busy}
          error={error}
          onCancel={() => {
            setRemoving(undefined);
            setError(undefined);
          }}
          onConfirm={() =>
            void change(() =>
              api.delete<TeamResponse>(`/teams/${teamId}/users`, { users: [{ id: removing.id }] }),
            )
          }
        >
          <p>
            {removing.name} loses the {roleLabel(removing.role)} role in {props.teamName}.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
