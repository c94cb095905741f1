import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { rootCertificates } from 'node:tls';
import { appleRootCaPem } from './appleRootCa.js';
import type { MachineInfo } from './machineInfo.js';

/** The numeric parts of a version (`14.4.1`, `17.0 (a)` → [17, 0]); null when it has none. */
export function versionParts(v: string): number[] | null {
  const m = /^\s*(\d+(?:\.\d+)*)/.exec(v);
  return m ? m[1].split('.').map(Number) : null;
}

/** a < b, comparing numeric parts (missing parts are 0); null when either cannot be read. */
export function isLessThanVersion(a: string, b: string): boolean | null {
  const x = versionParts(a);
  const y = versionParts(b);
  if (!x || !y) return null;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}

/** The newest OS Apple offers a device (Apple's software lookup service answer for it). */
export interface LatestOsVersion {
  productVersion: string;
  build: string;
}

/** Where the newest OS for a device comes from; throws when it cannot tell. */
export interface LatestOsSource {
  latest(device: MachineInfo): Promise<LatestOsVersion>;
}

interface Asset {
  ProductVersion?: unknown;
  Build?: unknown;
  SupportedDevices?: unknown;
}

/** GETs a JSON document over HTTP(S); HTTPS trusts the public roots and Apple's root. */
export function getJson(url: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers = { 'user-agent': 'flotilla', accept: 'application/json' };
    const onResponse = (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxDocumentBytes) res.destroy(new Error('software lookup document too large'));
        else parts.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200)
          return reject(new Error(`software lookup service answered HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(parts).toString('utf8')));
        } catch {
          reject(new Error('software lookup service sent no JSON'));
        }
      });
    };
    const req =
      u.protocol === 'https:'
        ? httpsGet(u, { headers, ca: [...rootCertificates, appleRootCaPem], timeout: timeoutMs }, onResponse)
        : httpGet(u, { headers, timeout: timeoutMs }, onResponse);
    req.on('timeout', () => req.destroy(new Error('software lookup service timed out')));
    req.on('error', reject);
  });
}

const maxDocumentBytes = 16 * 1024 * 1024;

/**
 * Apple's software lookup service (GDMF, `https://gdmf.apple.com/v2/pmv`), as Fleet reads it: the
 * public asset set of the device's OS family (iOS for iPhone / iPad / iPod products, else macOS),
 * the highest ProductVersion whose SupportedDevices lists the device's PRODUCT or
 * SOFTWARE_UPDATE_DEVICE_ID. The document is cached for six hours, as Fleet caches it.
 */
export class GdmfClient implements LatestOsSource {
  private cached?: { at: number; doc: Record<string, unknown> };

  constructor(
    private readonly url: string,
    private readonly opts: { cacheMs?: number; timeoutMs?: number } = {},
  ) {}

  private async document(): Promise<Record<string, unknown>> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < (this.opts.cacheMs ?? 6 * 3600_000)) return this.cached.doc;
    const doc = (await getJson(this.url, this.opts.timeoutMs ?? 10_000)) as Record<string, unknown>;
    if (!doc || typeof doc !== 'object') throw new Error('software lookup service sent no JSON object');
    this.cached = { at: now, doc };
    return doc;
  }

  async latest(device: MachineInfo): Promise<LatestOsVersion> {
    const doc = await this.document();
    const sets = (doc.PublicAssetSets ?? {}) as Record<string, unknown>;
    const mobile = /^(iPhone|iPad|iPod)/;
    const family =
      mobile.test(device.product) || mobile.test(device.softwareUpdateDeviceId) ? 'iOS' : 'macOS';
    const assets = Array.isArray(sets[family]) ? (sets[family] as Asset[]) : [];
    let best: LatestOsVersion | undefined;
    for (const a of assets) {
      const supported = Array.isArray(a.SupportedDevices) ? a.SupportedDevices : [];
      const fits = supported.some(
        (d) => d === device.product || (device.softwareUpdateDeviceId && d === device.softwareUpdateDeviceId),
      );
      if (!fits || typeof a.ProductVersion !== 'string') continue;
      if (!best || isLessThanVersion(best.productVersion, a.ProductVersion)) {
        best = { productVersion: a.ProductVersion, build: typeof a.Build === 'string' ? a.Build : '' };
      }
    }
    if (!best) throw new Error(`no ${family} release lists device ${device.product || '(no product)'}`);
    return best;
  }
}

/** Apple's 403 body that makes Setup Assistant update the OS before enrolling. */
export interface SoftwareUpdateRequired {
  code: 'com.apple.softwareupdate.required';
  details: { OSVersion: string; BuildVersion: string };
}

export function softwareUpdateRequired(v: LatestOsVersion): SoftwareUpdateRequired {
  return {
    code: 'com.apple.softwareupdate.required',
    details: { OSVersion: v.productVersion, BuildVersion: v.build },
  };
}
