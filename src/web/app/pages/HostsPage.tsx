import { useRef, useState } from 'preact/hooks';
import { consolePages } from '../../paths.js';
import { api } from '../api/client.js';
import {
  platformName,
  type CountResponse,
  type HostListParam,
  type HostOrderKey,
  type HostsResponse,
} from '../api/hosts.js';
import type { HostListItem, Label } from '../api/shapes.js';
import { DataTable, Pager, type Column, type SortState } from '../components/DataTable.js';
import { ErrorText, Loading, StatusBadge } from '../components/feedback.js';
import { useApi } from '../components/useApi.js';
import { Link, pathTo, useQueryParams } from '../router.js';
import { useSession, type Session } from '../session.js';
import { BulkActions } from './hosts/BulkActions.js';
import { HostFilters } from './hosts/HostFilters.js';
import { loadTeams, type TeamOption } from './hosts/useTeams.js';
import {
  countApiQuery,
  defaultOrder,
  hostQueryFrom,
  inParamOrder,
  listApiQuery,
  pagingOf,
  perPageChoices,
  sessionFirst,
} from './hosts/hostQuery.js';
import './hosts/hosts.css';

function lastSeen(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '—' : d.toLocaleString();
}

/** A column the server sorts by: its key is an `order_key` the server takes. */
const sortKey = (key: HostOrderKey) => key;

const columns: Column<HostListItem>[] = [
  {
    key: sortKey('display_name'),
    title: 'Name',
    sortable: true,
    render: (h) => <Link href={pathTo(consolePages.host, { id: h.id })}>{h.display_name}</Link>,
  },
  { key: sortKey('platform'), title: 'Platform', sortable: true, render: (h) => platformName(h.platform) },
  { key: sortKey('os_version'), title: 'OS version', sortable: true, render: (h) => h.os_version || '—' },
  { key: sortKey('team_id'), title: 'Team', sortable: true, render: (h) => h.team_name ?? 'No team' },
  {
    key: 'mdm_status',
    title: 'MDM status',
    render: (h) => (h.mdm?.enrollment_status ? h.mdm.enrollment_status : <span class="muted">Off</span>),
  },
  { key: 'status', title: 'Status', render: (h) => <StatusBadge status={h.status} /> },
  { key: sortKey('seen_time'), title: 'Last seen', sortable: true, render: (h) => lastSeen(h.seen_time) },
];

interface Lookups {
  teams: TeamOption[];
  /** Undefined when the user may not read labels. */
  labels: Pick<Label, 'id' | 'name'>[] | undefined;
}

/** Teams and labels for the filters; without them the list still works (its filters are fewer). */
async function loadLookups(session: Session): Promise<Lookups> {
  const [teams, labels] = await Promise.all([
    loadTeams(session).catch(() => session.availableTeams.map(({ id, name }) => ({ id, name }))),
    session.can('label', 'read', null)
      ? api
          .get<{ labels: Label[] }>('/labels/summary')
          .then((r) => r.labels)
          .catch(() => undefined)
      : undefined,
  ]);
  return { teams, labels };
}

/**
 * The hosts list. Its URL's query is exactly `GET /hosts`'s, so any page can link to a filtered
 * list and a reload shows the same hosts. Sorting, paging and filtering happen on the server.
 */
export function HostsPage(_props: { params: Record<string, string> }) {
  const session = useSession();
  const [params, setParams] = useQueryParams();
  const query = hostQueryFrom(params);
  const { page, perPage } = pagingOf(query);
  const queryKey = JSON.stringify(query);
  // Teams and labels for the filters load once, with the first page of hosts.
  const lookups = useRef<Promise<Lookups> | undefined>(undefined);
  const hosts = useApi(
    () =>
      sessionFirst(
        () => api.get<CountResponse>('/hosts/count', countApiQuery(query)),
        () =>
          Promise.all([
            api.get<HostsResponse>('/hosts', listApiQuery(query)),
            (lookups.current ??= loadLookups(session)),
          ]),
      ).then(([count, [list, found]]) => ({ hosts: list.hosts, count: count.count, ...found })),
    [queryKey],
  );
  const [selected, setSelected] = useState<Set<string | number>>(new Set());

  /** A new filter starts again from page 1 and drops a selection the admin can no longer see. */
  const update = (changes: Partial<Record<HostListParam, string | undefined>>) => {
    const resetsPage = !('page' in changes);
    setParams(inParamOrder({ ...query, ...(resetsPage ? { page: undefined } : {}), ...changes }));
    if (resetsPage) setSelected(new Set());
  };
  const clearFilters = () => {
    setParams({
      order_key: query.order_key,
      order_direction: query.order_direction,
      per_page: query.per_page,
    });
    setSelected(new Set());
  };

  const teamId = query.team_id && /^\d+$/.test(query.team_id) ? Number(query.team_id) : undefined;
  const canBulk = session.can('host', 'write', teamId === 0 ? null : teamId);
  const rows = hosts.data?.hosts ?? [];
  const sort: SortState = {
    key: query.order_key ?? defaultOrder.key,
    direction: query.order_direction === 'desc' ? 'desc' : 'asc',
  };
  const total = hosts.data?.count;
  const selectedHosts = rows.filter((h) => selected.has(h.id));
  const first = page * perPage + 1;
  const teams = hosts.data?.teams ?? [];

  // The page appears once its first calls are all answered, so nothing it asks for on opening
  // arrives after the admin starts acting on it.
  if (!hosts.data && !hosts.error) {
    return (
      <section class="hosts-page">
        <Loading what="hosts" />
      </section>
    );
  }

  return (
    <section class="hosts-page">
      <h1>Hosts</h1>
      <HostFilters
        query={query}
        teams={teams}
        labels={hosts.data?.labels}
        onChange={update}
        onClear={clearFilters}
      />
      <div class="hosts-summary" aria-live="polite">
        {total !== undefined && (
          <p>
            {total === 0
              ? 'No hosts match.'
              : `${total.toLocaleString()} ${total === 1 ? 'host' : 'hosts'}; showing ${first.toLocaleString()}–${(
                  first +
                  rows.length -
                  1
                ).toLocaleString()}`}
          </p>
        )}
      </div>
      {/* Phones show rows as cards without column headers, so sorting is a menu there. */}
      <label class="inline phone-sort">
        Sort by
        <select
          aria-label="Sort by"
          value={`${sort.key}:${sort.direction}`}
          onChange={(e) => {
            const [key, direction] = (e.target as HTMLSelectElement).value.split(':');
            update({ order_key: key, order_direction: direction });
          }}
        >
          {columns
            .filter((c) => c.sortable)
            .flatMap((c) => [
              <option key={`${c.key}:asc`} value={`${c.key}:asc`}>
                {c.title} (ascending)
              </option>,
              <option key={`${c.key}:desc`} value={`${c.key}:desc`}>
                {c.title} (descending)
              </option>,
            ])}
        </select>
      </label>
      {canBulk && (
        <BulkActions
          selected={selectedHosts}
          teams={teams}
          onDone={() => {
            setSelected(new Set());
            hosts.reload();
          }}
        />
      )}
      <ErrorText error={hosts.error} />
      {/* After a refused query the last rows would not match the filters shown. */}
      {!hosts.error && (
        <div aria-busy={hosts.loading}>
          <DataTable
            caption="Hosts"
            columns={columns}
            rows={rows}
            rowKey={(h) => h.id}
            sort={sort}
            onSort={(s) => update({ order_key: s.key, order_direction: s.direction })}
            selected={canBulk ? selected : undefined}
            onSelect={canBulk ? setSelected : undefined}
            empty="No hosts match these filters."
          />
          <div class="hosts-paging">
            <Pager
              page={page}
              hasNext={total !== undefined && (page + 1) * perPage < total}
              onPage={(p) => update({ page: p ? String(p) : undefined })}
              label="Host pages"
            />
            <label class="inline">
              Hosts per page
              <select
                value={String(perPage)}
                onChange={(e) => update({ per_page: (e.target as HTMLSelectElement).value })}
              >
                {perPageChoices.map((n) => (
                  <option key={n} value={String(n)}>
                    {n}
                  </option>
                ))}
              </select>
            </label>
          </div>
        </div>
      )}
    </section>
  );
}
