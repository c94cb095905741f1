import { useEffect, useRef, useState } from 'preact/hooks';
import {
  diskEncryptionValues,
  hostStatusValues,
  mdmEnrollmentValues,
  osSettingsValues,
  platformValues,
  type HostListParam,
} from '../../api/hosts.js';
import type { Label } from '../../api/shapes.js';
import type { TeamOption } from './useTeams.js';
import { hasFilters, type HostQuery } from './hostQuery.js';

/** How long typing pauses before the search asks the server. */
const searchDelayMs = 300;

function FilterSelect(props: {
  label: string;
  param: HostListParam;
  query: HostQuery;
  options: readonly (readonly [string, string])[];
  anyLabel?: string;
  onChange: (param: HostListParam, value: string | undefined) => void;
}) {
  const value = props.query[props.param] ?? '';
  const known = props.options.some(([v]) => v === value);
  return (
    <label>
      {props.label}
      <select
        aria-label={props.label}
        value={value}
        onChange={(e) => props.onChange(props.param, (e.target as HTMLSelectElement).value || undefined)}
      >
        <option value="">{props.anyLabel ?? 'Any'}</option>
        {/* A value from a link that the list does not name still shows as chosen. */}
        {value && !known && <option value={value}>{value}</option>}
        {props.options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The hosts page's filters: a debounced search and one control per `GET /hosts` filter. */
export function HostFilters(props: {
  query: HostQuery;
  teams: TeamOption[];
  labels: Pick<Label, 'id' | 'name'>[] | undefined;
  onChange: (changes: Partial<Record<HostListParam, string | undefined>>) => void;
  onClear: () => void;
}) {
  const { query, onChange } = props;
  const [search, setSearch] = useState(query.query ?? '');
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  // The URL wins when it changes from elsewhere (clear filters, back button).
  useEffect(() => setSearch(query.query ?? ''), [query.query]);
  useEffect(() => () => clearTimeout(timer.current), []);
  const typed = (text: string) => {
    setSearch(text);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => onChange({ query: text.trim() || undefined }), searchDelayMs);
  };
  const set = (param: HostListParam, value: string | undefined) => onChange({ [param]: value });
  const teamOptions: [string, string][] = [
    ['0', 'No team'],
    ...props.teams.map((t): [string, string] => [String(t.id), t.name]),
  ];
  const labelOptions = (props.labels ?? []).map((l): [string, string] => [String(l.id), l.name]);

  return (
    <div class="host-filters" role="search" aria-label="Filter hosts">
      <label class="host-search">
        Search hosts
        <input
          type="search"
          value={search}
          placeholder="Name, hostname, serial or UUID"
          onInput={(e) => typed((e.target as HTMLInputElement).value)}
        />
      </label>
      <FilterSelect
        label="Team"
        param="team_id"
        query={query}
        options={teamOptions}
        anyLabel="All teams"
        onChange={set}
      />
      <FilterSelect label="Platform" param="platform" query={query} options={platformValues} onChange={set} />
      <FilterSelect label="Status" param="status" query={query} options={hostStatusValues} onChange={set} />
      <FilterSelect
        label="MDM status"
        param="mdm_enrollment_status"
        query={query}
        options={mdmEnrollmentValues}
        onChange={set}
      />
      <FilterSelect
        label="OS settings"
        param="os_settings"
        query={query}
        options={osSettingsValues}
        onChange={set}
      />
      <FilterSelect
        label="Disk encryption"
        param="os_settings_disk_encryption"
        query={query}
        options={diskEncryptionValues}
        onChange={set}
      />
      {props.labels && (
        <FilterSelect label="Label" param="label_id" query={query} options={labelOptions} onChange={set} />
      )}
      {query.profile_uuid && (
        <p class="filter-chip">
          Profile <code>{query.profile_uuid}</code>: {query.profile_status ?? 'any status'}
          <button
            type="button"
            class="link"
            onClick={() => onChange({ profile_uuid: undefined, profile_status: undefined })}
          >
            Remove profile filter
          </button>
        </p>
      )}
      {hasFilters(query) && (
        <button type="button" onClick={props.onClear}>
          Clear filters
        </button>
      )}
    </div>
  );
}
