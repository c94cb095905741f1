#!/usr/bin/env node
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrator.js';
import { startServer } from './server.js';
import { version } from './version.js';
import { certsCommand } from './certs/cli.js';
import { importCommand } from './migrate/cli.js';

const usage = `flotilla ${version}

Usage: flotilla <command> [options]

Commands:
  serve [--auto-migrate]   start the server (settings from FLOTILLA_* env vars or FLOTILLA_CONFIG)
  migrate                  apply pending database migrations
  certs [--json]           list the certificates the server depends on, with days left (exit 1 if any expired)
  import nanomdm|fleet     move Apple devices from NanoMDM or Fleet (flotilla import for details)
  sim --server URL ...     simulated Macs and PCs against a running server, to size it (flotilla sim --help)
  version                  print the version
`;

async function serve(config: Config, args: string[]) {
  const running = await startServer(config, { autoMigrate: args.includes('--auto-migrate') });
  const users = await running.app.services.userStore.countUsers();
  // Let buffered start-up log lines out first, so the banner below is the last thing printed.
  await new Promise<void>((resolve) => running.app.services.logger.flush(() => resolve()));
  process.stdout.write(
    `Flotilla ${version} listening on ${running.url} (server URL ${config.serverUrl}, ${running.database.dialect} database)\n`,
  );
  if (users === 0) {
    process.stdout.write(
      `No users yet. Create the first admin:\n  curl -X POST ${running.url}/api/v1/setup -H 'content-type: application/json' \\\n` +
        `    -d '{"admin":{"email":"admin@example.com","name":"Admin","password":"<12+ chars, a number and a symbol>"},"org_info":{"org_name":"Example"}}'\n`,
    );
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

async function migrate(config: Config) {
  const database = openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await migrateToLatest(database.db);
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
  } finally {
    await database.close();
  }
}

async function main(argv: string[]) {
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(usage);
    return;
  }
  if (command === 'version' || command === '--version') {
    process.stdout.write(`${version}\n`);
    return;
  }
  // The load generator talks to a server over HTTP: it needs none of the server's settings.
  if (command === 'sim') {
    // Loaded only here: the simulators and the APNs stand-in have no place in a serving process.
    const { runSimCli } = await import('./loadgen/cli.js');
    const code = await runSimCli(args);
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(code);
  }
  const config = loadConfig();
  if (command === 'serve') return serve(config, args);
  if (command === 'migrate') return migrate(config);
  if (command === 'certs') {
    const code = await certsCommand(config, args, process.stdout);
    // Let the table out before exiting (the services keep timers that would hold the process).
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(code);
  }
  if (command === 'import') {
    const code = await importCommand(config, args, process.stdout, process.stderr);
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(code);
  }
  process.stderr.write(`unknown command: ${command}\n\n${usage}`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(
    `flotilla: ${err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err))}\n`,
  );
  process.exit(1);
});
