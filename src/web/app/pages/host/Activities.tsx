import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import type { ActivitiesResponse, Activity } from '../../api/host.js';
import { Pager } from '../../components/DataTable.js';
import { ErrorText, Loading } from '../../components/feedback.js';
import { useApi } from '../../components/useApi.js';
import { formatTime } from './format.js';

const perPage = 10;

/** What an activity on a host did, in words (the activity log's types are Fleet's). */
export function describeActivity(a: Activity): string {
  const d = a.details;
  const str = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : '');
  switch (a.type) {
    case 'locked_host':
      return 'locked the host';
    case 'unlocked_host':
      return 'unlocked the host';
    case 'wiped_host':
      return 'wiped the host';
    case 'read_host_disk_encryption_key':
      return "viewed the host's disk encryption key";
    case 'ran_mdm_command':
      return `ran the MDM command ${str('command_type')}`;
    case 'resent_configuration_profile':
      return `resent the configuration profile ${str('profile_name')}`;
    case 'mdm_enrolled':
      return 'enrolled the host in MDM';
    case 'mdm_unenrolled':
      return 'turned off MDM';
    case 'transferred_hosts':
      return `moved the host to ${str('team_name') || 'No team'}`;
    default:
      return a.type.replace(/_/g, ' ');
  }
}

/** The audit log of this host, newest first. */
export function Activities(props: { hostId: number; version: number }) {
  const [page, setPage] = useState(0);
  const list = useApi(
    () =>
      api.get<ActivitiesResponse>(`/hosts/${props.hostId}/activities`, {
        page,
        per_page: perPage,
        order_key: 'created_at',
        order_direction: 'desc',
      }),
    [props.hostId, page, props.version],
  );
  const rows = list.data?.activities ?? [];
  return (
    <section class="card" aria-labelledby="host-activities">
      <h2 id="host-activities">Activity</h2>
      {list.loading && !list.data && <Loading what="activity" />}
      <ErrorText error={list.error} />
      {list.data && rows.length === 0 && <p class="muted">Nothing has happened to this host yet.</p>}
      {rows.length > 0 && (
        <ul class="host-activities" aria-label="Host activity">
          {rows.map((a) => (
            <li key={a.id}>
              <span>
                <strong>{a.fleet_initiated ? 'Flotilla' : (a.actor_full_name ?? 'Someone')}</strong>{' '}
                {describeActivity(a)}
              </span>{' '}
              <time class="muted" dateTime={a.created_at}>
                {formatTime(a.created_at)}
              </time>
            </li>
          ))}
        </ul>
      )}
      {list.data && (page > 0 || list.data.meta.has_next_results) && (
        <Pager
          page={page}
          hasNext={list.data.meta.has_next_results}
          onPage={setPage}
          label="Activity pages"
        />
      )}
    </section>
  );
}
