import { isIP } from 'node:net';
import { fromDbTime, toDbTime } from '../../../db/dialect.js';
import { floatOf, intOf, type HostUpdate, type Row } from './hostUpdate.js';

/**
 * Host vitals from the detail queries that fill columns of the host row (Fleet's IngestFuncs).
 * Each takes the query's rows and returns the columns to change, or nothing when the rows are not
 * what the query gives (Fleet logs and skips those); unusable numbers throw IngestError.
 */

/** Fleet's parseOSVersion: the point release shown after the OS name. */
export function osVersionText(r: Row): string {
  const name = (r.name ?? '').toLowerCase();
  const [major, minor, patch] = [r.major ?? '', r.minor ?? '', r.patch ?? ''];
  let v: string;
  if (name.includes('ubuntu')) v = (r.version ?? '').replace(/\(.*\)/, '').trim();
  else if (name.includes('chrome')) v = r.version ?? '';
  else if (major !== '0' || minor !== '0' || patch !== '0') v = `${major}.${minor}.${patch}`;
  else v = r.build ?? '';
  v = v.replace(/^\.+|\.+$/g, '');
  // `extra` is Apple's Rapid Security Response version.
  if (r.extra) v = `${v} ${r.extra.trim()}`;
  return v;
}

export function osVersionVitals(rows: Row[]): HostUpdate | undefined {
  if (rows.length !== 1) return undefined;
  const r = rows[0];
  const out: HostUpdate = { platform_like: r.platform_like ?? '', code_name: r.codename ?? '' };
  if ('build' in r) out.build = r.build;
  let platform = r.platform ?? '';
  // osquery on CentOS 6 leaves the platform empty.
  if (!platform && (r.name ?? '').toLowerCase().includes('centos')) platform = 'centos';
  if (platform) out.platform = platform;
  // Windows gets its version text from os_version_windows.
  if (platform !== 'windows') out.os_version = `${r.name ?? ''} ${osVersionText(r)}`;
  return out;
}

export function windowsVersionVitals(rows: Row[]): HostUpdate | undefined {
  if (rows.length !== 1) return undefined;
  const r = rows[0];
  let v = `${r.name ?? ''} ${r.display_version ?? ''}`.replace('Microsoft Windows', 'Windows').trim();
  if ((r.installation_type ?? '').toLowerCase() === 'server core') v += ' (Server Core)';
  return { os_version: `${v} ${r.version ?? ''}` };
}

export function osqueryInfoVitals(rows: Row[]): HostUpdate | undefined {
  if (rows.length !== 1) return undefined;
  return { osquery_version: rows[0].version ?? '' };
}

/** Fleet ignores serial numbers a machine reports before they are set. */
const placeholderSerial = /default|serial|string/i;

export function systemInfoVitals(rows: Row[]): HostUpdate | undefined {
  if (rows.length !== 1) return undefined;
  const r = rows[0];
  const out: HostUpdate = {
    memory: intOf(r.physical_memory, 'physical_memory'),
    hostname: r.hostname ?? '',
    cpu_type: r.cpu_type ?? '',
    cpu_subtype: r.cpu_subtype ?? '',
    cpu_brand: r.cpu_brand ?? '',
    cpu_physical_cores: intOf(r.cpu_physical_cores, 'cpu_physical_cores'),
    cpu_logical_cores: intOf(r.cpu_logical_cores, 'cpu_logical_cores'),
    hardware_vendor: r.hardware_vendor ?? '',
    hardware_model: r.hardware_model ?? '',
    hardware_version: r.hardware_version ?? '',
    computer_name: r.computer_name ?? '',
  };
  const serial = r.hardware_serial ?? '';
  if (placeholderSerial.test(serial)) out.hardware_serial = '';
  else if (serial !== '-1') out.hardware_serial = serial;
  if (r.uuid) out.uuid = r.uuid;
  return out;
}

/**
 * Uptime (stored in nanoseconds, as Fleet does) and the last restart it implies. The restart time
 * only moves forward, and only by more than 30 s, so clock noise between readings is ignored.
 */
export function uptimeVitals(
  rows: Row[],
  now: number,
  previousRestart: string | null,
): HostUpdate | undefined {
  if (rows.length !== 1) return undefined;
  const seconds = intOf(rows[0].total_seconds, 'total_seconds');
  const out: HostUpdate = { uptime: seconds * 1e9 };
  if (seconds > 0) {
    const restarted = now - seconds * 1000;
    const before = fromDbTime(previousRestart)?.getTime();
    if (before === undefined || restarted - before >= 30_000)
      out.last_restarted_at = toDbTime(new Date(restarted));
  }
  return out;
}

/**
 * Primary IP and MAC (the private address of the default route), and the public IP: the address
 * the request came from, cleared first so a proxy that stops passing it on does not leave a stale
 * value behind.
 */
export function networkVitals(rows: Row[], clientIp: string): HostUpdate {
  const out: HostUpdate = { public_ip: isIP(clientIp) ? clientIp : '' };
  if (rows.length === 1) {
    out.primary_ip = rows[0].address ?? '';
    out.primary_mac = rows[0].mac ?? '';
  }
  return out;
}

export function diskSpaceVitals(rows: Row[]): HostUpdate | undefined {
  if (rows.length !== 1) return undefined;
  const r = rows[0];
  return {
    gigs_disk_space_available: floatOf(r.gigs_disk_space_available, 'gigs_disk_space_available'),
    percent_disk_space_available: floatOf(r.percent_disk_space_available, 'percent_disk_space_available'),
    gigs_total_disk_space: floatOf(r.gigs_total_disk_space, 'gigs_total_disk_space'),
  };
}

/**
 * The agent's intervals from its flags. config_tls_refresh (osquery before 2.4.6) wins over its
 * later alias config_refresh when both are reported.
 */
export function osqueryFlagsVitals(rows: Row[]): HostUpdate {
  const out: HostUpdate = {};
  let tlsRefresh: number | undefined;
  let refresh: number | undefined;
  for (const r of rows) {
    switch (r.name) {
      case 'distributed_interval':
        out.distributed_interval = intOf(r.value, 'distributed_interval');
        break;
      case 'config_tls_refresh':
        tlsRefresh = intOf(r.value, 'config_tls_refresh');
        break;
      case 'config_refresh':
        refresh = intOf(r.value, 'config_refresh');
        break;
      case 'logger_tls_period':
        out.logger_tls_period = intOf(r.value, 'logger_tls_period');
        break;
      default:
    }
  }
  if (tlsRefresh !== undefined) out.config_tls_refresh = tlsRefresh;
  else if (refresh !== undefined) out.config_tls_refresh = refresh;
  return out;
}

export function orbitInfoVitals(rows: Row[]): HostUpdate | undefined {
  if (rows.length !== 1) return undefined;
  return { orbit_version: rows[0].version ?? '' };
}
