import { api } from '../api/client.js';
import type { ActivitiesResponse, Activity, TeamsResponse } from '../api/admin.js';
import { Pager } from '../components/DataTable.js';
import { ErrorText, Loading } from '../components/feedback.js';
import { useApi } from '../components/useApi.js';
import { useQueryParams } from '../router.js';
import { useSession } from '../session.js';
import { activitySentence, isKnownActivity } from './activities/sentence.js';
import './activities/activities.css';

const perPage = 25;

/** The audit log, newest first: each activity as a sentence, its raw details a click away. */
export function ActivitiesPage(_props: { params: Record<string, string> }) {
  const [query, setQuery] = useQueryParams();
  const page = Number(query.page ?? 0) || 0;
  const feed = useApi(
    () =>
      api.get<ActivitiesResponse>('/activities', {
        page,
        per_page: perPage,
        order_key: 'created_at',
        order_direction: 'desc',
      }),
    [page],
  );
  // Some activities name a team by id only; the team list turns those ids into names.
  const { can } = useSession();
  const teams = useApi(
    () => (can('team', 'read') ? api.get<TeamsResponse>('/teams') : Promise.resolve({ teams: [] })),
    [],
  );
  const teamNames = new Map((teams.data?.teams ?? []).map((t) => [t.id, t.name]));
  return (
    <section>
      <h1>Activities</h1>
      <p class="muted">Who changed what, newest first.</p>
      {feed.loading && !feed.data && <Loading what="activities" />}
      <ErrorText error={feed.error} />
      {feed.data && (
        <>
          {feed.data.activities.length === 0 ? (
            <p class="muted">No activities on this page.</p>
          ) : (
            <ol class="activity-feed" aria-label="Activities">
              {feed.data.activities.map((a) => (
                <ActivityItem key={a.id} activity={a} teamNames={teamNames} />
              ))}
            </ol>
          )}
          <Pager
            page={page}
            hasNext={feed.data.meta.has_next_results}
            onPage={(p) => setQuery({ ...query, page: p ? String(p) : undefined })}
            label="Activity pages"
          />
        </>
      )}
    </section>
  );
}

function ActivityItem(props: { activity: Activity; teamNames: ReadonlyMap<number, string> }) {
  const a = props.activity;
  return (
    <li class="activity">
      <p class="activity-sentence">{activitySentence(a, props.teamNames)}</p>
      <p class="muted activity-meta">
        {a.created_at && <time dateTime={a.created_at}>{new Date(a.created_at).toLocaleString()}</time>}
        {!isKnownActivity(a.type) && (
          <>
            {' · '}
            <code>{a.type}</code>
          </>
        )}
      </p>
      <details>
        <summary>Details</summary>
        <pre>{JSON.stringify({ type: a.type, actor_email: a.actor_email, details: a.details }, null, 2)}</pre>
      </details>
    </li>
  );
}
