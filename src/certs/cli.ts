import type { Config } from '../config.js';
import { openDatabase } from '../db/database.js';
import { pendingMigrations } from '../db/migrator.js';
import { createLogger } from '../logger.js';
import { resolveServerKey } from '../serverKey.js';
import { createServices, type Services } from '../services.js';
import { createCaRotation } from './index.js';
import { certificatesJson } from './json.js';
import { CaRotationError, caPlatforms, type CaPlatform, type CaRotationSummary } from './rotation.js';
import type { CertificateStatus } from './service.js';

export const certsUsage = `Usage: flotilla certs [--json]
       flotilla certs rotate-ca apple|windows [--dry-run] [--json]

Lists every certificate the server depends on (APNs certificate, ABM tokens, the built-in Apple
SCEP and Windows WSTEP CAs and the CAs they replaced, device certificates summarised per
platform) with the days each has left. Exit status 1 when any of them has expired, 0 otherwise.

rotate-ca makes a new built-in CA for the platform; the one it replaces stays trusted (devices
holding its certificates keep working until they renew, escrowed disk keys stay readable).
Running servers pick the new CA up within a minute. --dry-run shows what would change and
changes nothing. Exit status 1 when the rotation is refused (no CA yet), 0 otherwise.
`;

const status = (c: ReturnType<typeof certificatesJson>[number]) =>
  c.expired ? 'EXPIRED' : c.expiring_soon ? 'EXPIRING' : c.renew_date ? 'OK' : '-';

/** The listing as a plain-text table, one certificate per row. */
export function certificatesTable(list: CertificateStatus[], now = new Date(), soonDays = 30): string {
  const rows = certificatesJson(list, now, soonDays).map((c) => [
    c.certificate,
    c.devices === undefined
      ? c.subject
      : `${c.subject} (${c.devices_expiring_soon} within ${soonDays} days, ${c.devices_expired} expired)`,
    c.renew_date ?? '-',
    c.days_left === null ? '-' : String(c.days_left),
    status(c),
  ]);
  const header = ['CERTIFICATE', 'SUBJECT', 'NOT AFTER', 'DAYS LEFT', 'STATUS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** The rotation's outcome, for people. */
export function rotationText(r: CaRotationSummary): string {
  const name = r.platform === 'apple' ? 'Apple SCEP CA' : 'Windows WSTEP CA';
  const ca = (c: CaRotationSummary['retired_ca']) =>
    `${c.subject} (serial ${c.serial}, expires ${c.not_after}, sha256 ${c.sha256})`;
  const lines = r.dry_run
    ? [
        `Dry run: nothing was changed.`,
        `Would retire the ${name}: ${ca(r.retired_ca)}`,
        `Would create: ${r.new_ca_subject}`,
      ]
    : [`Rotated the ${name}.`, `Retired (still trusted): ${ca(r.retired_ca)}`, `New: ${ca(r.new_ca!)}`];
  lines.push(
    `Trusted retired CAs${r.dry_run ? ' afterwards' : ''}: ${r.previous_cas.length}`,
    `Escrowed ${r.platform === 'apple' ? 'FileVault' : 'BitLocker'} keys kept readable: ${r.escrowed_keys_kept_readable}`,
  );
  if (!r.dry_run)
    lines.push('Running servers use the new CA within a minute; devices move to it as they renew.');
  return lines.join('\n') + '\n';
}

async function withServices<T>(config: Config, body: (services: Services) => Promise<T>): Promise<T> {
  const database = openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    const pending = await pendingMigrations(database.db);
    if (pending.length)
      throw new Error(`database has ${pending.length} pending migrations: run \`flotilla migrate\` first`);
    const serverKey = resolveServerKey(config, database.dialect);
    return await body(createServices(config, database, serverKey, createLogger('silent')));
  } finally {
    await database.close();
  }
}

/** `flotilla certs rotate-ca apple|windows [--dry-run] [--json]`. */
async function rotateCaCommand(
  config: Config,
  args: string[],
  out: { write(s: string): unknown },
): Promise<number> {
  const platform = args[0] as CaPlatform;
  const flags = args.slice(1);
  const unknown = flags.filter((a) => a !== '--dry-run' && a !== '--json');
  if (!caPlatforms.includes(platform) || unknown.length) {
    out.write(
      `${caPlatforms.includes(platform) ? `unknown argument: ${unknown[0]}` : 'rotate-ca needs the platform: apple or windows'}\n\n${certsUsage}`,
    );
    return 2;
  }
  try {
    const summary = await withServices(config, (services) =>
      createCaRotation({
        db: services.database.db,
        logger: services.logger,
        assets: services.assets,
        activities: services.activities,
      }).rotate(platform, { dryRun: flags.includes('--dry-run') }),
    );
    out.write(flags.includes('--json') ? JSON.stringify(summary, null, 2) + '\n' : rotationText(summary));
    return 0;
  } catch (err) {
    if (!(err instanceof CaRotationError)) throw err;
    out.write(`error: ${err.message}\n`);
    return 1;
  }
}

/**
 * `flotilla certs`: reads the database the server uses (same settings, same server key) and
 * prints the certificates. Returns the process exit status.
 */
export async function certsCommand(
  config: Config,
  args: string[],
  out: { write(s: string): unknown },
): Promise<number> {
  if (args[0] === 'rotate-ca') return rotateCaCommand(config, args.slice(1), out);
  const unknown = args.filter((a) => a !== '--json');
  if (unknown.length) {
    out.write(`unknown argument: ${unknown[0]}\n\n${certsUsage}`);
    return 2;
  }
  return withServices(config, async (services) => {
    const now = new Date();
    const list = await services.certificates.list(now);
    const soon = services.certificates.soonDays;
    if (args.includes('--json'))
      out.write(JSON.stringify({ certificates: certificatesJson(list, now, soon) }, null, 2) + '\n');
    else out.write(certificatesTable(list, now, soon));
    return list.some((c) => c.notAfter !== null && c.notAfter.getTime() <= now.getTime()) ? 1 : 0;
  });
}
