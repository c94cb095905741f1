import { useState } from 'preact/hooks';
import { api } from '../api/client.js';
import type { TeamResponse, TeamsResponse } from '../api/admin.js';
import type { Team } from '../api/shapes.js';
import { DataTable } from '../components/DataTable.js';
import { DeleteDialog } from '../components/DeleteDialog.js';
import { ConfirmDialog, ErrorText, Loading } from '../components/feedback.js';
import { useAction } from '../components/useAction.js';
import { useApi } from '../components/useApi.js';
import { useQueryParams } from '../router.js';
import { useSession } from '../session.js';
import { TeamMembers } from './teams/TeamMembers.js';
import { TeamSecrets } from './teams/TeamSecrets.js';
import './teams/teams.css';

/** Teams: the list with host and user counts; create, rename, delete; a team's members and secrets. */
export function TeamsPage(_props: { params: Record<string, string> }) {
  const { can } = useSession();
  const [query, setQuery] = useQueryParams();
  const teams = useApi(() => api.get<TeamsResponse>('/teams'), []);
  const [renaming, setRenaming] = useState<Team>();
  const [deleting, setDeleting] = useState<Team>();
  // Bumped after a rename so the open team's card loads its new name.
  const [detailVersion, setDetailVersion] = useState(0);
  const openId = query.team ? Number(query.team) : undefined;
  const mayCreate = can('team', 'write');

  const open = (id: number | undefined) =>
    setQuery({ ...query, team: id === undefined ? undefined : String(id) });

  return (
    <section>
      <h1>Teams</h1>
      {mayCreate && <CreateTeam onCreated={(t) => (teams.reload(), open(t.id))} />}
      {teams.loading && !teams.data && <Loading what="teams" />}
      <ErrorText error={teams.error} />
      {teams.data && (
        <DataTable<Team>
          caption="Teams"
          rows={teams.data.teams}
          rowKey={(t) => t.id}
          empty="No teams yet."
          columns={[
            {
              key: 'name',
              title: 'Team',
              render: (t) => (
                <button
                  type="button"
                  class="link"
                  aria-expanded={openId === t.id}
                  onClick={() => open(openId === t.id ? undefined : t.id)}
                >
                  {t.name}
                </button>
              ),
            },
            { key: 'description', title: 'Description', render: (t) => t.description || '—' },
            { key: 'hosts', title: 'Hosts', render: (t) => t.host_count },
            { key: 'users', title: 'Users', render: (t) => t.user_count },
            {
              key: 'actions',
              title: 'Actions',
              render: (t) => (
                <span class="row-actions">
                  {can('team', 'write', t.id) && (
                    <button type="button" onClick={() => setRenaming(t)}>
                      Rename
                    </button>
                  )}
                  {mayCreate && (
                    <button type="button" onClick={() => setDeleting(t)}>
                      Delete
                    </button>
                  )}
                </span>
              ),
            },
          ]}
        />
      )}
      {openId !== undefined && (
        <TeamDetail key={`${openId}-${detailVersion}`} teamId={openId} onChanged={teams.reload} />
      )}
      {renaming && (
        <RenameTeam
          team={renaming}
          onDone={(changed) => {
            setRenaming(undefined);
            if (changed) {
              teams.reload();
              setDetailVersion((v) => v + 1);
            }
          }}
        />
      )}
      {deleting && (
        <DeleteDialog
          title={`Delete ${deleting.name}`}
          confirmLabel="Delete team"
          remove={() => api.delete(`/teams/${deleting.id}`)}
          onDone={(deleted) => {
            setDeleting(undefined);
            if (deleted) {
              if (openId === deleting.id) open(undefined);
              teams.reload();
            }
          }}
        >
          <p>
            Its {deleting.host_count} hosts move to “No team”, its enroll secrets stop working and its{' '}
            {deleting.user_count} users lose their role in it. This cannot be undone.
          </p>
        </DeleteDialog>
      )}
    </section>
  );
}

function CreateTeam(props: { onCreated: (team: Team) => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const { busy, error, run } = useAction();
  return (
    <form
      class="card row teams-create"
      aria-label="Create team"
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const res = await api.post<TeamResponse>('/teams', {
            name: name.trim(),
            ...(description.trim() ? { description: description.trim() } : {}),
          });
          setName('');
          setDescription('');
          props.onCreated(res.team);
        });
      }}
    >
      <label>
        Team name
        <input value={name} required maxLength={255} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        Description
        <input value={description} maxLength={1023} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <button type="submit" class="primary" disabled={busy}>
        Create team
      </button>
      <ErrorText error={error} />
    </form>
  );
}

function RenameTeam(props: { team: Team; onDone: (changed: boolean) => void }) {
  const [name, setName] = useState(props.team.name);
  const [description, setDescription] = useState(props.team.description ?? '');
  const { busy, error, run } = useAction();
  const save = () =>
    run(async () => {
      await api.patch<TeamResponse>(`/teams/${props.team.id}`, { name: name.trim(), description });
      props.onDone(true);
    });
  return (
    <ConfirmDialog
      title={`Rename ${props.team.name}`}
      confirmLabel="Save"
      busy={busy}
      error={error}
      onCancel={() => props.onDone(false)}
      onConfirm={() => void save()}
    >
      <div class="stack">
        <label>
          Team name
          <input value={name} required onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Description
          <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </label>
      </div>
    </ConfirmDialog>
  );
}

/** One team's members and enroll secrets, below the list. */
function TeamDetail(props: { teamId: number; onChanged: () => void }) {
  const { can, user, principal } = useSession();
  const team = useApi(() => api.get<TeamResponse>(`/teams/${props.teamId}`), [props.teamId]);
  // The API lets global admins and this team's admins manage its users (authorizeTeamUsers).
  const mayManageMembers =
    principal.globalRole === 'admin' ||
    (!principal.globalRole && principal.teams.some((t) => t.teamId === props.teamId && t.role === 'admin'));
  if (team.error) return <ErrorText error={team.error} />;
  if (!team.data) return <Loading what="the team" />;
  const t = team.data.team;
  return (
    <section class="card team-detail" aria-labelledby="team-detail-title">
      <h2 id="team-detail-title">{t.name}</h2>
      {t.description && <p>{t.description}</p>}
      <TeamMembers
        teamId={t.id}
        teamName={t.name}
        members={t.users ?? []}
        mayManage={mayManageMembers}
        selfId={user.id}
        onChanged={() => {
          team.reload();
          props.onChanged();
        }}
      />
      {can('enroll_secret', 'read', t.id) && <TeamSecrets teamId={t.id} teamName={t.name} />}
    </section>
  );
}
