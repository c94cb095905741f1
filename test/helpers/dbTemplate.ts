/**
 * Migrated template databases for the tests, built once per run (see `globalSetup.ts`) and cloned
 * for each test database instead of running every migration again.
 *
 * - SQLite: the migrated database file, copied.
 * - MySQL/MariaDB: a migrated template database; a clone runs its `SHOW CREATE TABLE` statements in
 *   one round trip and copies the rows the migrations inserted (seed rows and Kysely's bookkeeping),
 *   so `migrateToLatest` on the clone finds nothing to do.
 *
 * The templates carry a hash of the migrations (the migrations folder and every source file they
 * import). A worker whose migrations hash differently (a migration added or changed since the run
 * started) ignores the templates and migrates from scratch, as without them.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import type { DialectName } from '../../src/db/dialect.js';

export const mysqlRootUrl = process.env.FLOTILLA_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

/** The dialects under test: both, or the ones named in FLOTILLA_TEST_DIALECTS (e.g. `sqlite`). */
export const dialects: DialectName[] = (() => {
  const all: DialectName[] = ['sqlite', 'mysql'];
  const raw = process.env.FLOTILLA_TEST_DIALECTS;
  if (!raw) return all;
  const wanted = raw.split(',').map((s) => s.trim());
  const bad = wanted.filter((w) => !all.includes(w as DialectName));
  if (bad.length) throw new Error(`FLOTILLA_TEST_DIALECTS: unknown dialect ${bad.join(', ')}`);
  return all.filter((d) => wanted.includes(d));
})();

export interface MysqlTemplate {
  /** The migrated template database. */
  database: string;
  /** `SHOW CREATE TABLE` of every table, run with foreign key checks off. */
  createTables: string[];
  /** Tables the migrations put rows in, with the columns to copy (generated ones left out). */
  seedTables: { table: string; columns: string[] }[];
}

export interface DbTemplates {
  /** Hash of the migrations the templates were built with. */
  hash: string;
  /** Names of the migrations the templates have applied, in order. */
  applied: string[];
  sqlite?: { file: string };
  mysql?: MysqlTemplate;
}

/** Key material that is the same for every test server of a run (RSA key generation is slow). */
export interface SharedTestCrypto {
  /** The plaintext of the config assets `ensureBuiltinCertificateAuthorities` creates, base64. */
  builtinAssets?: Record<string, string>;
  /** The test push CA of `apns.ts`. */
  pushCa?: { certPem: string; keyPem: string };
  /** The APNs key `installPushCertificate` stores before it requests a CSR (PKCS#1 PEM). */
  apnsKeyPem?: string;
  /** The RSA key the quick Apple test devices of `appleDevice.ts` share. */
  deviceKey?: { publicKeyPem: string; keyPem: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    flotillaDbTemplates?: DbTemplates;
    flotillaSharedCrypto?: SharedTestCrypto;
  }
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const migrationsDir = join(repoRoot, 'migrations');

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The relative imports of a TypeScript source file, resolved to files that exist. */
function relativeImports(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const base = resolve(dirname(file), m[1]);
    const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
    const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile());
    if (hit) out.push(hit);
  }
  return out;
}

/**
 * Hash of everything that decides what the migrations create: every file in migrations/, every
 * source file they import (transitively), and the Kysely version (its bookkeeping tables).
 */
export function migrationsHash(): string {
  const seen = new Map<string, Buffer>();
  const queue = listFiles(migrationsDir);
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    const content = readFileSync(file);
    seen.set(file, content);
    if (file.endsWith('.ts')) queue.push(...relativeImports(file, content.toString('utf8')));
  }
  const h = createHash('sha256');
  for (const file of [...seen.keys()].sort()) {
    h.update(relative(repoRoot, file)).update('\0').update(seen.get(file)!).update('\0');
  }
  try {
    h.update(readFileSync(join(repoRoot, 'node_modules/kysely/package.json')));
  } catch {
    // no separate kysely package file; the migrations alone decide
  }
  return h.digest('hex');
}

let checked: DbTemplates | undefined | null = null;

/**
 * The run's templates when they were built from the migrations this worker sees and runs (the
 * files hash the same and the migration list is the same); else undefined.
 */
export async function usableTemplates(migrationNames: string[]): Promise<DbTemplates | undefined> {
  if (checked === null) {
    let provided: DbTemplates | undefined;
    try {
      const { inject } = await import('vitest');
      provided = inject('flotillaDbTemplates');
    } catch {
      provided = undefined; // not under a Vitest run with the global setup
    }
    checked =
      provided &&
      provided.hash === migrationsHash() &&
      provided.applied.join('\n') === migrationNames.join('\n')
        ? provided
        : undefined;
  }
  return checked;
}

/** Copies the migrated SQLite template to `file` (owner-only, as the server creates it). */
export function copySqliteTemplate(template: { file: string }, file: string): void {
  copyFileSync(template.file, file);
  chmodSync(file, 0o600);
}

const q = (name: string) => `\`${name.replace(/`/g, '``')}\``;

/** One multi-statement query that fills the (new, empty) database `name` from the MySQL template. */
export function mysqlCloneSql(template: MysqlTemplate, name: string): string {
  const statements = [`USE ${q(name)}`, 'SET FOREIGN_KEY_CHECKS = 0', ...template.createTables];
  for (const { table, columns } of template.seedTables) {
    const cols = columns.map(q).join(', ');
    statements.push(
      `INSERT INTO ${q(table)} (${cols}) SELECT ${cols} FROM ${q(template.database)}.${q(table)}`,
    );
  }
  statements.push('SET FOREIGN_KEY_CHECKS = 1');
  return statements.join(';\n');
}

export const mysqlTemplatePrefix = 'flotilla_tpl_';
export const sqliteTemplatePrefix = 'flotilla-tpl-';
/** Templates left behind by a run that was killed are dropped by a later run once this old. */
const staleAfterMs = 12 * 60 * 60 * 1000;

export function newMysqlTemplateName(hash: string): string {
  return `${mysqlTemplatePrefix}${hash.slice(0, 16)}_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;
}

/** Drops template databases and files that killed runs left behind. */
export async function dropStaleTemplates(mysqlUrl: string | undefined): Promise<void> {
  const now = Date.now();
  for (const e of readdirSync(tmpdir())) {
    if (!e.startsWith(sqliteTemplatePrefix)) continue;
    const p = join(tmpdir(), e);
    try {
      if (now - statSync(p).mtimeMs > staleAfterMs) rmSync(p, { recursive: true, force: true });
    } catch {
      // gone already, or not ours
    }
  }
  if (!mysqlUrl) return;
  const c = await createConnection({ uri: mysqlUrl });
  try {
    const [rows] = await c.query<RowDataPacket[]>(`SHOW DATABASES LIKE 'flotilla\\_tpl\\_%'`);
    for (const row of rows) {
      const name = String(Object.values(row)[0]);
      const created = parseInt(name.split('_')[3] ?? '', 36);
      if (Number.isFinite(created) && now - created > staleAfterMs) {
        await c.query(`DROP DATABASE IF EXISTS ${q(name)}`);
      }
    }
  } finally {
    await c.end();
  }
}

/** Reads what a clone needs from a migrated MySQL database; undefined if it has views or routines. */
export async function describeMysqlTemplate(
  mysqlUrl: string,
  database: string,
): Promise<MysqlTemplate | undefined> {
  const c = await createConnection({ uri: mysqlUrl });
  try {
    const [tables] = await c.query<RowDataPacket[]>(
      'SELECT TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
      [database],
    );
    if (tables.some((t) => t.type !== 'BASE TABLE')) return undefined;
    const [others] = await c.query<RowDataPacket[]>(
      `SELECT (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?)
            + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)
            + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?) AS n`,
      [database, database, database],
    );
    if (Number(others[0].n) > 0) return undefined;
    const createTables: string[] = [];
    const seedTables: MysqlTemplate['seedTables'] = [];
    for (const { name } of tables) {
      const [create] = await c.query<RowDataPacket[]>(`SHOW CREATE TABLE ${q(database)}.${q(name)}`);
      createTables.push(String(create[0]['Create Table']));
      const [count] = await c.query<RowDataPacket[]>(
        `SELECT EXISTS (SELECT 1 FROM ${q(database)}.${q(name)}) AS n`,
      );
      if (Number(count[0].n) === 0) continue;
      const [cols] = await c.query<RowDataPacket[]>(
        `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
          WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND EXTRA NOT LIKE '%GENERATED%'
          ORDER BY ORDINAL_POSITION`,
        [database, name],
      );
      seedTables.push({ table: String(name), columns: cols.map((r) => String(r.name)) });
    }
    return { database, createTables, seedTables };
  } finally {
    await c.end();
  }
}

export function newSqliteTemplateDir(hash: string): string {
  return mkdtempSync(join(tmpdir(), `${sqliteTemplatePrefix}${hash.slice(0, 16)}-`));
}
