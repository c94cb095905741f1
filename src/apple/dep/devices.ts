import { z } from 'zod';
import type { DepDevice, DepDevicesPage } from '../../clients/dep/types.js';

/** The host platform of a DEP device, as Fleet derives it from `device_family`. */
export function platformOfFamily(family: string | undefined): 'darwin' | 'ios' | 'ipados' {
  const f = (family ?? '').toLowerCase();
  if (f.includes('iphone') || f.includes('ipod')) return 'ios';
  if (f.includes('ipad')) return 'ipados';
  return 'darwin';
}

export interface DefaultTeams {
  macos: number | null;
  ios: number | null;
  ipados: number | null;
}

/** The token's default team for a device: iPhone/iPod → iOS, iPad → iPadOS, anything else → macOS. */
export function defaultTeamFor(teams: DefaultTeams, platform: string): number | null {
  if (platform === 'ios') return teams.ios;
  if (platform === 'ipados') return teams.ipados;
  return teams.macos;
}

const opTime = (d: DepDevice) => {
  const t = d.op_date ? Date.parse(d.op_date) : Number.NaN;
  return Number.isNaN(t) ? 0 : t;
};

export interface BucketedDevices {
  added: Map<string, DepDevice>;
  modified: Map<string, DepDevice>;
  deleted: Map<string, DepDevice>;
  /** Records with an op_type nobody knows (logged and ignored). */
  unknown: DepDevice[];
}

/**
 * Sorts a page by op_type (a fetch has none: added) keeping the latest op_date per serial, then
 * cancels out: a newer delete drops a modification; between an add and a delete the newer wins.
 */
export function bucketDevices(devices: DepDevice[]): BucketedDevices {
  const out: BucketedDevices = { added: new Map(), modified: new Map(), deleted: new Map(), unknown: [] };
  const keep = (bucket: Map<string, DepDevice>, d: DepDevice) => {
    const have = bucket.get(d.serial_number);
    if (!have || opTime(d) > opTime(have)) bucket.set(d.serial_number, d);
  };
  for (const d of devices) {
    switch ((d.op_type ?? '').toLowerCase()) {
      case 'added':
      case '':
        keep(out.added, d);
        break;
      case 'modified':
        keep(out.modified, d);
        break;
      case 'deleted':
        keep(out.deleted, d);
        break;
      default:
        out.unknown.push(d);
    }
  }
  for (const [serial, del] of out.deleted) {
    const mod = out.modified.get(serial);
    if (mod && opTime(del) > opTime(mod)) out.modified.delete(serial);
    const add = out.added.get(serial);
    if (add) {
      if (opTime(del) > opTime(add)) out.added.delete(serial);
      else out.deleted.delete(serial);
    }
  }
  return out;
}

/** Longest serial stored (hosts.hardware_serial is VARCHAR(255)). */
const maxSerial = 255;

const deviceSchema = z
  .object({
    serial_number: z.string().min(1).max(maxSerial),
    model: z.string().optional().catch(undefined),
    description: z.string().optional().catch(undefined),
    os: z.string().optional().catch(undefined),
    device_family: z.string().optional().catch(undefined),
    profile_status: z.string().optional().catch(undefined),
    profile_uuid: z.string().optional().catch(undefined),
    op_type: z.string().optional().catch(undefined),
    op_date: z.string().optional().catch(undefined),
    mdm_migration_deadline: z.string().optional().catch(undefined),
  })
  .passthrough();

const pageSchema = z.object({
  devices: z.array(z.unknown()).nullish(),
  cursor: z.string().max(1024),
  more_to_follow: z.boolean().optional().default(false),
});

/** A DEP answer that is not a device page: the page is not processed and the cursor stays. */
export class DepPageError extends Error {}

/**
 * Checks a fetch/sync answer. A page that is not one (no cursor, devices not a list) is refused
 * whole; single records without a usable serial are dropped (and counted) so one bad record cannot
 * stall the account's sync forever.
 */
export function parseDevicePage(raw: unknown): { page: DepDevicesPage; dropped: number } {
  const res = pageSchema.safeParse(raw);
  if (!res.success) throw new DepPageError('malformed DEP device page');
  const devices: DepDevice[] = [];
  let dropped = 0;
  for (const d of res.data.devices ?? []) {
    const parsed = deviceSchema.safeParse(d);
    if (parsed.success) devices.push(parsed.data as DepDevice);
    else dropped++;
  }
  return {
    page: { devices, cursor: res.data.cursor, more_to_follow: res.data.more_to_follow },
    dropped,
  };
}
