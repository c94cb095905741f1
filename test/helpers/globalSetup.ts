/**
 * Vitest global setup: builds the run's migrated template databases (see `dbTemplate.ts`) and the
 * key material every test server may share, and removes the templates when the run ends.
 *
 * Nothing here is required: whatever fails to build is left out (and everything is with
 * FLOTILLA_TEST_TEMPLATES=off), and the helpers then migrate and generate keys per test file as
 * they would without this setup.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import type { TestProject } from 'vitest/node';
import { ConfigAssetService } from '../../src/configassets/service.js';
import { ConfigAssetStore } from '../../src/configassets/store.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { SecretBox } from '../../src/crypto/secretbox.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { migrations } from '../../migrations/index.js';
import {
  copySqliteTemplate,
  describeMysqlTemplate,
  dialects,
  dropStaleTemplates,
  migrationsHash,
  mysqlRootUrl,
  newMysqlTemplateName,
  newSqliteTemplateDir,
  type DbTemplates,
  type SharedTestCrypto,
} from './dbTemplate.js';

/** Any key of 32 bytes or more; the assets are handed over in plaintext and sealed by each server. */
const setupKey = 'global-setup-key-0123456789abcdef0123456789';

function warn(what: string, err: unknown): void {
  console.warn(`[test global setup] ${what}: ${(err as Error)?.message ?? err}`);
}

async function mysqlReachable(): Promise<boolean> {
  try {
    const c = await createConnection({ uri: mysqlRootUrl, connectTimeout: 3000 });
    await c.end();
    return true;
  } catch {
    return false; // testServer.ts decides what an unreachable MySQL means
  }
}

async function buildSqliteTemplate(hash: string, cleanups: (() => Promise<void>)[]) {
  const dir = newSqliteTemplateDir(hash);
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const database = openDatabase({ url: 'sqlite:template.db', dataDir: dir });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
  return { file: join(dir, 'template.db') };
}

async function buildMysqlTemplate(hash: string, cleanups: (() => Promise<void>)[]) {
  const name = newMysqlTemplateName(hash);
  const c = await createConnection({ uri: mysqlRootUrl });
  await c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await c.end();
  cleanups.push(async () => {
    const d = await createConnection({ uri: mysqlRootUrl });
    await d.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await d.end();
  });
  const database = openDatabase({ url: `${mysqlRootUrl}/${name}`, dataDir: tmpdir(), poolSize: 1 });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
  return describeMysqlTemplate(mysqlRootUrl, name);
}

/** The assets `ensureBuiltinCertificateAuthorities` creates, run once on a copy of the SQLite template. */
async function builtinAssets(sqliteTemplate: { file: string }): Promise<Record<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-tpl-assets-'));
  try {
    copySqliteTemplate(sqliteTemplate, join(dir, 'assets.db'));
    const database = openDatabase({ url: 'sqlite:assets.db', dataDir: dir });
    try {
      const assets = new ConfigAssetService(new ConfigAssetStore(database.db), new SecretBox(setupKey));
      const created = await assets.ensureBuiltinCertificateAuthorities();
      const names = (
        await database.db
          .selectFrom('mdm_config_assets')
          .select('name')
          .where('deletion_uuid', '=', '')
          .execute()
      ).map((r) => r.name);
      if (created.length === 0 || names.length === 0) throw new Error('no certificate authorities created');
      const plain = await assets.get(names as Parameters<typeof assets.get>[0]);
      return Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, v!.toString('base64')]));
    } finally {
      await database.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  // FLOTILLA_TEST_TEMPLATES=off: every test database migrates and every server makes its own keys.
  if (process.env.FLOTILLA_TEST_TEMPLATES === 'off') return undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const teardown = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        warn('removing a template', err);
      }
    }
  };
  const useMysql = dialects.includes('mysql') && (await mysqlReachable());
  try {
    await dropStaleTemplates(useMysql ? mysqlRootUrl : undefined);
  } catch (err) {
    warn('dropping stale templates', err);
  }

  const hash = migrationsHash();
  const templates: DbTemplates = { hash, applied: Object.keys(migrations) };
  // The MySQL template migrates while the SQLite one and the keys are made.
  const mysqlTemplate = useMysql
    ? buildMysqlTemplate(hash, cleanups).catch((err) => warn('building the MySQL template', err))
    : undefined;
  try {
    templates.sqlite = await buildSqliteTemplate(hash, cleanups);
  } catch (err) {
    warn('building the SQLite template', err);
  }

  const crypto: SharedTestCrypto = {};
  if (templates.sqlite) {
    try {
      crypto.builtinAssets = await builtinAssets(templates.sqlite);
    } catch (err) {
      warn('creating the built-in certificate authorities', err);
    }
  }
  crypto.pushCa = createCertificateAuthority('Test Apple Push CA');
  crypto.apnsKeyPem = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs1', format: 'pem' })
    .toString();
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  crypto.deviceKey = {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  };

  const mysql = await mysqlTemplate;
  if (mysql) templates.mysql = mysql;
  // A SQLite template that is not wanted is not offered (it still served for the assets).
  if (!dialects.includes('sqlite')) delete templates.sqlite;

  project.provide('flotillaDbTemplates', templates);
  project.provide('flotillaSharedCrypto', crypto);
  return teardown;
}
