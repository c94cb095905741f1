/**
 * The contract fixtures: request/response examples transcribed from Fleet's REST docs, one JSON
 * file per doc section under `fixtures/`. This module loads them, checks their form, and expands
 * the shared difference sets (`fixtures/_shared.json`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Erratum } from './compare.js';

/** The docs the fixtures were transcribed from, at the commit read (repo fleetdm/fleet). */
export const docSources: Record<string, string> = {
  'docs/REST API/rest-api.md': '2b70451f6184b9d0b704b9e3a9e469098d44ed15',
  'docs/Contributing/reference/api-for-contributors.md': '02eac485dbe941bd207ccd7f1c24594b10f8998f',
};

export interface PathReason {
  path: string;
  reason: string;
}

/** A named set of paths from `_shared.json`, applied under `at` (e.g. `hosts[]`). */
export interface SharedRef {
  use: string;
  at: string;
}

export interface FixtureRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** With `{{placeholders}}`, filled from the seed's variables (URL-encoded in the path). */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  multipart?: {
    fields: [string, string][];
    file: { field: string; filename: string; content: string };
  };
  /** `admin` (default): the seeded global admin's token; `none`; or a seed variable holding a token. */
  auth?: string;
}

export interface FixtureResponse {
  status: number;
  /** The documented JSON body; absent when the doc shows none (only the status is compared). */
  body?: unknown;
  /** For documented non-JSON bodies: how the body starts. */
  text_starts_with?: string;
  /** Documented headers: the media type (content-type) or disposition type is compared. */
  headers?: Record<string, string>;
}

export interface Fixture {
  id: string;
  /** The doc section title (and the example's name when the section has several). */
  section: string;
  doc: string;
  file: string;
  seed?: string[];
  /** Runs against a server of its own (the request changes state other fixtures rely on). */
  isolated?: boolean;
  request: FixtureRequest;
  response: FixtureResponse;
  /** Where the doc example disagrees with Fleet's own server; applied before comparing. */
  doc_errata?: Erratum[];
  /** Deliberate differences from Fleet: skipped. */
  intentional_differences?: (PathReason | SharedRef)[];
  /** Free-form objects (keys depend on the data): compared by JSON type only. */
  opaque?: PathReason[];
  /** Documented arrays/objects that Fleet answers `null` while unset: `null` is accepted there. */
  nullable?: PathReason[];
  /** Documented keys Fleet sends with `omitempty`, so they may be absent (e.g. a count of 0). */
  omitempty?: PathReason[];
  /** A real incompatibility, reported with `it.fails` until fixed. */
  known_gap?: string;
  /** The paths the known gap covers (`(status)` for the status); nothing else may differ. */
  known_gap_paths?: string[];
  /** The same incompatibility, tracked by another fixture's `known_gap`: skipped here. */
  see_known_gap?: { path: string; fixture: string }[];
  notes?: string;
}

interface FixtureFile {
  doc: string;
  fixtures: Omit<Fixture, 'file' | 'doc'>[] & { doc?: string }[];
}

export interface SharedSets {
  sets: Record<string, PathReason[]>;
}

const fixtureKeys = new Set([
  'id',
  'section',
  'doc',
  'seed',
  'isolated',
  'request',
  'response',
  'doc_errata',
  'intentional_differences',
  'opaque',
  'nullable',
  'omitempty',
  'known_gap',
  'known_gap_paths',
  'see_known_gap',
  'notes',
]);
const requestKeys = new Set(['method', 'path', 'query', 'body', 'multipart', 'auth']);
const responseKeys = new Set(['status', 'body', 'text_starts_with', 'headers']);

export const fixturesDir = new URL('./fixtures/', import.meta.url).pathname;

export function loadShared(): SharedSets {
  return JSON.parse(readFileSync(join(fixturesDir, '_shared.json'), 'utf8')) as SharedSets;
}

/** Every fixture, in file order; throws on a malformed one. */
export function loadFixtures(): Fixture[] {
  const out: Fixture[] = [];
  const files = readdirSync(fixturesDir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('_'))
    .sort();
  for (const file of files) {
    const parsed = JSON.parse(readFileSync(join(fixturesDir, file), 'utf8')) as FixtureFile;
    if (!(parsed.doc in docSources)) throw new Error(`${file}: unknown doc ${parsed.doc}`);
    for (const raw of parsed.fixtures as Record<string, unknown>[]) {
      const f = { ...raw, file, doc: (raw.doc as string | undefined) ?? parsed.doc } as Fixture;
      checkFixture(f, raw);
      out.push(f);
    }
  }
  const ids = new Set<string>();
  for (const f of out) {
    if (ids.has(f.id)) throw new Error(`duplicate fixture id ${f.id}`);
    ids.add(f.id);
  }
  const byId = new Map(out.map((f) => [f.id, f]));
  for (const f of out) {
    for (const ref of f.see_known_gap ?? []) {
      const target = byId.get(ref.fixture);
      if (!target?.known_gap)
        throw new Error(`${f.id}: see_known_gap points at ${ref.fixture}, which has no known_gap`);
    }
  }
  return out;
}

function checkFixture(f: Fixture, raw: Record<string, unknown>) {
  const where = `${f.file} ${String(raw.id)}`;
  for (const k of Object.keys(raw)) if (!fixtureKeys.has(k)) throw new Error(`${where}: unknown key ${k}`);
  if (typeof f.id !== 'string' || typeof f.section !== 'string') throw new Error(`${where}: id and section`);
  if (!(f.doc in docSources)) throw new Error(`${where}: unknown doc ${f.doc}`);
  for (const k of Object.keys(f.request ?? {}))
    if (!requestKeys.has(k)) throw new Error(`${where}: unknown request key ${k}`);
  for (const k of Object.keys(f.response ?? {}))
    if (!responseKeys.has(k)) throw new Error(`${where}: unknown response key ${k}`);
  if (!f.request?.method || !f.request.path) throw new Error(`${where}: request method and path`);
  if (typeof f.response?.status !== 'number') throw new Error(`${where}: response status`);
  if (f.known_gap !== undefined) {
    if (typeof f.known_gap !== 'string' || !f.known_gap.trim()) throw new Error(`${where}: known_gap text`);
    if (!f.known_gap_paths?.length) throw new Error(`${where}: known_gap needs known_gap_paths`);
  } else if (f.known_gap_paths) {
    throw new Error(`${where}: known_gap_paths without known_gap`);
  }
  for (const e of f.doc_errata ?? [])
    if (!e.path || !e.reason || !['add', 'remove', 'set'].includes(e.op))
      throw new Error(`${where}: erratum needs op, path and reason`);
  for (const d of f.intentional_differences ?? [])
    if (!('use' in d) && (!d.path || !d.reason))
      throw new Error(`${where}: intentional difference needs path and reason`);
  for (const o of [...(f.opaque ?? []), ...(f.nullable ?? []), ...(f.omitempty ?? [])])
    if (!o.path || !o.reason)
      throw new Error(`${where}: opaque, nullable and omitempty need path and reason`);
  for (const e of f.doc_errata ?? [])
    if (e.path.startsWith('(') && !/^\((status|text_starts_with|header [a-z-]+)\)$/.test(e.path))
      throw new Error(`${where}: unknown erratum target ${e.path}`);
}

/** The intentional differences of a fixture with shared sets expanded, as paths with reasons. */
export function intentionalPaths(f: Fixture, shared: SharedSets): PathReason[] {
  const out: PathReason[] = [];
  for (const d of f.intentional_differences ?? []) {
    if ('use' in d) {
      const set = shared.sets[d.use];
      if (!set) throw new Error(`${f.id}: no shared set ${d.use}`);
      for (const p of set) out.push({ path: d.at ? `${d.at}.${p.path}` : p.path, reason: p.reason });
    } else {
      out.push(d);
    }
  }
  return out;
}
