import { useState } from 'preact/hooks';
import { consolePages } from '../../paths.js';
import { api } from '../api/client.js';
import type { LabelResponse, LabelsResponse } from '../api/admin.js';
import type { Label } from '../api/shapes.js';
import { DataTable, Pager } from '../components/DataTable.js';
import { DeleteDialog } from '../components/DeleteDialog.js';
import { ErrorText, Loading } from '../components/feedback.js';
import { useApi } from '../components/useApi.js';
import { Link, useQueryParams } from '../router.js';
import { useSession } from '../session.js';
import { CreateLabel, EditLabel } from './labels/LabelForms.js';
import './labels/labels.css';

const perPage = 50;

/** How a label decides its hosts, in words. */
function kindOf(l: Label): string {
  if (l.label_type === 'builtin') return 'Built-in';
  return l.label_membership_type === 'manual' ? 'Manual' : 'Dynamic (query)';
}

/** Labels: built-in and custom, with host counts; create, edit and delete custom ones. */
export function LabelsPage(_props: { params: Record<string, string> }) {
  const { can } = useSession();
  const mayWrite = can('label', 'write');
  const [query, setQuery] = useQueryParams();
  const page = Number(query.page ?? 0) || 0;
  // One extra row tells whether a next page exists (GET /labels has no paging meta).
  const labels = useApi(
    () => api.get<LabelsResponse>('/labels', { page, per_page: perPage + 1, order_key: 'name' }),
    [page],
  );
  const [editing, setEditing] = useState<Label>();
  const [deleting, setDeleting] = useState<Label>();
  const rows = labels.data?.labels.slice(0, perPage) ?? [];

  return (
    <section>
      <h1>Labels</h1>
      <p class="muted">
        Labels group hosts: built-in ones by platform, dynamic ones by a query the host answers, manual ones
        by a list you keep.
      </p>
      {mayWrite && <CreateLabel onCreated={labels.reload} />}
      {labels.loading && !labels.data && <Loading what="labels" />}
      <ErrorText error={labels.error} />
      {labels.data && (
        <>
          <DataTable<Label>
            caption="Labels"
            rows={rows}
            rowKey={(l) => l.id}
            columns={[
              { key: 'name', title: 'Name', render: (l) => l.name },
              { key: 'kind', title: 'Type', render: kindOf },
              { key: 'platform', title: 'Platform', render: (l) => l.platform || 'All' },
              {
                key: 'description',
                title: 'Description / query',
                render: (l) => (
                  <span class="label-description">
                    {l.description}
                    {l.label_type !== 'builtin' && l.label_membership_type === 'dynamic' && l.query && (
                      <code>{l.query}</code>
                    )}
                  </span>
                ),
              },
              {
                key: 'hosts',
                title: 'Hosts',
                render: (l) => (
                  <Link
                    href={`${consolePages.hosts}?label_id=${l.id}`}
                    aria-label={`${l.count} hosts in ${l.name}`}
                  >
                    {l.count} hosts
                  </Link>
                ),
              },
              ...(mayWrite
                ? [
                    {
                      key: 'actions',
                      title: 'Actions',
                      render: (l: Label) =>
                        l.label_type !== 'builtin' && (
                          <span class="row-actions">
                            <button type="button" aria-label={`Edit ${l.name}`} onClick={() => setEditing(l)}>
                              Edit
                            </button>
                            <button
                              type="button"
                              aria-label={`Delete ${l.name}`}
                              onClick={() => setDeleting(l)}
                            >
                              Delete
                            </button>
                          </span>
                        ),
                    },
                  ]
                : []),
            ]}
          />
          <Pager
            page={page}
            hasNext={labels.data.labels.length > perPage}
            onPage={(p) => setQuery({ ...query, page: p ? String(p) : undefined })}
            label="Label pages"
          />
        </>
      )}
      {editing && (
        <EditLabel
          label={editing}
          onDone={(changed) => {
            setEditing(undefined);
            if (changed) labels.reload();
          }}
        />
      )}
      {deleting && (
        <DeleteDialog
          title={`Delete ${deleting.name}`}
          confirmLabel="Delete label"
          remove={() => api.delete<LabelResponse>(`/labels/id/${deleting.id}`)}
          onDone={(deleted) => {
            setDeleting(undefined);
            if (deleted) labels.reload();
          }}
        >
          <p>
            The label goes; its {deleting.count} hosts stay, without it. Profiles scoped to this label stop
            applying to them.
          </p>
        </DeleteDialog>
      )}
    </section>
  );
}
