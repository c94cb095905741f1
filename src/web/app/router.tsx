import type { AnchorHTMLAttributes, ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/**
 * History-API routing for the console's pages (src/web/paths.ts lists them; the server answers each
 * with the console). Small enough that a routing library would be most of the bundle.
 */

type Listener = () => void;
const listeners = new Set<Listener>();

function currentLocation() {
  return { path: location.pathname, search: location.search };
}

export function navigate(to: string, opts: { replace?: boolean } = {}) {
  if (to === location.pathname + location.search) return;
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const l of listeners) l();
  window.scrollTo(0, 0);
}

window.addEventListener('popstate', () => {
  for (const l of listeners) l();
});

/** The current path and query; re-renders the caller when either changes. */
export function useLocation() {
  const [loc, setLoc] = useState(currentLocation);
  useEffect(() => {
    const l = () => setLoc(currentLocation());
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return loc;
}

/** The query string as an object, and a setter that replaces the URL's query (for filters and paging). */
export function useQueryParams(): [
  Record<string, string>,
  (next: Record<string, string | undefined>) => void,
] {
  const { path, search } = useLocation();
  const params = Object.fromEntries(new URLSearchParams(search));
  const set = (next: Record<string, string | undefined>) => {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(next)) if (v !== undefined && v !== '') qs.set(k, v);
    const s = qs.toString();
    navigate(s ? `${path}?${s}` : path, { replace: true });
  };
  return [params, set];
}

/** `/hosts/:id` against `/hosts/12` → { id: '12' }; undefined when it does not match. */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/');
  const a = path.replace(/\/+$/, '').split('/');
  if (p.length !== a.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(a[i]);
    else if (p[i] !== a[i]) return undefined;
  }
  return params;
}

/** `/hosts/:id` with { id: 12 } → `/hosts/12`. */
export function pathTo(pattern: string, params: Record<string, string | number> = {}): string {
  return pattern.replace(/:(\w+)/g, (_m, k: string) => encodeURIComponent(String(params[k])));
}

/** An in-app link: a real <a href> (so it opens in a new tab too) that routes without a reload. */
export function Link(
  props: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string; children?: ComponentChildren },
) {
  const { href, onClick, ...rest } = props;
  return (
    <a
      href={href}
      {...rest}
      onClick={(e) => {
        if (typeof onClick === 'function') onClick(e);
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(href);
      }}
    />
  );
}
