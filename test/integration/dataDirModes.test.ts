import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { resolveServerKey } from '../../src/serverKey.js';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('SQLite data directory, database files and server key are owner-only', () => {
  let root = '';
  let umask = 0;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'flotilla-modes-'));
    // The most permissive umask: modes must come from the code, not from the environment.
    umask = process.umask(0);
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(root, { recursive: true, force: true });
  });

  it('creates the directories 0700 and the database, its -wal and -shm files and the key 0600', async () => {
    const dataDir = join(root, 'var', 'flotilla');
    const database = openDatabase({ url: 'sqlite:flotilla.db', dataDir });
    try {
      await migrateToLatest(database.db);
      const db = join(dataDir, 'flotilla.db');
      expect(existsSync(`${db}-wal`)).toBe(true);
      expect(existsSync(`${db}-shm`)).toBe(true);
      expect({
        parent: mode(join(root, 'var')),
        dataDir: mode(dataDir),
        db: mode(db),
        wal: mode(`${db}-wal`),
        shm: mode(`${db}-shm`),
      }).toEqual({ parent: 0o700, dataDir: 0o700, db: 0o600, wal: 0o600, shm: 0o600 });

      const key = resolveServerKey(loadConfig({}, { dataDir }), 'sqlite');
      expect(key).toMatch(/^[0-9a-f]{64}$/);
      expect(mode(join(dataDir, 'server.key'))).toBe(0o600);
    } finally {
      await database.close();
    }
  });

  it('creates a key-only data directory 0700', () => {
    const dataDir = join(root, 'keys-only');
    resolveServerKey(loadConfig({}, { dataDir }), 'sqlite');
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(join(dataDir, 'server.key'))).toBe(0o600);
  });

  it('tightens database files left readable by others, and leaves an existing directory as it is', async () => {
    const dataDir = join(root, 'shared');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    const db = join(dataDir, 'old.db');
    const first = openDatabase({ url: `sqlite:${db}`, dataDir });
    await migrateToLatest(first.db);
    await first.close();
    // As an older version (or a copy) may have left them.
    writeFileSync(`${db}-wal`, '');
    for (const f of [db, `${db}-wal`]) chmodSync(f, 0o644);

    const again = openDatabase({ url: `sqlite:${db}`, dataDir });
    try {
      await migrateToLatest(again.db);
      expect({ dir: mode(dataDir), db: mode(db), wal: mode(`${db}-wal`), shm: mode(`${db}-shm`) }).toEqual({
        dir: 0o755,
        db: 0o600,
        wal: 0o600,
        shm: 0o600,
      });
    } finally {
      await again.close();
    }
  });
});
