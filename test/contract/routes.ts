/**
 * The admin endpoints the server serves, read from Fastify's route tree, and how a fixture's
 * request maps onto them. Device protocol routes (Apple check-in, SCEP, Windows, orbit) and the
 * health routes are out of the contract's scope; every admin route is served under three version
 * prefixes, of which `/api/v1/fleet` stands for all.
 */
import type { FastifyInstance } from 'fastify';

const adminPrefix = '/api/v1/fleet';
const inScope = (path: string) => path === '/api/v1/setup' || path.startsWith(`${adminPrefix}/`);

/** `METHOD /path` with every path parameter written `:` (Fastify prints `/:id|:name` for shared ones). */
export function routeKey(method: string, path: string): string {
  return `${method} ${path.replace(/\/:[^/]+/g, '/:')}`;
}

/** Every in-scope route as `METHOD /path`, HEAD left out. */
export function servedAdminRoutes(server: FastifyInstance): string[] {
  const tree = server.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const out = new Set<string>();
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    const path = (depth ? stack[depth - 1] : '') + m[2];
    stack.push(path);
    if (!m[3] || !inScope(path)) continue;
    for (const method of m[3].split(',').map((s) => s.trim())) {
      if (method !== 'HEAD') out.add(routeKey(method, path));
    }
  }
  return [...out].sort();
}

/**
 * The served route a fixture's request lands on: its path with placeholders read as parameters,
 * `/api/latest/fleet` as `/api/v1/fleet`; of several matches, the one with the most fixed segments.
 */
export function routeOfRequest(method: string, path: string, served: string[]): string | undefined {
  const concrete = path.replace(/^\/api\/(latest|2022-04)\/fleet\//, `${adminPrefix}/`).split('/');
  let best: { key: string; fixed: number } | undefined;
  for (const key of served) {
    const [m, p] = key.split(' ');
    if (m !== method) continue;
    const segs = p.split('/');
    if (segs.length !== concrete.length) continue;
    let fixed = 0;
    let ok = true;
    for (let i = 0; i < segs.length && ok; i++) {
      if (segs[i] === ':') continue;
      if (segs[i] === concrete[i]) fixed++;
      else ok = false;
    }
    if (ok && (!best || fixed > best.fixed)) best = { key, fixed };
  }
  return best?.key;
}
