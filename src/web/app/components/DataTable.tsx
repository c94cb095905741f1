import type { ComponentChildren } from 'preact';

export interface Column<Row> {
  key: string;
  title: string;
  /** When set, the header is a button that sorts by this key on the server. */
  sortable?: boolean;
  render: (row: Row) => ComponentChildren;
}

export interface SortState {
  key: string;
  direction: 'asc' | 'desc';
}

/**
 * A table whose sorting and paging happen on the server (the page asks the API for one page at a
 * time, so 10,000 hosts cost what 50 do). Optional row selection for bulk actions.
 */
export function DataTable<Row>(props: {
  caption: string;
  columns: Column<Row>[];
  rows: Row[];
  rowKey: (row: Row) => string | number;
  sort?: SortState;
  onSort?: (s: SortState) => void;
  selected?: Set<string | number>;
  onSelect?: (next: Set<string | number>) => void;
  empty?: ComponentChildren;
}) {
  const { columns, rows, sort, onSort, selected, onSelect } = props;
  const allSelected = !!selected && rows.length > 0 && rows.every((r) => selected.has(props.rowKey(r)));
  const toggle = (key: string | number) => {
    if (!selected || !onSelect) return;
    const next = new Set(selected);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    onSelect(next);
  };
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            {onSelect && (
              <th scope="col" class="select">
                <input
                  type="checkbox"
                  aria-label="Select all on this page"
                  checked={allSelected}
                  onChange={() => onSelect(allSelected ? new Set() : new Set(rows.map(props.rowKey)))}
                />
              </th>
            )}
            {columns.map((c) => {
              const active = sort?.key === c.key;
              return (
                <th
                  scope="col"
                  key={c.key}
                  aria-sort={active ? (sort!.direction === 'asc' ? 'ascending' : 'descending') : undefined}
                >
                  {c.sortable && onSort ? (
                    <button
                      type="button"
                      class="sort"
                      onClick={() =>
                        onSort({
                          key: c.key,
                          direction: active && sort!.direction === 'asc' ? 'desc' : 'asc',
                        })
                      }
                    >
                      {c.title}
                      <span aria-hidden="true">
                        {active ? (sort!.direction === 'asc' ? ' ▲' : ' ▼') : ''}
                      </span>
                    </button>
                  ) : (
                    c.title
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={columns.length + (onSelect ? 1 : 0)} class="muted">
                {props.empty ?? 'Nothing here yet.'}
              </td>
            </tr>
          ) : (
            rows.map((r) => {
              const key = props.rowKey(r);
              return (
                <tr key={key}>
                  {onSelect && (
                    <td class="select">
                      <input
                        type="checkbox"
                        aria-label={`Select row ${key}`}
                        checked={selected?.has(key) ?? false}
                        onChange={() => toggle(key)}
                      />
                    </td>
                  )}
                  {columns.map((c) => (
                    <td key={c.key} data-label={c.title}>
                      {c.render(r)}
                    </td>
                  ))}
                </tr>
              );
            })
          )}
        </tbody>
      </table>
    </div>
  );
}

/** Previous / next paging with Fleet's page numbers (0-based) and has_next_results. */
export function Pager(props: {
  page: number;
  hasNext: boolean;
  onPage: (page: number) => void;
  label?: string;
}) {
  return (
    <nav class="pager" aria-label={props.label ?? 'Pages'}>
      <button type="button" disabled={props.page === 0} onClick={() => props.onPage(props.page - 1)}>
        ← Previous
      </button>
      <span>Page {props.page + 1}</span>
      <button type="button" disabled={!props.hasNext} onClick={() => props.onPage(props.page + 1)}>
        Next →
      </button>
    </nav>
  );
}
