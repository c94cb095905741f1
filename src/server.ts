import { buildApp, type App } from './app.js';
import type { Config } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { migrateToLatest, pendingMigrations } from './db/migrator.js';
import { createLogger } from './logger.js';
import { resolveServerKey } from './serverKey.js';

export interface RunningServer {
  app: App;
  database: Database;
  url: string;
  close(): Promise<void>;
}

/** Opens the database, prepares keys and CAs, builds the app and listens. */
export async function startServer(config: Config, opts: { autoMigrate: boolean }): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  const database = openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
  });
  try {
    const serverKey = resolveServerKey(config, database.dialect);
    if (opts.autoMigrate) {
      const applied = await migrateToLatest(database.db);
      if (applied.length) logger.info({ applied }, 'migrations applied');
    } else {
      const pending = await pendingMigrations(database.db);
      if (pending.length) {
        throw new Error(
          `database has ${pending.length} pending migrations: run \`flotilla migrate\` or serve with --auto-migrate`,
        );
      }
    }
    const app = await buildApp({ config, database, serverKey, logger });
    const created = await app.services.assets.ensureBuiltinCertificateAuthorities();
    if (created.length) logger.info({ created }, 'built-in certificate authorities created');
    await app.server.listen({ host: config.listenHost, port: config.listenPort });
    const address = app.server.server.address();
    const port = typeof address === 'object' && address ? address.port : config.listenPort;
    const scheme = config.tlsCert ? 'https' : 'http';
    const url = `${scheme}://${config.listenHost === '0.0.0.0' ? '127.0.0.1' : config.listenHost}:${port}`;
    await app.services.startBackground?.();
    return {
      app,
      database,
      url,
      async close() {
        await app.services.stopBackground?.();
        await app.server.close();
        await database.close();
      },
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}
