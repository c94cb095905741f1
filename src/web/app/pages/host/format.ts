/** Display formats for the host detail page. */

/** An API time (ISO 8601, UTC) in the admin's locale; "Never" for none or Go's zero time. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso || iso.startsWith('0001-01-01')) return 'Never';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Bytes as GB/MB (osquery reports memory in bytes); "Unknown" before the host reports. */
export function formatBytes(bytes: number | null | undefined): string {
  if (!bytes) return 'Unknown';
  const gb = bytes / 1024 ** 3;
  return gb >= 1 ? `${Number(gb.toFixed(1))} GB` : `${Math.round(bytes / 1024 ** 2)} MB`;
}

/** "120.5 GB free of 500 GB (24%)", or "Unknown" before the host reports its disks. */
export function formatDisk(available: number, total: number, percent: number): string {
  if (!total && !available) return 'Unknown';
  const free = `${Number(available.toFixed(1))} GB free`;
  return total ? `${free} of ${Number(total.toFixed(1))} GB (${Math.round(percent)}%)` : free;
}

/** The platform as admins name it. */
export function platformName(platform: string): string {
  const names: Record<string, string> = {
    darwin: 'macOS',
    ios: 'iOS',
    ipados: 'iPadOS',
    windows: 'Windows',
    linux: 'Linux',
    ubuntu: 'Ubuntu',
    android: 'Android',
    chrome: 'ChromeOS',
  };
  return names[platform] ?? (platform || 'Unknown');
}

/** A value or "—" for empty, so the facts list keeps its rows aligned. */
export function orDash(v: string | number | null | undefined): string {
  return v === null || v === undefined || v === '' ? '—' : String(v);
}
