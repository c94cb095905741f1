import { hostFilterParams, hostListParams, type HostListParam } from '../../api/hosts.js';

export const perPageChoices = [20, 50, 100, 250] as const;
export const defaultPerPage = 50;
/** Fleet's console lists hosts by name unless told otherwise. */
export const defaultOrder = { key: 'display_name', direction: 'asc' as 'asc' | 'desc' };

/** The URL's host-list params (only those `GET /hosts` takes), as the page and the API read them. */
export type HostQuery = Partial<Record<HostListParam, string>>;

export function hostQueryFrom(params: Record<string, string>): HostQuery {
  const q: HostQuery = {};
  for (const k of hostListParams) if (params[k]) q[k] = params[k];
  return q;
}

/** Page (0-based) and page size as numbers, with the defaults the URL leaves out. */
export function pagingOf(q: HostQuery): { page: number; perPage: number } {
  const page = /^\d+$/.test(q.page ?? '') ? Number(q.page) : 0;
  const perPage = /^\d+$/.test(q.per_page ?? '') ? Number(q.per_page) : defaultPerPage;
  return { page, perPage };
}

/** The query `GET /hosts` gets: the URL's params with the default order and page size filled in. */
export function listApiQuery(q: HostQuery): Record<string, string> {
  const { page, perPage } = pagingOf(q);
  return {
    ...q,
    order_key: q.order_key ?? defaultOrder.key,
    order_direction: q.order_direction ?? defaultOrder.direction,
    page: String(page),
    per_page: String(perPage),
  };
}

/** The query `GET /hosts/count` gets: the same filters, no order or paging. */
export function countApiQuery(q: HostQuery): Record<string, string> {
  const c: Record<string, string> = {};
  for (const k of hostFilterParams) if (q[k]) c[k] = q[k]!;
  return c;
}

export function hasFilters(q: HostQuery): boolean {
  return hostFilterParams.some((k) => !!q[k]);
}

/** The params in `GET /hosts`'s order (filters, then order and paging), so a URL reads the same however it was built. */
export function inParamOrder(
  q: Partial<Record<HostListParam, string | undefined>>,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const k of hostListParams) out[k] = q[k];
  return out;
}

/**
 * Runs `first`, then `rest` in parallel. A page's first call goes alone because when the session
 * has ended each parallel 401 would send the app to the login page again, nesting `next=` in
 * `next=` (client.ts reports every 401 it sees).
 */
export async function sessionFirst<A, B>(first: () => Promise<A>, rest: () => Promise<B>): Promise<[A, B]> {
  const a = await first();
  return [a, await rest()];
}
