import type { Config } from '../config.js';
import { openDatabase } from '../db/database.js';
import { pendingMigrations } from '../db/migrator.js';
import { createLogger } from '../logger.js';
import { resolveServerKey } from '../serverKey.js';
import { createServices } from '../services.js';
import { certificatesJson } from './json.js';
import type { CertificateStatus } from './service.js';

export const certsUsage = `Usage: flotilla certs [--json]

Lists every certificate the server depends on (APNs certificate, ABM tokens, the built-in Apple
SCEP and Windows WSTEP CAs, device certificates summarised per platform) with the days each has
left. Exit status 1 when any of them has expired, 0 otherwise.
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

/**
 * `flotilla certs`: reads the database the server uses (same settings, same server key) and
 * prints the certificates. Returns the process exit status.
 */
export async function certsCommand(
  config: Config,
  args: string[],
  out: { write(s: string): unknown },
): Promise<number> {
  const unknown = args.filter((a) => a !== '--json');
  if (unknown.length) {
    out.write(`unknown argument: ${unknown[0]}\n\n${certsUsage}`);
    return 2;
  }
  const database = openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    const pending = await pendingMigrations(database.db);
    if (pending.length)
      throw new Error(`database has ${pending.length} pending migrations: run \`flotilla migrate\` first`);
    const serverKey = resolveServerKey(config, database.dialect);
    const services = createServices(config, database, serverKey, createLogger('silent'));
    const now = new Date();
    const list = await services.certificates.list(now);
    const soon = services.certificates.soonDays;
    if (args.includes('--json'))
      out.write(JSON.stringify({ certificates: certificatesJson(list, now, soon) }, null, 2) + '\n');
    else out.write(certificatesTable(list, now, soon));
    return list.some((c) => c.notAfter !== null && c.notAfter.getTime() <= now.getTime()) ? 1 : 0;
  } finally {
    await database.close();
  }
}
