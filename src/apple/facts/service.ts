import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { dbNow, toApiTime } from '../../db/dialect.js';
import { buildCommandPlist } from '../commands/build.js';
import { refetchDeviceQueries } from '../commands/hostActions.js';
import type { AppleCommandQueue } from '../commands/queue.js';
import type { AppleCommandResultEvent } from '../events.js';
import type { PlistValue } from '../plist/parse.js';
import type { ApnsCertificateService } from '../push/certificates.js';
import type { ApplePushService } from '../push/service.js';
import { parseSecurityInfo } from './securityInfo.js';
import { inFlightCommandType, type AppleFactsStore, type DueHost, type FactsKind } from './store.js';

/**
 * What DeviceInformation asks a personal (User Enrollment) device: a User Enrollment answers no
 * hardware identifiers (serial, UDID, MAC addresses), so Fleet's BYOD variant asks for less.
 */
export const personalDeviceQueries = [
  'DeviceName',
  'DeviceCapacity',
  'AvailableDeviceCapacity',
  'OSVersion',
  'SupplementalOSVersionExtra',
  'ProductName',
  'IsMDMLostModeEnabled',
  'TimeZone',
];

/** A command unanswered this long no longer blocks a new one (offline devices are asked again). */
const IN_FLIGHT_EXPIRY_MS = 24 * 3600 * 1000;
/** Bound on the batches of one run, so a store that cannot mark hosts in flight never loops forever. */
const MAX_BATCHES_PER_RUN = 1000;

export interface AppleFactsOptions {
  /** Facts older than this are asked for again (Fleet's iPhone/iPad refetch: 1 hour). */
  staleAfterSeconds: number;
  /** Hosts per shared command. */
  batchSize: number;
}

/** What one run queued: hosts per kind of facts. */
export interface RefetchSummary {
  device: number;
  security: number;
}

/** One refetch plan: which facts of which hosts a job keeps fresh. */
interface RefetchPlan {
  kind: FactsKind;
  platforms: string[];
  withoutOsquery?: boolean;
}

/** `GET /hosts/:id` `mdm.security_info`: the host's last SecurityInfo answer (Flotilla addition). */
export interface SecurityInfoJson {
  fetched_at: string | null;
  filevault_enabled: boolean | null;
  filevault_personal_recovery_key: boolean | null;
  system_integrity_protection_enabled: boolean | null;
  firewall_enabled: boolean | null;
  firewall_block_all_incoming: boolean | null;
  firewall_stealth_mode: boolean | null;
  enrolled_via_dep: boolean | null;
  user_approved_enrollment: boolean | null;
  is_user_enrollment: boolean | null;
  passcode_present: boolean | null;
  passcode_compliant: boolean | null;
  hardware_encryption_caps: number | null;
  secure_boot_level: string | null;
}

/**
 * Keeps Apple hosts' device facts fresh over MDM. iPhones and iPads (no osquery) get Fleet's
 * refetch: DeviceInformation when their details are older than the interval; every Apple host also
 * gets SecurityInfo (FileVault, firewall, SIP, management status, passcode), which Fleet reads from
 * osquery on Macs and not at all on iPhones. Due hosts share one command per batch, marked in flight
 * in the same transaction, then pushed. Answers: DeviceInformation is applied by the check-in
 * lifecycle; SecurityInfo here.
 */
export class AppleFactsService {
  constructor(
    private readonly store: AppleFactsStore,
    private readonly queue: Pick<AppleCommandQueue, 'enqueue'>,
    private readonly push: Pick<ApplePushService, 'pushEnrollments'>,
    private readonly certificates: Pick<ApnsCertificateService, 'current'>,
    private readonly opts: AppleFactsOptions,
    private readonly logger?: Logger,
  ) {}

  /** Fleet's `apple_mdm_iphone_ipad_refetcher`, with SecurityInfo added. */
  refetchIphonesAndIpads(): Promise<RefetchSummary> {
    const platforms = ['ios', 'ipados'];
    return this.run([
      { kind: 'security', platforms },
      // Fleet sends DeviceInformation last: its answer finishes the refetch.
      { kind: 'device', platforms },
    ]);
  }

  /** Our `apple_mdm_macos_refetcher`: SecurityInfo for Macs; DeviceInformation for Macs without osquery. */
  refetchMacs(): Promise<RefetchSummary> {
    const platforms = ['darwin'];
    return this.run([
      { kind: 'security', platforms },
      { kind: 'device', platforms, withoutOsquery: true },
    ]);
  }

  private async run(plans: RefetchPlan[]): Promise<RefetchSummary> {
    const summary: RefetchSummary = { device: 0, security: 0 };
    // Like Fleet's refetcher: nothing to do until Apple MDM is configured (no push certificate).
    if (!(await this.certificates.current())) return summary;
    for (const plan of plans) summary[plan.kind] += await this.refetch(plan);
    if (summary.device || summary.security) this.logger?.info(summary, 'apple device facts refetch queued');
    return summary;
  }

  /** Queues `plan` for every due host, a batch at a time; returns how many hosts were queued. */
  private async refetch(plan: RefetchPlan): Promise<number> {
    const staleMs = this.opts.staleAfterSeconds * 1000;
    const query = {
      platforms: plan.platforms,
      withoutOsquery: plan.withoutOsquery,
      staleBefore: dbNow(-staleMs),
      inFlightAfter: dbNow(-Math.max(staleMs, IN_FLIGHT_EXPIRY_MS)),
      limit: this.opts.batchSize,
    };
    const queued = new Set<number>();
    for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
      const due = (await this.store.dueHosts(plan.kind, query)).filter((h) => !queued.has(h.hostId));
      if (due.length === 0) break;
      // Personal devices get the shorter DeviceInformation, so each batch is at most two commands.
      const groups =
        plan.kind === 'device' ? [due.filter((h) => !h.personal), due.filter((h) => h.personal)] : [due];
      for (const group of groups) if (group.length) await this.queueFor(plan.kind, group);
      for (const h of due) queued.add(h.hostId);
      if (due.length < this.opts.batchSize) break;
    }
    return queued.size;
  }

  /** One shared command for the group, queued and marked in flight together, then pushed. */
  private async queueFor(kind: FactsKind, hosts: DueHost[]): Promise<void> {
    const type = inFlightCommandType[kind];
    const uuid = `${type}${randomUUID().toUpperCase()}`;
    const cmd =
      kind === 'device'
        ? buildCommandPlist(
            'DeviceInformation',
            { Queries: hosts[0].personal ? personalDeviceQueries : refetchDeviceQueries },
            uuid,
          )
        : buildCommandPlist('SecurityInfo', {}, uuid);
    const enrollmentIds = hosts.map((h) => h.enrollmentId);
    await this.store.transaction(async (trx) => {
      await this.queue.enqueue(
        enrollmentIds,
        {
          commandUuid: cmd.commandUuid,
          requestType: kind === 'device' ? 'DeviceInformation' : 'SecurityInfo',
          plist: cmd.plist,
        },
        trx,
      );
      await this.store.markInFlight(
        trx,
        hosts.map((h) => h.hostId),
        type,
      );
    });
    // Push failures are recorded per enrollment and retried by the re-push cron; the commands stay.
    await this.push.pushEnrollments(enrollmentIds);
  }

  /**
   * Stores an acknowledged SecurityInfo answer. An answer with a used key of the wrong type changes
   * nothing (the command stays in flight, so the host is asked again only after the in-flight
   * expiry) and is logged with the offending keys. Error answers end the command in flight.
   */
  async handleCommandResult(e: AppleCommandResultEvent): Promise<void> {
    if (e.requestType !== 'SecurityInfo') return;
    // Everything that needs no database is decided first: this runs inside every device report.
    const failed = e.status === 'Error' || e.status === 'CommandFormatError';
    if (!failed && e.status !== 'Acknowledged') return;
    const parsed = failed ? undefined : parseSecurityInfo(e.result as Record<string, PlistValue>);
    if (parsed && !parsed.ok) {
      this.logger?.warn(
        { hostUuid: e.hostUuid, commandUuid: e.commandUuid, invalidKeys: parsed.problems },
        'SecurityInfo answer ignored: keys of the wrong type',
      );
      return;
    }
    const host = await this.store.hostByUuid(e.hostUuid);
    if (!host) return;
    if (!parsed) await this.store.clearInFlight(host.id, inFlightCommandType.security);
    else await this.store.saveSecurityInfo(host.id, host.platform, parsed.facts);
  }

  /** The host detail's `mdm.security_info`: the last answer, or all null before the first one. */
  async securityInfoJson(hostId: number): Promise<SecurityInfoJson> {
    const r = await this.store.securityInfo(hostId);
    return {
      fetched_at: r ? toApiTime(r.fetched_at) : null,
      filevault_enabled: r?.fde_enabled ?? null,
      filevault_personal_recovery_key: r?.fde_has_personal_recovery_key ?? null,
      system_integrity_protection_enabled: r?.system_integrity_protection_enabled ?? null,
      firewall_enabled: r?.firewall_enabled ?? null,
      firewall_block_all_incoming: r?.firewall_block_all_incoming ?? null,
      firewall_stealth_mode: r?.firewall_stealth_mode ?? null,
      enrolled_via_dep: r?.enrolled_via_dep ?? null,
      user_approved_enrollment: r?.user_approved_enrollment ?? null,
      is_user_enrollment: r?.is_user_enrollment ?? null,
      passcode_present: r?.passcode_present ?? null,
      passcode_compliant: r?.passcode_compliant ?? null,
      hardware_encryption_caps: r?.hardware_encryption_caps ?? null,
      secure_boot_level: r?.secure_boot_level ?? null,
    };
  }
}
