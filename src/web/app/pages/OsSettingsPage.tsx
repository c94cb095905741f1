import { consolePages } from '../../paths.js';
import { api, withQuery } from '../api/client.js';
import {
  profileStatuses,
  teamQuery,
  type ProfileListResponse,
  type ProfileStatusCounts,
} from '../api/profiles.js';
import type { Team } from '../api/shapes.js';
import { Pager } from '../components/DataTable.js';
import { ErrorText, Loading } from '../components/feedback.js';
import { useApi } from '../components/useApi.js';
import { Link, useQueryParams } from '../router.js';
import { useSession } from '../session.js';
import { ProfileTable, type ProfileRow } from './osSettings/ProfileTable.js';
import { ProfileUpload } from './osSettings/ProfileUpload.js';
import './osSettings/osSettings.css';

const perPage = 20;

const summaryTitles: Record<keyof ProfileStatusCounts, string> = {
  verified: 'Verified',
  verifying: 'Verifying',
  pending: 'Pending',
  failed: 'Failed',
};

/** A non-negative whole number from the URL, else undefined. */
function urlNumber(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * OS settings (`/controls/os-settings`): a team's configuration profiles for every platform, how
 * many hosts each has reached, and (for those who may write) upload, download and delete.
 * `?team_id=` picks the team (absent: No team), `?page=` the page.
 */
export function OsSettingsPage(_props: { params: Record<string, string> }) {
  const session = useSession();
  const [query, setQuery] = useQueryParams();
  const mayReadNoTeam = session.can('profile', 'read', null);
  // Team users who cannot see No team start on their first team.
  const teamId = urlNumber(query.team_id) ?? (mayReadNoTeam ? 0 : (session.availableTeams[0]?.id ?? 0));
  const page = urlNumber(query.page) ?? 0;
  const mayWrite = session.can('profile', 'write', teamId || null);

  const teams = useApi(() => api.get<{ teams: Team[] }>('/teams').then((r) => r.teams), []);
  const summary = useApi(
    () => api.get<ProfileStatusCounts>('/configuration_profiles/summary', teamQuery(teamId)),
    [teamId],
  );
  const profiles = useApi(async () => {
    const list = await api.get<ProfileListResponse>('/configuration_profiles', {
      ...teamQuery(teamId),
      page,
      per_page: perPage,
    });
    const rows: ProfileRow[] = await Promise.all(
      (list.profiles ?? []).map(async (profile) => ({
        profile,
        counts: await api.get<ProfileStatusCounts>(
          `/configuration_profiles/${encodeURIComponent(profile.profile_uuid)}/status`,
        ),
      })),
    );
    return { rows, hasNext: list.meta.has_next_results };
  }, [teamId, page]);

  const reload = () => {
    profiles.reload();
    summary.reload();
  };

  const teamChoices = [
    ...(mayReadNoTeam ? [{ id: 0, name: 'No team' }] : []),
    ...(teams.data ?? session.availableTeams).map((t) => ({ id: t.id, name: t.name })),
  ];
  const teamName = teamChoices.find((t) => t.id === teamId)?.name ?? (teamId ? `team ${teamId}` : 'No team');

  return (
    <section class="os-settings">
      <h1>OS settings</h1>
      <div class="toolbar">
        <div class="os-team-pick">
          <label for="os-team">Team</label>
          <select
            id="os-team"
            value={String(teamId)}
            onChange={(e) => setQuery({ team_id: e.currentTarget.value })}
          >
            {teamChoices.map((t) => (
              <option key={t.id} value={String(t.id)}>
                {t.name}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorText error={teams.error} />

      <h2 id="os-summary-title">Hosts by OS settings status</h2>
      <ErrorText error={summary.error} />
      {summary.loading && !summary.data && <Loading what="the summary" />}
      {summary.data && (
        <ul class="cards os-summary" aria-labelledby="os-summary-title">
          {profileStatuses.map((s) => (
            <li class="card" key={s}>
              <Link href={withQuery(consolePages.hosts, { os_settings: s, team_id: teamId })}>
                <span class="stat">{summary.data![s]}</span>
                <span class="os-summary-label">{summaryTitles[s]}</span>
              </Link>
            </li>
          ))}
        </ul>
      )}

      {mayWrite && <ProfileUpload key={teamId} teamId={teamId} teamName={teamName} onUploaded={reload} />}

      <h2>Configuration profiles</h2>
      <ErrorText error={profiles.error} />
      {profiles.loading && !profiles.data && <Loading what="profiles" />}
      {profiles.data && (
        <>
          <ProfileTable rows={profiles.data.rows} teamId={teamId} mayWrite={mayWrite} onDeleted={reload} />
          {(page > 0 || profiles.data.hasNext) && (
            <Pager
              page={page}
              hasNext={profiles.data.hasNext}
              label="Profile pages"
              onPage={(p) => setQuery({ ...query, page: String(p) })}
            />
          )}
        </>
      )}
    </section>
  );
}
