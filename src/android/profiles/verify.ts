import type { Logger } from 'pino';
import type { AmapiDevice, NonComplianceDetail } from '../../clients/amapi/types.js';
import { dbNow } from '../../db/dialect.js';
import type { AndroidProfileStore, PolicyRequestRow } from './store.js';

/** What a status report says about a host's policy. */
export interface StatusReport {
  hostUuid: string;
  device: AmapiDevice;
  appliedPolicyVersion: number | null;
}

/**
 * The detail of a profile some of whose settings the device did not apply: the settings and
 * Google's reasons (AMAPI's NonComplianceReason), one sentence either way.
 */
export function nonComplianceDetail(details: NonComplianceDetail[]): string {
  const settings = [...new Set(details.map((d) => d.settingName ?? ''))];
  const reasons = [...new Set(details.map((d) => d.nonComplianceReason ?? 'UNKNOWN'))];
  const quoted = settings.map((s) => `"${s}"`).join(', ');
  if (settings.length === 1) {
    return `${quoted} setting couldn't apply to a host.\nReason: ${reasons.join(', ')}. Other settings are applied.`;
  }
  return `${quoted} settings couldn't apply to a host.\nReasons: ${reasons.join(', ')}. Other settings are applied.`;
}

/**
 * Verification of Android profiles on each STATUS_REPORT: the profiles sent in the policy version
 * the device says it applied (or an earlier one) are verified, except those a non-compliant
 * setting maps back to (through the request's `settings_origin`), which fail with Google's reason
 * and are checked again on the next report. Removals the device has applied are forgotten.
 */
export class AndroidProfileVerifier {
  constructor(
    private readonly store: AndroidProfileStore,
    private readonly logger?: Logger,
  ) {}

  async onStatusReport(e: StatusReport): Promise<{ verified: number; failed: number; removed: number }> {
    const none = { verified: 0, failed: 0, removed: 0 };
    const version = e.appliedPolicyVersion;
    if (version === null || !Number.isFinite(version)) return none;
    // Versions count per policy: a report about the enrollment policy says nothing about the host's.
    const applied = e.device.appliedPolicyName?.split('/').pop();
    if (applied !== e.hostUuid) return none;
    const rows = await this.store.rowsToVerify(e.hostUuid, version);
    if (rows.length === 0) return none;
    const now = dbNow();

    const removals = rows.filter((r) => r.operation_type === 'remove').map((r) => r.profile_uuid);
    await this.store.deleteAppliedRemovals(e.hostUuid, removals, version);

    const installs = rows.filter((r) => r.operation_type === 'install');
    const origin = await this.settingsOrigin(
      e.hostUuid,
      version,
      installs.map((r) => r.policy_request_uuid),
    );
    const failing = new Map<string, NonComplianceDetail[]>();
    for (const d of e.device.nonComplianceDetails ?? []) {
      const uuid = d.settingName ? origin.get(d.settingName) : undefined;
      if (!uuid || !installs.some((r) => r.profile_uuid === uuid)) continue;
      failing.set(uuid, [...(failing.get(uuid) ?? []), d]);
    }
    const verified = installs.map((r) => r.profile_uuid).filter((u) => !failing.has(u));
    await this.store.settle(
      e.hostUuid,
      verified,
      version,
      { status: 'verified', detail: null, can_reverify: 0 },
      now,
    );
    for (const [uuid, details] of failing) {
      await this.store.settle(
        e.hostUuid,
        [uuid],
        version,
        { status: 'failed', detail: nonComplianceDetail(details), can_reverify: 1 },
        now,
      );
    }
    const request = await this.store.requestForVersion(e.hostUuid, version);
    if (request && request.applied_policy_version === null) {
      await this.store.markRequestApplied(request.request_uuid, version, now);
    }
    if (failing.size) {
      this.logger?.info(
        { host: e.hostUuid, version, failed: failing.size },
        'android profiles: settings not applied on the device',
      );
    }
    return { verified: verified.length, failed: failing.size, removed: removals.length };
  }

  /**
   * Which profile set each top-level setting: from the request that produced the applied version,
   * else (not recorded) from the requests the rows were last sent with, newest version winning.
   */
  private async settingsOrigin(
    hostUuid: string,
    version: number,
    requestUuids: (string | null)[],
  ): Promise<Map<string, string>> {
    const exact = await this.store.requestForVersion(hostUuid, version);
    const requests: PolicyRequestRow[] = exact
      ? [exact]
      : (await this.store.requestsByUuid([...new Set(requestUuids.filter((u): u is string => !!u))])).sort(
          (a, b) => Number(a.policy_version ?? 0) - Number(b.policy_version ?? 0),
        );
    const out = new Map<string, string>();
    for (const r of requests) {
      for (const [k, v] of Object.entries(parseOrigin(r.payload))) out.set(k, v);
    }
    return out;
  }
}

function parseOrigin(payload: string): Record<string, string> {
  try {
    const p = JSON.parse(payload) as { metadata?: { settings_origin?: Record<string, string> } };
    return p.metadata?.settings_origin ?? {};
  } catch {
    return {};
  }
}
