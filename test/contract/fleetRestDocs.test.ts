/**
 * Contract test: replays the request/response examples of Fleet's REST docs (transcribed into
 * `fixtures/*.json`) against the real server, on every dialect, and fails on any difference of
 * status or shape. See `fixtures.ts` for the fixture format and `compare.ts` for the comparison.
 *
 * Each fixture is one test that seeds what it needs. A fixture marked `known_gap` runs as
 * `it.fails`: it passes while exactly its `known_gap_paths` differ, and fails (asking for the
 * marker to be removed) once the gap is fixed, or if anything else starts to differ.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startFakeSmtpServer } from '../../src/clients/smtp/fakeServer.js';
import { startFakeApns } from '../helpers/apns.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeEachDialect, dialects, startTestServer, type TestServer } from '../helpers/testServer.js';
import { applyErrata, compareShape, covers, type Diff } from './compare.js';
import { fixturesDir, intentionalPaths, loadFixtures, loadShared, type Fixture } from './fixtures.js';
import { routeOfRequest, servedAdminRoutes } from './routes.js';
import { newVars, ServerSeeds, type Vars } from './seeds.js';

declare module 'vitest' {
  interface TaskMeta {
    /** What a fixture's replay found different (reporters show it, e.g. the JSON reporter's `meta`). */
    contractDiffs?: Diff[];
  }
}

const apns = await startFakeApns();
const smtp = await startFakeSmtpServer();
afterAll(async () => {
  await apns.fake.close();
  await smtp.close();
});

const fixtures = loadFixtures();
const shared = loadShared();

function fill(template: string, vars: Vars, encode: boolean): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    if (!(name in vars)) throw new Error(`no seed variable ${name}`);
    const v = String(vars[name]);
    return encode ? encodeURIComponent(v) : v;
  });
}

/** Fills placeholders in a JSON value; a string that is exactly `{{x}}` takes x's value and type. */
function fillJson(value: unknown, vars: Vars): unknown {
  if (typeof value === 'string') {
    const whole = /^\{\{(\w+)\}\}$/.exec(value);
    if (whole) {
      if (!(whole[1] in vars)) throw new Error(`no seed variable ${whole[1]}`);
      return vars[whole[1]];
    }
    return fill(value, vars, false);
  }
  if (Array.isArray(value)) return value.map((v) => fillJson(v, vars));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillJson(v, vars)]));
  return value;
}

interface Sent {
  status: number;
  text: string;
  headers: Headers;
}

async function send(srv: TestServer, seeds: ServerSeeds, f: Fixture, vars: Vars): Promise<Sent> {
  const r = f.request;
  const url = new URL(srv.url + fill(r.path, vars, true));
  for (const [k, v] of Object.entries(r.query ?? {})) url.searchParams.append(k, fill(v, vars, false));
  const headers: Record<string, string> = {};
  const auth = r.auth ?? 'admin';
  if (auth === 'admin') headers.authorization = `Bearer ${await seeds.adminToken()}`;
  else if (auth !== 'none') headers.authorization = `Bearer ${String(vars[auth])}`;
  let body: BodyInit | undefined;
  if (r.multipart) {
    const form = new FormData();
    for (const [k, v] of r.multipart.fields) form.append(k, fill(v, vars, false));
    const file = r.multipart.file;
    form.append(file.field, new Blob([fill(file.content, vars, false)]), file.filename);
    body = form;
  } else if (r.body !== undefined) {
    body = JSON.stringify(fillJson(r.body, vars));
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(url, { method: r.method, headers, body });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

function withoutUuid(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const { uuid: _uuid, ...rest } = body as Record<string, unknown>;
  return rest;
}

/** Every difference between the response and the fixture, intentional differences excluded. */
/** The documented response with the errata that lie outside the body (status, headers) applied. */
function documented(f: Fixture): Fixture['response'] {
  const exp = { ...f.response, headers: { ...(f.response.headers ?? {}) } };
  for (const e of f.doc_errata ?? []) {
    if (e.path === '(status)') exp.status = e.value as number;
    else if (e.path === '(text_starts_with)')
      exp.text_starts_with = e.op === 'remove' ? undefined : (e.value as string);
    else if (e.path.startsWith('(header ')) exp.headers[e.path.slice(8, -1)] = e.value as string;
  }
  return exp;
}

function differences(f: Fixture, res: Sent): Diff[] {
  const exp = documented(f);
  if (res.status !== exp.status) {
    return [
      {
        path: '(status)',
        problem: `status ${res.status}, documented ${exp.status}: ${res.text.slice(0, 300)}`,
      },
    ];
  }
  const diffs: Diff[] = [];
  if (exp.status === 204 && res.text !== '')
    diffs.push({ path: '(body)', problem: 'a 204 answer has no body' });
  if (exp.body !== undefined) {
    let actual: unknown;
    try {
      actual = JSON.parse(res.text);
    } catch {
      return [...diffs, { path: '(body)', problem: `not JSON: ${res.text.slice(0, 200)}` }];
    }
    let expected = applyErrata(exp.body, f.doc_errata ?? []);
    // Errors are compared as Fleet's {message, errors: [{name, reason}]}; `uuid` is optional.
    if (exp.status >= 400) {
      expected = withoutUuid(expected);
      actual = withoutUuid(actual);
    }
    const skip = [
      ...intentionalPaths(f, shared).map((d) => d.path),
      ...(f.see_known_gap ?? []).map((g) => g.path),
    ];
    diffs.push(
      ...compareShape(expected, actual, {
        skip,
        opaque: (f.opaque ?? []).map((o) => o.path),
        nullable: (f.nullable ?? []).map((o) => o.path),
        omitempty: (f.omitempty ?? []).map((o) => o.path),
      }),
    );
  }
  const textIntended = intentionalPaths(f, shared).some((d) => d.path === '(text_starts_with)');
  if (exp.text_starts_with !== undefined && !textIntended && !res.text.startsWith(exp.text_starts_with)) {
    diffs.push({ path: '(body)', problem: `does not start with ${JSON.stringify(exp.text_starts_with)}` });
  }
  for (const [name, documented] of Object.entries(exp.headers ?? {})) {
    const got = res.headers.get(name);
    // The media type of content-type, the disposition type of content-disposition.
    const head = (v: string) => v.split(';')[0].trim().toLowerCase();
    if (got === null) diffs.push({ path: `(header ${name})`, problem: 'missing' });
    else if (head(got) !== head(documented))
      diffs.push({ path: `(header ${name})`, problem: `${head(got)}, documented ${head(documented)}` });
  }
  return diffs;
}

const format = (diffs: Diff[]) => diffs.map((d) => `  ${d.path}: ${d.problem}`).join('\n');

interface Coverage {
  aliases: { route: string; same_as: string; reason: string }[];
  undocumented: { route: string; reason: string }[];
}

describe('contract fixtures', () => {
  it('are well-formed and each names its doc section', () => {
    expect(fixtures.length).toBeGreaterThan(0);
    for (const f of fixtures) {
      expect(f.section.length, f.id).toBeGreaterThan(0);
      intentionalPaths(f, shared);
    }
  });

  it('cover every admin endpoint the server serves (or list it in _coverage.json)', async () => {
    const coverage = JSON.parse(readFileSync(join(fixturesDir, '_coverage.json'), 'utf8')) as Coverage;
    const srv = await startTestServer(dialects[0] ?? 'sqlite');
    try {
      const served = servedAdminRoutes(srv.app.server);
      const byFixture = new Map<string, string[]>();
      for (const f of fixtures) {
        const route = routeOfRequest(f.request.method, f.request.path, served);
        expect(route, `${f.id}: no served route for ${f.request.method} ${f.request.path}`).toBeDefined();
        byFixture.set(route!, [...(byFixture.get(route!) ?? []), f.id]);
      }
      const aliases = new Map(coverage.aliases.map((a) => [a.route, a.same_as]));
      const undocumented = new Set(coverage.undocumented.map((u) => u.route));
      const listed = [...aliases.keys(), ...undocumented];
      expect(
        listed.filter((r) => !served.includes(r)),
        'listed in _coverage.json but not served',
      ).toEqual([]);
      expect(
        listed.filter((r) => byFixture.has(r)),
        'listed in _coverage.json but has a fixture',
      ).toEqual([]);
      const dangling = [...aliases]
        .filter(([, target]) => !byFixture.has(target) && !undocumented.has(target))
        .map(([r]) => r);
      expect(dangling, 'aliases of endpoints that are neither covered nor listed').toEqual([]);
      const uncovered = served.filter((r) => !byFixture.has(r) && !aliases.has(r) && !undocumented.has(r));
      expect(uncovered, 'served admin endpoints with no fixture').toEqual([]);
      console.info(
        `contract coverage: ${byFixture.size} of ${served.length - aliases.size} admin endpoints have fixtures ` +
          `(${undocumented.size} have no doc example; ${aliases.size} more paths are aliases)`,
      );
    } finally {
      await srv.close();
    }
  });
});

describeEachDialect(
  "Fleet's REST docs examples",
  (server, dialect) => {
    const seedsByServer = new WeakMap<TestServer, ServerSeeds>();
    const seedsFor = (srv: TestServer) => {
      let s = seedsByServer.get(srv);
      if (!s) seedsByServer.set(srv, (s = new ServerSeeds(srv, smtp)));
      return s;
    };

    async function replay(f: Fixture): Promise<Diff[]> {
      const srv = f.isolated ? await startTestServer(dialect, apns.overrides) : server();
      try {
        const seeds = seedsFor(srv);
        const vars = newVars();
        // Setup creates the first user itself; every other fixture finds the server-wide baseline
        // (admin, APNs certificate, SMTP), made by whichever fixture runs first on this server.
        if (f.request.path !== '/api/v1/setup') await seeds.baseline();
        await seeds.run(f.seed ?? [], vars);
        return differences(f, await send(srv, seeds, f, vars));
      } finally {
        if (f.isolated) await srv.close();
      }
    }

    for (const f of fixtures) {
      const title = `${f.id}: ${f.request.method} ${f.request.path} (${f.section})`;
      if (!f.known_gap) {
        it(title, async ({ task }) => {
          const diffs = await replay(f);
          task.meta.contractDiffs = diffs;
          if (diffs.length) throw new Error(`differs from Fleet's docs:\n${format(diffs)}`);
        });
        continue;
      }
      const gapPaths = f.known_gap_paths ?? [];
      it.fails(`${title} [known gap: ${f.known_gap}]`, async ({ task }) => {
        let diffs: Diff[];
        try {
          diffs = await replay(f);
        } catch (err) {
          // A seed or request that cannot run is not the known gap: returning reports a failure.
          console.error(`${f.id}: could not be replayed: ${(err as Error).stack ?? String(err)}`);
          return;
        }
        task.meta.contractDiffs = diffs;
        const other = diffs.filter((d) => !gapPaths.some((p) => covers(p, d.path)));
        if (other.length) {
          // Returning makes it.fails report a failure: something besides the known gap differs.
          console.error(`${f.id}: differs beyond its known gap:\n${format(other)}`);
          return;
        }
        if (diffs.length) throw new Error(`known gap still present:\n${format(diffs)}`);
        // Nothing differs: the gap is fixed, and it.fails reports it so the marker gets removed.
        console.error(`${f.id}: the known gap is fixed; remove known_gap from the fixture`);
      });
    }
  },
  apns.overrides,
);
