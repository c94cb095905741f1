import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { openDatabase } from '../db/database.js';
import { pendingMigrations } from '../db/migrator.js';
import { createLogger } from '../logger.js';
import { resolveServerKey } from '../serverKey.js';
import { createServices } from '../services.js';
import { ImportError } from './errors.js';
import { FleetSource } from './fleetSource.js';
import { createImporter } from './index.js';
import type { ImportSource } from './model.js';
import { NanoMdmSource } from './nanomdmSource.js';
import { formatReport } from './report.js';
import { SourceDb } from './sourceDb.js';

export const importUsage = `Usage:
  flotilla import nanomdm --from mysql://user:pass@host:3306/nanomdm --scep-ca-cert ca.pem [--scep-ca-key ca.key] [options]
  flotilla import fleet   --from mysql://user:pass@host:3306/fleet --fleet-private-key KEY [options]

Moves Apple devices from NanoMDM or Fleet without any action on the devices: same UDIDs, identity
certificates (their CA becomes trusted), push certificate and tokens; from Fleet also teams, labels
and configuration profiles with each host's profile status. Idempotent and resumable.

Options:
  --dry-run          read everything, print what would change, write nothing
  --batch-size N     devices per transaction (default 500)
  --json             print the report as JSON
`;

type Args = Record<string, string | true>;

function parseArgs(args: string[]): Args {
  const out: Args = {};
  const flags = new Set(['--dry-run', '--json']);
  const valued = new Set([
    '--from',
    '--scep-ca-cert',
    '--scep-ca-key',
    '--fleet-private-key',
    '--batch-size',
  ]);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (flags.has(a)) out[a] = true;
    else if (valued.has(a)) {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new ImportError(`${a} needs a value`);
      out[a] = v;
    } else throw new ImportError(`unknown argument: ${a}`);
  }
  return out;
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ImportError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

async function openSource(kind: string, a: Args): Promise<ImportSource> {
  if (typeof a['--from'] !== 'string') throw new ImportError('--from mysql://… is required');
  if (kind === 'nanomdm') {
    if (typeof a['--scep-ca-cert'] !== 'string')
      throw new ImportError(
        "--scep-ca-cert is required: the CA that issued the devices' identity certificates",
      );
    const ca = {
      certPem: readPem(a['--scep-ca-cert'], 'SCEP CA certificate'),
      keyPem: typeof a['--scep-ca-key'] === 'string' ? readPem(a['--scep-ca-key'], 'SCEP CA key') : undefined,
    };
    return new NanoMdmSource(await SourceDb.open(a['--from']), ca);
  }
  const key = a['--fleet-private-key'];
  if (typeof key !== 'string')
    throw new ImportError("--fleet-private-key is required (Fleet's FLEET_SERVER_PRIVATE_KEY)");
  return new FleetSource(await SourceDb.open(a['--from']), key);
}

/**
 * `flotilla import nanomdm|fleet`: progress on stderr, the report on stdout. Returns the exit
 * status (2: usage, 1: refused or failed; nothing was written when refused).
 */
export async function importCommand(
  config: Config,
  argv: string[],
  out: { write(s: string): unknown },
  err: { write(s: string): unknown },
): Promise<number> {
  const [kind, ...rest] = argv;
  if (kind !== 'nanomdm' && kind !== 'fleet') {
    err.write(importUsage);
    return 2;
  }
  let args: Args;
  try {
    args = parseArgs(rest);
  } catch (e) {
    err.write(`flotilla import: ${(e as Error).message}\n\n${importUsage}`);
    return 2;
  }
  const batchSize = args['--batch-size'] === undefined ? 500 : Number(args['--batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    err.write('flotilla import: --batch-size must be an integer from 1 to 10000\n');
    return 2;
  }
  const database = openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  let source: ImportSource | undefined;
  try {
    const pending = await pendingMigrations(database.db);
    if (pending.length)
      throw new ImportError(
        `database has ${pending.length} pending migrations: run \`flotilla migrate\` first`,
      );
    const services = createServices(
      config,
      database,
      resolveServerKey(config, database.dialect),
      createLogger('silent'),
    );
    const importer = createImporter({
      db: database.db,
      assets: services.assets,
      serverUrl: () => services.appConfig.serverUrl(),
    });
    source = await openSource(kind, args);
    const report = await importer.run(
      source,
      { dryRun: args['--dry-run'] === true, batchSize },
      (done, total) => err.write(`${args['--dry-run'] ? 'read' : 'imported'} ${done}/${total} devices\n`),
    );
    out.write(args['--json'] ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    return 0;
  } catch (e) {
    if (!(e instanceof ImportError)) throw e;
    err.write(`flotilla import: ${e.message}\n`);
    return 1;
  } finally {
    await source?.close();
    await database.close();
  }
}
