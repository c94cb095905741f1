import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from './config.js';
import type { DialectName } from './db/dialect.js';
import { ensurePrivateDir } from './privateFiles.js';

/**
 * The key that seals secrets at rest. From config when set; on SQLite it is generated once into
 * the data directory (mode 0600; a data directory it creates is 0700). On MySQL several processes
 * share the database, so they must share the key: it has to come from config.
 */
export function resolveServerKey(config: Config, dialect: DialectName): string {
  if (config.serverPrivateKey) return config.serverPrivateKey;
  if (dialect === 'mysql') {
    throw new ConfigError(
      'invalid setting FLOTILLA_SERVER_PRIVATE_KEY (serverPrivateKey): required with a MySQL database (at least 32 characters, e.g. `openssl rand -hex 32`)',
    );
  }
  ensurePrivateDir(config.dataDir);
  const file = join(config.dataDir, 'server.key');
  if (!existsSync(file)) {
    writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}
