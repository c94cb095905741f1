import { X509Certificate } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { DB } from '../db/schema.js';
import { certificatesJson } from './json.js';
import { fromDbTime } from '../db/dialect.js';
import type { CertificateExpiryStore, DeviceCertificateSummary } from './store.js';

const dayMs = 86_400_000;

/** One certificate (or token) the server depends on, or a summary of one platform's device certificates. */
export interface CertificateStatus {
  /**
   * Stable key: `apns`, `abm_token:<id>`, `apple_scep_ca`, `windows_wstep_ca`,
   * `apple_scep_ca_previous:<sha256 prefix>` / `windows_wstep_ca_previous:<…>` (retired by a
   * rotation), `<platform>_device_certificates`.
   */
  certificate: string;
  /** What it is, for people. */
  description: string;
  /** The certificate's subject CN, the ABM organisation, or a device count. */
  subject: string;
  notAfter: Date | null;
  /** Whole days until it expires (negative once expired); null when there is nothing to expire. */
  daysLeft: number | null;
  devices?: { count: number; expiringSoon: number; expired: number };
}

/** Where the certificates come from: the areas that own them. */
export interface CertificateSources {
  /** The APNs push certificate (Fleet's `GET /apns` view), null when none is uploaded. */
  apns(): Promise<{ common_name: string; renew_date: string } | null>;
  /** ABM server tokens (Fleet's `abm_token` objects). */
  abmTokens(): Promise<{ id: number; org_name: string; renew_date: string | null }[]>;
  /** PEM of the built-in CAs (absent before the server first started), and those retired by rotations. */
  builtinCas(): Promise<{
    appleScep?: string;
    windowsWstep?: string;
    appleScepPrevious?: string[];
    windowsWstepPrevious?: string[];
  }>;
}

export interface CertificateAlerts {
  /** Records the warning activity (no actor: the server itself), inside the store's transaction. */
  record(type: string, details: Record<string, unknown>, trx: Transaction<DB>): Promise<unknown>;
}

export interface CertificateExpiryOptions {
  /** Days before expiry at which a warning is given, largest first (default 30, 14, 1). */
  warningDays: number[];
  now?: () => Date;
  /** How long `GET /config` reuses one listing. */
  cacheMs?: number;
}

/** The activity type of an expiry warning. */
export const certificateExpiringActivity = 'certificate_expiring';

const commonName = (x: X509Certificate) =>
  /^CN=(.*)$/m.exec(x.subject)?.[1] ?? x.subject.split('\n')[0] ?? '';

/**
 * Expiry monitoring: lists every certificate the server depends on with the days it has left, and
 * gives a warning (activity and log line) when one reaches 30, 14 or 1 days, once per threshold.
 */
export class CertificateExpiryService {
  private cachedDevices?: { at: number; value: Promise<DeviceCertificateSummary[]> };

  constructor(
    private readonly store: CertificateExpiryStore,
    private readonly sources: CertificateSources,
    private readonly alerts: CertificateAlerts,
    private readonly opts: CertificateExpiryOptions,
    private readonly log: Logger,
  ) {}

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** Days before expiry that count as "expiring soon" (the largest warning threshold). */
  get soonDays(): number {
    return Math.max(...this.opts.warningDays);
  }

  /**
   * Every certificate, in a fixed order: APNs, ABM tokens, the built-in CAs, device summaries.
   * With `cachedDevices` the device summaries (aggregates over every device) may be up to
   * `cacheMs` old; the rest is always read fresh.
   */
  async list(now = this.now(), opts: { cachedDevices?: boolean } = {}): Promise<CertificateStatus[]> {
    const daysLeft = (d: Date | null) => (d ? Math.floor((d.getTime() - now.getTime()) / dayMs) : null);
    const out: CertificateStatus[] = [];
    const apns = await this.sources.apns();
    if (apns) {
      const notAfter = new Date(apns.renew_date);
      out.push({
        certificate: 'apns',
        description: 'Apple Push Notification service certificate',
        subject: apns.common_name,
        notAfter,
        daysLeft: daysLeft(notAfter),
      });
    }
    for (const t of await this.sources.abmTokens()) {
      const notAfter = t.renew_date ? new Date(t.renew_date) : null;
      out.push({
        certificate: `abm_token:${t.id}`,
        description: 'Apple Business Manager server token',
        subject: t.org_name,
        notAfter,
        daysLeft: daysLeft(notAfter),
      });
    }
    const cas = await this.sources.builtinCas();
    const ca = (key: string, description: string, pem: string | undefined, retired = false) => {
      if (!pem) return;
      const x = new X509Certificate(pem);
      // A retired CA is keyed by its fingerprint: its warnings stay its own across rotations.
      if (retired) key = `${key}_previous:${x.fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase()}`;
      const notAfter = new Date(x.validTo);
      out.push({
        certificate: key,
        description,
        subject: commonName(x),
        notAfter,
        daysLeft: daysLeft(notAfter),
      });
    };
    ca('apple_scep_ca', 'Apple MDM (SCEP) certificate authority', cas.appleScep);
    ca('windows_wstep_ca', 'Windows MDM (WSTEP) certificate authority', cas.windowsWstep);
    const retiredNote = ', retired by a rotation (still trusted)';
    for (const pem of cas.appleScepPrevious ?? [])
      ca('apple_scep_ca', `Apple MDM (SCEP) certificate authority${retiredNote}`, pem, true);
    for (const pem of cas.windowsWstepPrevious ?? [])
      ca('windows_wstep_ca', `Windows MDM (WSTEP) certificate authority${retiredNote}`, pem, true);
    const [apple, windows] = await this.deviceSummaries(now, opts.cachedDevices ?? false);
    const devices = (key: string, description: string, s: DeviceCertificateSummary) => {
      const notAfter = fromDbTime(s.earliest);
      out.push({
        certificate: key,
        description,
        subject: `${s.devices} device${s.devices === 1 ? '' : 's'}`,
        notAfter,
        daysLeft: daysLeft(notAfter),
        devices: { count: s.devices, expiringSoon: s.expiringSoon, expired: s.expired },
      });
    };
    devices('apple_device_certificates', 'Apple device identity certificates (earliest)', apple);
    devices('windows_device_certificates', 'Windows device certificates (earliest)', windows);
    return out;
  }

  private deviceSummaries(now: Date, cached: boolean): Promise<DeviceCertificateSummary[]> {
    const read = () => {
      const soon = new Date(now.getTime() + this.soonDays * dayMs);
      return Promise.all([this.store.appleDevices(now, soon), this.store.windowsDevices(now, soon)]);
    };
    if (!cached) return read();
    const ttl = this.opts.cacheMs ?? 30_000;
    if (!this.cachedDevices || Date.now() - this.cachedDevices.at >= ttl) {
      const value = read();
      this.cachedDevices = { at: Date.now(), value };
      value.catch(() => (this.cachedDevices = undefined));
    }
    return this.cachedDevices.value;
  }

  /**
   * What `GET /config` (read often, so device summaries are reused for a short while) adds:
   * `certificates`, or null when the listing cannot be read (an unreadable
   * certificate must not take the settings page down with it; the failure is logged).
   */
  async configFacts(): Promise<{ certificates: ReturnType<typeof certificatesJson> | null }> {
    try {
      const now = this.now();
      return {
        certificates: certificatesJson(await this.list(now, { cachedDevices: true }), now, this.soonDays),
      };
    } catch (err) {
      this.log.error({ err }, 'certificate listing failed');
      return { certificates: null };
    }
  }

  /**
   * The daily check: for every certificate at or past a threshold, the tightest threshold reached
   * is recorded once (a certificate found at 10 days left is warned about at 14, then at 1). A
   * renewed certificate has a new expiry date, so its warnings start over. Returns what was warned.
   */
  async warnExpiring(
    now = this.now(),
  ): Promise<{ certificate: string; thresholdDays: number; daysLeft: number }[]> {
    const warned: { certificate: string; thresholdDays: number; daysLeft: number }[] = [];
    for (const c of await this.list(now)) {
      if (!c.notAfter || c.daysLeft === null) continue;
      const reached = this.opts.warningDays.filter((t) => c.daysLeft! <= t);
      if (reached.length === 0) continue;
      const thresholdDays = Math.min(...reached);
      const details = {
        certificate: c.certificate,
        description: c.description,
        subject: c.subject,
        not_after: c.notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        days_left: c.daysLeft,
        threshold_days: thresholdDays,
        ...(c.devices
          ? { devices_expiring_soon: c.devices.expiringSoon, devices_expired: c.devices.expired }
          : {}),
      };
      const first = await this.store.recordWarning(
        { certificate: c.certificate, notAfter: c.notAfter, thresholdDays, daysLeft: c.daysLeft, now },
        (trx) => this.alerts.record(certificateExpiringActivity, details, trx),
      );
      if (!first) continue;
      this.log.warn(
        details,
        c.daysLeft <= 0
          ? `certificate expired: ${c.description}`
          : `certificate expires in ${c.daysLeft} day${c.daysLeft === 1 ? '' : 's'}: ${c.description}`,
      );
      warned.push({ certificate: c.certificate, thresholdDays, daysLeft: c.daysLeft });
    }
    return warned;
  }
}
