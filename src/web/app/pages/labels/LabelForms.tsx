import { useEffect, useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import type { LabelResponse } from '../../api/admin.js';
import type { HostListItem, Label } from '../../api/shapes.js';
import { ConfirmDialog, ErrorText } from '../../components/feedback.js';
import { useAction } from '../../components/useAction.js';

/** The platforms a dynamic label's query may be limited to (Fleet's label platforms). */
const platforms = [
  { value: '', label: 'All platforms' },
  { value: 'darwin', label: 'macOS' },
  { value: 'windows', label: 'Windows' },
  { value: 'ubuntu', label: 'Ubuntu' },
  { value: 'centos', label: 'CentOS' },
];

/** One host identifier (serial, UUID or hostname) per line or comma-separated. */
function identifiers(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function CreateLabel(props: { onCreated: () => void }) {
  const [kind, setKind] = useState<'dynamic' | 'manual'>('dynamic');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [query, setQuery] = useState('');
  const [platform, setPlatform] = useState('');
  const [hosts, setHosts] = useState('');
  const { busy, error, run } = useAction();
  const [created, setCreated] = useState<string>();

  return (
    <form
      class="card stack labels-create"
      aria-label="Create label"
      onSubmit={(e) => {
        e.preventDefault();
        setCreated(undefined);
        void run(async () => {
          const body =
            kind === 'dynamic'
              ? { name: name.trim(), description, query, ...(platform ? { platform } : {}) }
              : { name: name.trim(), description, hosts: identifiers(hosts) };
          const res = await api.post<LabelResponse>('/labels', body);
          setCreated(`Label ${res.label.name} created.`);
          setName('');
          setDescription('');
          setQuery('');
          setHosts('');
          props.onCreated();
        });
      }}
    >
      <h2>New label</h2>
      <fieldset class="row label-kind">
        <legend>Type</legend>
        <label class="inline">
          <input
            type="radio"
            name="label-kind"
            checked={kind === 'dynamic'}
            onChange={() => setKind('dynamic')}
          />
          Dynamic (a query decides)
        </label>
        <label class="inline">
          <input
            type="radio"
            name="label-kind"
            checked={kind === 'manual'}
            onChange={() => setKind('manual')}
          />
          Manual (a list of hosts)
        </label>
      </fieldset>
      <div class="row">
        <label>
          Label name
          <input value={name} required maxLength={255} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Description
          <input
            value={description}
            maxLength={1023}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        </label>
        {kind === 'dynamic' && (
          <label>
            Platform
            <select value={platform} onChange={(e) => setPlatform(e.currentTarget.value)}>
              {platforms.map((p) => (
                <option key={p.value} value={p.value}>
                  {p.label}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      {kind === 'dynamic' ? (
        <label>
          Query (SQL; hosts that return rows are in the label)
          <textarea rows={3} value={query} required onInput={(e) => setQuery(e.currentTarget.value)} />
        </label>
      ) : (
        <label>
          Hosts (serial numbers, UUIDs or hostnames, one per line)
          <textarea rows={3} value={hosts} onInput={(e) => setHosts(e.currentTarget.value)} />
        </label>
      )}
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>
          Create label
        </button>
      </div>
      <ErrorText error={error} />
      <p class="muted" aria-live="polite">
        {created}
      </p>
    </form>
  );
}

/**
 * Edits a custom label: name and description; a manual label's hosts too. The query of a dynamic
 * label cannot change (the API refuses it, as Fleet does), so it is shown read-only.
 */
export function EditLabel(props: { label: Label; onDone: (changed: boolean) => void }) {
  const l = props.label;
  const manual = l.label_membership_type === 'manual';
  const [name, setName] = useState(l.name);
  const [description, setDescription] = useState(l.description ?? '');
  const [hosts, setHosts] = useState<string>();
  const { busy, error, setError, run } = useAction();

  // The label lists host ids; the API takes identifiers, so the member hosts are loaded for theirs.
  useEffect(() => {
    if (!manual) return;
    api.get<{ hosts: HostListItem[] }>(`/labels/${l.id}/hosts`).then(
      (res) => setHosts(res.hosts.map((h) => h.hardware_serial || h.uuid || h.hostname).join('\n')),
      (e: Error) => setError(e),
    );
  }, [l.id]);

  return (
    <ConfirmDialog
      title={`Edit ${l.name}`}
      confirmLabel="Save"
      busy={busy || (manual && hosts === undefined)}
      error={error}
      onCancel={() => props.onDone(false)}
      onConfirm={() =>
        void run(async () => {
          await api.patch<LabelResponse>(`/labels/${l.id}`, {
            name: name.trim(),
            description,
            ...(manual && hosts !== undefined ? { hosts: identifiers(hosts) } : {}),
          });
          props.onDone(true);
        })
      }
    >
      <div class="stack">
        <label>
          Label name
          <input value={name} required onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Description
          <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </label>
        {manual ? (
          <label>
            Hosts (serial numbers, UUIDs or hostnames, one per line)
            <textarea rows={4} value={hosts ?? ''} onInput={(e) => setHosts(e.currentTarget.value)} />
          </label>
        ) : (
          <p>
            Query (cannot be changed): <code>{l.query}</code>
          </p>
        )}
      </div>
    </ConfirmDialog>
  );
}
