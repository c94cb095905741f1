import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { dbNow } from '../../db/dialect.js';
import { groupBy } from '../../util/groupBy.js';
import { AmapiError, type AndroidManagementClient, type AmapiPolicy } from '../../clients/amapi/types.js';
import type { ReconcileStore } from '../../mdm/profiles/reconcileStore.js';
import { hostPolicy, mergeProfiles, type MergeInput } from './merge.js';
import {
  pairKey,
  type AndroidProfileRow,
  type AndroidProfileStore,
  type DirtyHost,
  type HostAndroidProfileRow,
  type HostAndroidProfileWrite,
  type PolicyRequestWrite,
} from './store.js';

/** After this many refused patches in a row a profile fails for good on the host (until re-added). */
export const MAX_REQUEST_FAILURES = 3;

export const retriesExhaustedDetail =
  "Couldn't apply profile. Google returned error. Please re-add profile to try again.";

export const overriddenDetail = (name: string) =>
  `"${name}" isn't applied. It's overridden by other configuration profile.`;

export interface AndroidProfileManagerOptions {
  batchHosts: number;
  tickBudgetMs: number;
  /** Hosts whose Google calls run at the same time. */
  concurrency?: number;
}

export interface AndroidTickResult {
  hosts: number;
  patched: number;
  failed: number;
  /** Google asked us to slow down (429/503): the tick stopped early. */
  throttled: boolean;
  done: boolean;
}

/** What happened at Google for one host. */
type HostOutcome =
  | { kind: 'sent'; version: number; policyRequest: string; deviceRequest: string | null }
  | { kind: 'refused' };

/** One host's decision: its policy and the rows it writes. */
interface HostPlan {
  host: DirtyHost;
  current: Map<string, HostAndroidProfileRow>;
  /** Profiles in the policy (after those failed for good), by name. */
  included: AndroidProfileRow[];
  overridden: Set<string>;
  settingsOrigin: Record<string, string>;
  policy: AmapiPolicy;
  /** Rows whose profile no longer applies (installs to remove, removals not yet sent). */
  removals: HostAndroidProfileRow[];
}

const CURSOR = 'android_profiles';
const HOSTS_PER_WRITE = 200;

/**
 * The Android profile manager (cron `mdm_android_profile_manager`). Every Android host has its own
 * AMAPI policy, `enterprises/{e}/policies/{host uuid}`: for each host whose profiles changed it
 * merges the profiles that apply (team, labels) into that policy, sends it with policies.patch,
 * moves the device onto it once, and records which policy version carries which profile; status
 * reports then verify them (AndroidProfileVerifier). Reads and writes are batched per window of
 * hosts; Google is called once or twice per changed host.
 */
export class AndroidProfileManager {
  constructor(
    private readonly store: AndroidProfileStore,
    private readonly cursors: Pick<ReconcileStore, 'getCursor' | 'setCursor'>,
    private readonly client: () => Promise<AndroidManagementClient | undefined>,
    private readonly opts: AndroidProfileManagerOptions,
    private readonly logger?: Logger,
  ) {}

  /** Marks pairs affected by a change as pending at once (before the cron sends anything). */
  async markPending(scope: { hostIds?: number[]; profileUuids?: string[] }): Promise<void> {
    const profileUuids = scope.profileUuids?.filter((u) => u.startsWith('g'));
    if (profileUuids && profileUuids.length === 0) return;
    const now = dbNow();
    const chunks = scope.hostIds ? chunk(scope.hostIds, 500) : [undefined];
    for (const hostIds of chunks) {
      await this.store.db.transaction().execute(async (trx) => {
        await this.store.markInstallsPending({ hostIds, profileUuids }, now, trx);
        await this.store.markRemovalsPending({ hostIds, profileUuids }, now, trx);
      });
    }
  }

  /** A device (re)enrolled: everything of its host is sent again, onto its own policy. */
  async hostEnrolled(hostId: number): Promise<void> {
    await this.store.db.transaction().execute(async (trx) => {
      const now = dbNow();
      await this.store.resetHosts([hostId], now, trx);
      await this.store.markInstallsPending({ hostIds: [hostId] }, now, trx);
      await this.store.markRemovalsPending({ hostIds: [hostId] }, now, trx);
    });
  }

  /** One bounded tick: walk the Android hosts window by window, rebuilding the changed ones' policies. */
  async tick(): Promise<AndroidTickResult> {
    const result: AndroidTickResult = { hosts: 0, patched: 0, failed: 0, throttled: false, done: false };
    const enterprise = await this.store.enterpriseName();
    if (!enterprise) return { ...result, done: true };
    const client = await this.client();
    if (!client) {
      this.logger?.warn('android profiles: no service account configured, policies not sent');
      return { ...result, done: true };
    }
    const deadline = Date.now() + this.opts.tickBudgetMs;
    let cursor = await this.cursors.getCursor(CURSOR);
    for (;;) {
      const window = await this.store.nextHostWindow(cursor, this.opts.batchHosts);
      if (!window) {
        cursor = 0;
        result.done = true;
        break;
      }
      const dirty = await this.store.dirtyHosts(window);
      let stopped = false;
      for (const part of chunk(dirty, HOSTS_PER_WRITE)) {
        const r = await this.apply(client, enterprise, part);
        result.hosts += part.length;
        result.patched += r.patched;
        result.failed += r.failed;
        if (r.throttled || Date.now() >= deadline) {
          result.throttled ||= r.throttled;
          stopped = true;
          break;
        }
      }
      // A window left half done is walked again next tick (its settled hosts are no longer dirty).
      if (stopped) break;
      cursor = window.hi;
      if (Date.now() >= deadline) break;
    }
    await this.cursors.setCursor(CURSOR, cursor, dbNow());
    if (result.hosts) this.logger?.info({ ...result }, 'android profiles: policies sent');
    return result;
  }

  /** Plans, sends and records a batch of hosts. */
  private async apply(client: AndroidManagementClient, enterprise: string, hosts: DirtyHost[]) {
    const readAt = dbNow();
    const plans = await this.plan(hosts);
    const outcomes = new Map<string, HostOutcome>();
    const requests: PolicyRequestWrite[] = [];
    let throttled = false;
    const queue = [...plans];
    const worker = async () => {
      for (let plan = queue.shift(); plan && !throttled; plan = queue.shift()) {
        const out = await this.send(client, enterprise, plan, requests);
        if (out === 'throttled') throttled = true;
        else outcomes.set(plan.host.host_uuid, out);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.opts.concurrency ?? 8) }, worker));
    await this.record(plans, outcomes, requests, readAt);
    const failed = [...outcomes.values()].filter((o) => o.kind === 'refused').length;
    return { patched: outcomes.size - failed, failed, throttled };
  }

  /** Each host's policy from its current rows and the profiles that apply to it. */
  private async plan(hosts: DirtyHost[]): Promise<HostPlan[]> {
    const desired = await this.store.desiredPairs(hosts.map((h) => h.host_id));
    const rows = await this.store.rowsOfHosts(hosts.map((h) => h.host_uuid));
    const defs = new Map(
      (await this.store.getMany([...new Set(desired.map((d) => d.profile_uuid))])).map((d) => [
        d.profile_uuid,
        d,
      ]),
    );
    // Each profile's JSON parsed once for the whole batch, not once per host.
    const inputs = new Map([...defs.values()].map((d) => [d.profile_uuid, mergeInput(d)]));
    const desiredOf = groupBy(desired, (d) => d.host_uuid);
    const rowsOf = groupBy(rows, (r) => r.host_uuid);
    return hosts.map((host) => {
      const current = new Map((rowsOf.get(host.host_uuid) ?? []).map((r) => [r.profile_uuid, r]));
      const wanted = new Set((desiredOf.get(host.host_uuid) ?? []).map((d) => d.profile_uuid));
      const included: AndroidProfileRow[] = [];
      for (const uuid of wanted) {
        const def = defs.get(uuid);
        const cur = current.get(uuid);
        if (!def || (cur && failedForGood(cur) && !(cur.updated_at < def.uploaded_at))) continue;
        included.push(def);
      }
      const merged = mergeProfiles(included.map((d) => inputs.get(d.profile_uuid)!));
      const removals = [...current.values()].filter((r) => !wanted.has(r.profile_uuid));
      return {
        host,
        current,
        included,
        overridden: new Set(merged.overridden),
        settingsOrigin: merged.settingsOrigin,
        policy: hostPolicy(merged),
        removals,
      };
    });
  }

  /** Sends one host's policy and, the first time, moves the device onto it. */
  private async send(
    client: AndroidManagementClient,
    enterprise: string,
    plan: HostPlan,
    requests: PolicyRequestWrite[],
  ): Promise<HostOutcome | 'throttled'> {
    const hostUuid = plan.host.host_uuid;
    const policyName = `${enterprise}/policies/${hostUuid}`;
    const policyRequest = randomUUID();
    const payload = JSON.stringify({
      policy: plan.policy,
      metadata: { settings_origin: plan.settingsOrigin },
    });
    let version: number;
    try {
      const answer = await client.policiesPatch(policyName, plan.policy);
      version = Number(answer.version);
      requests.push(request(policyRequest, 'policies.patch', hostUuid, payload, '200', null, version));
    } catch (err) {
      return this.refused(err, plan, requests, request(policyRequest, 'policies.patch', hostUuid, payload));
    }
    if (plan.host.applied_policy_id === hostUuid) {
      return { kind: 'sent', version, policyRequest, deviceRequest: null };
    }
    const deviceRequest = randomUUID();
    const devicePayload = JSON.stringify({ policyName });
    try {
      await client.devicesPatch(`${enterprise}/devices/${plan.host.device_id}`, { policyName }, 'policyName');
      requests.push(request(deviceRequest, 'devices.patch', hostUuid, devicePayload, '200', null, version));
    } catch (err) {
      return this.refused(
        err,
        plan,
        requests,
        request(deviceRequest, 'devices.patch', hostUuid, devicePayload),
      );
    }
    return { kind: 'sent', version, policyRequest, deviceRequest };
  }

  /** A refused call: retried next tick (counted), or, for 429/503, the tick stops (not counted). */
  private refused(
    err: unknown,
    plan: HostPlan,
    requests: PolicyRequestWrite[],
    req: PolicyRequestWrite,
  ): HostOutcome | 'throttled' {
    if (!(err instanceof AmapiError) || err.status === 0) {
      // Not Google's answer (network, timeout): like a 503, nothing is counted against the profiles.
      this.logger?.warn({ err: errorText(err), host: plan.host.host_uuid }, 'android profiles: call failed');
      return 'throttled';
    }
    if (err.retryable) {
      this.logger?.info(
        { status: err.status, call: err.call },
        'android profiles: Google asked to retry later',
      );
      return 'throttled';
    }
    this.logger?.warn(
      { status: err.status, call: err.call, host: plan.host.host_uuid, reason: err.googleMessage },
      'android profiles: Google refused the policy',
    );
    requests.push({
      ...req,
      status_code: String(err.status),
      error_details: err.googleMessage || err.message,
    });
    return { kind: 'refused' };
  }

  /** Writes every host's outcome in one transaction, leaving pairs an admin changed meanwhile alone. */
  private async record(
    plans: HostPlan[],
    outcomes: Map<string, HostOutcome>,
    requests: PolicyRequestWrite[],
    readAt: string,
  ): Promise<void> {
    const now = dbNow();
    const done = plans.filter((p) => outcomes.has(p.host.host_uuid));
    if (done.length === 0 && requests.length === 0) return;
    await this.store.db.transaction().execute(async (trx) => {
      await this.store.insertRequests(requests, now, trx);
      const changed = await this.store.changedSince(
        done.map((p) => p.host.host_uuid),
        readAt,
        trx,
      );
      const writes: HostAndroidProfileWrite[] = [];
      const deletes: { host_uuid: string; profile_uuid: string }[] = [];
      for (const plan of done) {
        const out = outcomes.get(plan.host.host_uuid)!;
        const w = out.kind === 'sent' ? sentRows(plan, out, now) : refusedRows(plan, now);
        const untouched = (r: { host_uuid: string; profile_uuid: string }) =>
          !changed.has(pairKey(r.host_uuid, r.profile_uuid));
        writes.push(...w.writes.filter(untouched));
        deletes.push(...w.deletes.filter(untouched));
      }
      await this.store.upsertHostRows(writes, trx);
      await this.store.deleteHostRows(deletes, trx);
    });
  }
}

/** Failed after the last retry: stays failed (out of the policy) until the profile is re-added or resent. */
function failedForGood(r: HostAndroidProfileRow): boolean {
  return (
    r.status === 'failed' &&
    r.operation_type === 'install' &&
    Number(r.request_fail_count) >= MAX_REQUEST_FAILURES
  );
}

/** An install row whose content went out in an earlier policy and is verifying or settled on the device. */
function alreadySent(cur: HostAndroidProfileRow, def: AndroidProfileRow): boolean {
  if (cur.operation_type !== 'install' || cur.included_in_policy_version === null) return false;
  if (cur.updated_at < def.uploaded_at) return false;
  return (
    cur.status === 'verifying' ||
    cur.status === 'verified' ||
    (cur.status === 'failed' && Number(cur.can_reverify) === 1)
  );
}

/**
 * Rows after a policy Google took: what it newly carries is verifying (sent in this version),
 * overridden profiles failed, removals sent.
 */
function sentRows(plan: HostPlan, out: Extract<HostOutcome, { kind: 'sent' }>, now: string) {
  const writes: HostAndroidProfileWrite[] = [];
  const deletes: { host_uuid: string; profile_uuid: string }[] = [];
  const host_uuid = plan.host.host_uuid;
  for (const def of plan.included) {
    const cur = plan.current.get(def.profile_uuid);
    const overridden = plan.overridden.has(def.profile_uuid);
    // Already in a policy the device has or will have, unchanged: its version and status stand.
    if (!overridden && cur && alreadySent(cur, def)) continue;
    writes.push({
      ...baseRow(host_uuid, def.profile_uuid, def.name, cur, now),
      status: overridden ? 'failed' : 'verifying',
      operation_type: 'install',
      detail: overridden ? overriddenDetail(def.name) : null,
      policy_request_uuid: out.policyRequest,
      device_request_uuid: out.deviceRequest ?? cur?.device_request_uuid ?? null,
      request_fail_count: 0,
      included_in_policy_version: out.version,
      can_reverify: 0,
    });
  }
  for (const r of plan.removals) {
    // Never in a policy Google took: nothing to take back.
    if (r.included_in_policy_version === null) {
      deletes.push({ host_uuid, profile_uuid: r.profile_uuid });
      continue;
    }
    writes.push({
      ...baseRow(host_uuid, r.profile_uuid, r.profile_name, r, now),
      status: 'verifying',
      operation_type: 'remove',
      detail: null,
      policy_request_uuid: out.policyRequest,
      device_request_uuid: out.deviceRequest ?? r.device_request_uuid,
      request_fail_count: 0,
      included_in_policy_version: out.version,
      can_reverify: 0,
    });
  }
  return { writes, deletes };
}

/**
 * Rows after Google refused the host's policy: the rows that were waiting to go are counted and
 * tried again next tick, failed after the last try. Rows already on the device stay as they are.
 */
function refusedRows(plan: HostPlan, now: string) {
  const writes: HostAndroidProfileWrite[] = [];
  const host_uuid = plan.host.host_uuid;
  // Waiting to go: new, marked "not yet sent", a removal, or older than the profile's last upload.
  const waiting = (cur: HostAndroidProfileRow | undefined, def?: AndroidProfileRow) =>
    !cur ||
    cur.status === null ||
    cur.status === 'pending' ||
    cur.operation_type === 'remove' ||
    (def !== undefined && cur.updated_at < def.uploaded_at);
  const retry = (cur: HostAndroidProfileRow | undefined, uuid: string, name: string, op: string) => {
    const count = Number(cur?.request_fail_count ?? 0) + 1;
    const last = count >= MAX_REQUEST_FAILURES;
    writes.push({
      ...baseRow(host_uuid, uuid, name, cur, now),
      status: last ? 'failed' : null,
      operation_type: op,
      detail: last ? retriesExhaustedDetail : null,
      request_fail_count: count,
      can_reverify: 0,
    });
  };
  for (const def of plan.included) {
    const cur = plan.current.get(def.profile_uuid);
    if (waiting(cur, def)) retry(cur, def.profile_uuid, def.name, 'install');
  }
  // A removal of what never reached Google just goes; one already sent stays sent; the rest retry.
  const deletes: { host_uuid: string; profile_uuid: string }[] = [];
  for (const r of plan.removals) {
    if (r.included_in_policy_version === null) deletes.push({ host_uuid, profile_uuid: r.profile_uuid });
    else if (r.status === null || r.status === 'pending') retry(r, r.profile_uuid, r.profile_name, 'remove');
  }
  return { writes, deletes };
}

/** The columns a write keeps from the current row (or starts fresh with). */
function baseRow(
  host_uuid: string,
  profile_uuid: string,
  profile_name: string,
  cur: HostAndroidProfileRow | undefined,
  now: string,
): HostAndroidProfileWrite {
  return {
    host_uuid,
    profile_uuid,
    profile_name,
    status: cur?.status ?? null,
    operation_type: cur?.operation_type ?? 'install',
    detail: cur?.detail ?? null,
    policy_request_uuid: cur?.policy_request_uuid ?? null,
    device_request_uuid: cur?.device_request_uuid ?? null,
    request_fail_count: Number(cur?.request_fail_count ?? 0),
    included_in_policy_version:
      cur?.included_in_policy_version == null ? null : Number(cur.included_in_policy_version),
    can_reverify: Number(cur?.can_reverify ?? 0),
    created_at: cur?.created_at ?? now,
    updated_at: now,
  };
}

function mergeInput(def: AndroidProfileRow): MergeInput {
  return { uuid: def.profile_uuid, name: def.name, policy: JSON.parse(def.raw_json) as AmapiPolicy };
}

function request(
  request_uuid: string,
  request_name: string,
  policy_id: string,
  payload: string,
  status_code = '',
  error_details: string | null = null,
  policy_version: number | null = null,
): PolicyRequestWrite {
  return { request_uuid, request_name, policy_id, payload, status_code, error_details, policy_version };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
