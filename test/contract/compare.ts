/**
 * Structural comparison of a response body with the example in Fleet's REST docs. The docs' values
 * are illustrative, so only the shape is compared: the JSON type at every path, the set of keys of
 * every object (recursively), and every element of an array against the doc's first element.
 *
 * Paths are written `a.b.c` for object keys and `a[]` for "every element of the array a"; the root
 * is the empty path (`[]` for a root array). A path in `skip` covers that node and all below it.
 */

export interface Diff {
  path: string;
  problem: string;
}

export interface CompareOptions {
  /** Subtrees left out of the comparison (intentional differences, gaps tracked elsewhere). */
  skip?: string[];
  /** Subtrees compared by JSON type only: free-form objects whose keys depend on the data. */
  opaque?: string[];
  /** Documented arrays or objects that may be `null` in the answer (Fleet's unset optional fields). */
  nullable?: string[];
  /** Documented keys Fleet leaves out when zero or empty (`omitempty`): they may be absent. */
  omitempty?: string[];
}

export type JsonType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';

export function jsonType(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  if (t === 'boolean' || t === 'number' || t === 'string') return t;
  if (t === 'object') return 'object';
  throw new Error(`not a JSON value: ${String(v)}`);
}

export function child(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function elements(path: string): string {
  return `${path}[]`;
}

/** True when `path` is `base` or lies below it. */
export function covers(base: string, path: string): boolean {
  if (base === path) return true;
  return path.startsWith(`${base}.`) || path.startsWith(`${base}[]`);
}

/**
 * Compares `actual` with the documented `expected`. Rules:
 * - A documented `null` stands for any value: the doc cannot show the type of a field that is null
 *   in its example.
 * - A documented string, number or boolean may be `null` in the answer: Fleet's optional fields are
 *   null until set, and the docs show them set. A documented array or object may be `null` only at
 *   a path listed in `nullable`.
 * - A documented key listed in `omitempty` may be absent (Fleet leaves it out when zero or empty).
 * - Every object has the documented keys and no others. A key `fleet_…` (or `…fleets…`) that
 *   duplicates a `team_…` key of the same object is not counted: newer Fleet sends both names for
 *   the team → fleet rename (server/platform/endpointer/json_key_duplicator.go).
 * - Every element of an array is compared with the doc's first element. A documented non-empty
 *   array must have at least one element somewhere in the answer, so its shape gets checked
 *   (unless it is `nullable`: then it may also be empty).
 */
export function compareShape(expected: unknown, actual: unknown, opts: CompareOptions = {}): Diff[] {
  const skip = opts.skip ?? [];
  const opaque = opts.opaque ?? [];
  const nullable = opts.nullable ?? [];
  const omitempty = opts.omitempty ?? [];
  const diffs: Diff[] = [];
  const skipped = (p: string) => skip.some((s) => covers(s, p));
  // Documented non-empty arrays, and whether any answer gave them an element.
  const arraysSeen = new Map<string, boolean>();

  const walk = (exp: unknown, act: unknown, path: string) => {
    if (skipped(path)) return;
    const et = jsonType(exp);
    if (et === 'null') return;
    const at = act === undefined ? 'absent' : jsonType(act);
    if (at === 'null' && (et === 'string' || et === 'number' || et === 'boolean')) return;
    if (at === 'null' && nullable.includes(path)) return;
    if (et !== at) {
      diffs.push({ path: path || '(root)', problem: `type ${at}, documented ${et}` });
      return;
    }
    if (opaque.includes(path)) return;
    if (et === 'object') {
      const e = exp as Record<string, unknown>;
      const a = act as Record<string, unknown>;
      for (const k of Object.keys(e)) {
        const p = child(path, k);
        if (skipped(p)) continue;
        if (!(k in a)) {
          if (!omitempty.includes(p)) diffs.push({ path: p, problem: 'missing (documented)' });
        } else walk(e[k], a[k], p);
      }
      for (const k of Object.keys(a)) {
        const p = child(path, k);
        if (k in e || skipped(p)) continue;
        const teamName = k.replace(/fleet/g, 'team');
        if (teamName !== k && teamName in a) continue;
        diffs.push({ path: p, problem: 'not documented' });
      }
      return;
    }
    if (et === 'array') {
      const e = exp as unknown[];
      const a = act as unknown[];
      if (e.length === 0) return;
      const p = elements(path);
      if (skipped(p)) return;
      arraysSeen.set(p, (arraysSeen.get(p) ?? false) || a.length > 0);
      for (const item of a) walk(e[0], item, p);
    }
  };

  walk(expected, actual, '');
  for (const [p, seen] of arraysSeen) {
    // A `nullable` array (unset in Fleet until configured) may also be empty.
    if (!seen && !nullable.includes(p.slice(0, -2)))
      diffs.push({ path: p, problem: 'always empty: the seed must give elements to compare' });
  }
  // One line per path: every element of an array reports the same difference.
  const seen = new Set<string>();
  return diffs.filter((d) => {
    const key = `${d.path}\n${d.problem}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export interface Erratum {
  /**
   * Where the doc example is wrong: `a.b` or `a[].b` (`[]` = the array's elements); or, outside
   * the body, `(status)`, `(header <name>)` or `(text_starts_with)`.
   */
  path: string;
  /** `add`: the key is missing from the example; `remove`: it is not in Fleet's answer; `set`: wrong type. */
  op: 'add' | 'remove' | 'set';
  value?: unknown;
  reason: string;
}

function splitPath(path: string): string[] {
  // `a[].b` → ['a', '[]', 'b']; `[]` → ['[]'].
  const out: string[] = [];
  for (const part of path.split('.')) {
    const m = /^(.*?)((?:\[\])*)$/.exec(part)!;
    if (m[1]) out.push(m[1]);
    for (let i = 0; i < m[2].length / 2; i++) out.push('[]');
  }
  return out;
}

/**
 * Applies documented corrections of the doc example (a missing key, a key Fleet does not send)
 * to a copy of it. Each erratum must find its place, so a stale one fails loudly.
 */
export function applyErrata(body: unknown, errata: Erratum[]): unknown {
  const copy = structuredClone(body);
  for (const e of errata) {
    if (e.path.startsWith('(')) continue; // corrections outside the body: see the runner
    const parts = splitPath(e.path);
    const last = parts.pop();
    if (!last || last === '[]') throw new Error(`erratum path must end in a key: ${e.path}`);
    let targets: unknown[] = [copy];
    for (const p of parts) {
      const next: unknown[] = [];
      for (const t of targets) {
        if (p === '[]') {
          if (!Array.isArray(t)) throw new Error(`erratum ${e.path}: not an array before []`);
          next.push(...t);
        } else {
          if (jsonType(t) !== 'object' || !(p in (t as object)))
            throw new Error(`erratum ${e.path}: no key ${p}`);
          next.push((t as Record<string, unknown>)[p]);
        }
      }
      targets = next;
    }
    // Through `[]`, an erratum applies to the elements it fits; it must fit at least one.
    let applied = 0;
    for (const t of targets) {
      if (jsonType(t) !== 'object') throw new Error(`erratum ${e.path}: parent is not an object`);
      const o = t as Record<string, unknown>;
      if (e.op === 'add' ? last in o : !(last in o)) continue;
      if (e.op === 'remove') delete o[last];
      else o[last] = structuredClone(e.value);
      applied++;
    }
    if (applied === 0) throw new Error(`erratum ${e.path} (${e.op}): does not fit the doc example`);
  }
  return copy;
}
