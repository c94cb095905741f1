import { sql, type Kysely, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import { dbNow } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { groupBy } from '../../util/groupBy.js';
import type {
  InstallCandidate,
  ReconcileScope,
  ReconcileStore,
  RemoveCandidate,
} from '../../mdm/profiles/reconcileStore.js';
import type { EntityTables } from '../../mdm/profiles/targeting.js';
import type { PreparedCommand } from '../commands.js';
import { enrolledState } from '../store.js';
import {
  buildDeleteCommand,
  buildGetCommand,
  buildInstallCommand,
  deletableLocUris,
  newProfileCommandUuid,
} from './commands.js';
import { readBackItems } from './readBack.js';
import { isScepProfile, resolveScepCertificateId } from './scep.js';
import type { HostWindowsProfileWrite, WindowsProfileStore } from './store.js';
import { isUserLocUri, profileItems } from './validate.js';
import { hasFleetVariables, unfilledDetail, type ProfileVariables } from './variables.js';

/**
 * Windows profiles described for the shared reconcile SQL (targeting, ideal vs current): a host
 * takes part when it is a Windows host with an enrolled MDM enrollment; commands go to its newest.
 */
export const windowsProfileTables: EntityTables = {
  defTable: 'mdm_windows_configuration_profiles',
  defKey: 'profile_uuid',
  labelTable: 'mdm_configuration_profile_labels',
  labelKey: 'windows_profile_uuid',
  hostTable: 'host_mdm_windows_profiles',
  hostKey: 'profile_uuid',
  contentCol: 'checksum',
  defIdentifierCol: 'name',
  hostIdentifierCol: 'profile_identifier',
  hostNameCol: 'profile_name',
  platforms: ['windows'],
  enrollmentJoin: sql`JOIN mdm_windows_enrollments ne ON ne.host_uuid = h.uuid AND ne.device_state = ${enrolledState}
    AND ne.id = (SELECT MAX(e2.id) FROM mdm_windows_enrollments e2 WHERE e2.host_uuid = h.uuid AND e2.device_state = ${enrolledState})`,
};

/** How the manager reaches the Windows command queue (the Windows MDM store). */
export interface WindowsQueuePort {
  enqueue(enrollmentIds: number[], cmd: PreparedCommand, trx: Transaction<DB>): Promise<void>;
}

export interface WindowsProfileManagerOptions {
  batchHosts: number;
  tickBudgetMs: number;
  /** Ask hosts with verified profiles to read them back this often. */
  verifyIntervalSeconds: number;
  verifyHostsPerTick: number;
  /** Wrap every install in one <Atomic> (older Fleet) instead of sending the profile as written. */
  wrapInAtomic: boolean;
}

const CURSOR = 'windows_profiles';

/**
 * What one reconcile pass does with the install candidates of one definition: one command shared
 * by the hosts, one command per host (Fleet variables), a failed row (a variable the host has no
 * value for), or nothing yet (a user-scoped profile on a PC where no user is signed in).
 */
type InstallPlan =
  | { kind: 'shared'; rows: InstallCandidate[]; cmd: PreparedCommand }
  | { kind: 'host'; row: InstallCandidate; cmd: PreparedCommand }
  | { kind: 'failed'; row: InstallCandidate; detail: string }
  | { kind: 'held'; rows: InstallCandidate[] };

/**
 * The Windows profile manager (cron `mdm_windows_profile_manager`): level-triggered reconciliation
 * of Windows profiles with the same SQL as Apple's (team, label include-all/any, exclude-any,
 * unknown membership, broken labels). Installs share one command per profile; removals send
 * Delete for the LocURIs no other profile on the host still sets; verification reads the LocURIs
 * back with Get. Results are settled by WindowsProfileResults.
 */
export class WindowsProfileManager {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly reconcile: ReconcileStore,
    private readonly store: WindowsProfileStore,
    private readonly queue: WindowsQueuePort,
    private readonly enabled: () => Promise<boolean>,
    private readonly opts: WindowsProfileManagerOptions,
    private readonly variables: ProfileVariables,
    private readonly logger?: Logger,
  ) {}

  /** One bounded tick: reconcile a window walk, repair lost commands, ask for read-backs. */
  async tick(): Promise<{
    installs: number;
    removals: number;
    commands: number;
    verificationHosts: number;
    done: boolean;
  }> {
    if (!(await this.enabled()))
      return { installs: 0, removals: 0, commands: 0, verificationHosts: 0, done: true };
    await this.store.resetLostPending(dbNow());
    const walk = await this.walk();
    const verificationHosts = await this.requestVerification();
    return { ...walk, verificationHosts };
  }

  private async walk() {
    const deadline = Date.now() + this.opts.tickBudgetMs;
    const stats = { installs: 0, removals: 0, commands: 0, done: false };
    let cursor = await this.reconcile.getCursor(CURSOR);
    for (;;) {
      const window = await this.reconcile.nextHostWindow(cursor, this.opts.batchHosts);
      if (!window) {
        cursor = 0;
        stats.done = true;
        break;
      }
      const r = await this.reconcileScope({ window });
      stats.installs += r.installs;
      stats.removals += r.removals;
      stats.commands += r.commands;
      cursor = window.hi;
      if (Date.now() >= deadline) break;
    }
    await this.reconcile.setCursor(CURSOR, cursor, dbNow());
    return stats;
  }

  /** Marks pairs affected by a scope change as pending at once (before the cron sends anything). */
  async markPending(scope: { hostIds?: number[]; profileUuids?: string[] }): Promise<void> {
    const defUuids = scope.profileUuids?.filter((u) => u.startsWith('w'));
    if (defUuids && defUuids.length === 0) return;
    const now = dbNow();
    const hostChunks = scope.hostIds ? chunk(scope.hostIds, 1000) : [undefined];
    for (const hostIds of hostChunks) {
      await this.db.transaction().execute(async (trx) => {
        const s: ReconcileScope = { hostIds, defUuids };
        await this.reconcile.markInstallsPending(windowsProfileTables, s, now, trx);
        await this.reconcile.markRemovalsPending(windowsProfileTables, s, now, trx);
      });
    }
  }

  /** Reconciles one host now (a user signed in on it). */
  async reconcileHost(hostUuid: string): Promise<void> {
    const hostIds = await this.reconcile.hostIdsOf([hostUuid]);
    if (hostIds.length) await this.reconcileScope({ hostIds });
  }

  /** Reconciles one scope: install what is missing or edited, remove what no longer applies. */
  async reconcileScope(
    scope: ReconcileScope,
  ): Promise<{ installs: number; removals: number; commands: number }> {
    const installs = await this.reconcile.installCandidates(windowsProfileTables, scope);
    const removes = await this.reconcile.removeCandidates(windowsProfileTables, scope);
    if (installs.length === 0 && removes.length === 0) return { installs: 0, removals: 0, commands: 0 };
    const now = dbNow();
    const installGroups = groupBy(installs, (i) => i.def_uuid);
    const sent = removes.filter((r) => r.cur_command);
    const neverSent = removes.filter((r) => !r.cur_command);

    // What a removal may delete: the LocURIs of the install command the host received, minus those
    // another profile that stays on the host also sets, minus the protected ones.
    const removalHosts = [...new Set(sent.map((r) => r.host_uuid))];
    const staying = (await this.store.installRowsOfHosts(removalHosts)).filter(
      (row) => !removes.some((r) => r.host_uuid === row.host_uuid && r.def_uuid === row.profile_uuid),
    );
    const defUuids = [...new Set([...installGroups.keys(), ...staying.map((s) => s.profile_uuid)])];
    const defs = new Map((await this.store.getMany(defUuids)).map((d) => [d.profile_uuid, d]));
    const keptUris = new Map<string, Set<string>>();
    const keep = (host: string, defUuid: string) => {
      const def = defs.get(defUuid);
      if (!def) return;
      const set = keptUris.get(host) ?? new Set<string>();
      for (const it of profileItems(resolveScepCertificateId(def.syncml, defUuid))) set.add(it.locUri);
      keptUris.set(host, set);
    };
    for (const s of staying) keep(s.host_uuid, s.profile_uuid);
    for (const i of installs) if (removalHosts.includes(i.host_uuid)) keep(i.host_uuid, i.def_uuid);
    const raw = await this.store.rawCommands([...new Set(sent.map((r) => r.cur_command as string))]);
    // ./User/ settings reach a PC only while a user is signed in on it (Alert 1224 LoginStatus).
    const signedIn = await this.store.signedInEnrollments([
      ...new Set([
        ...installs.filter((i) => i.scope === 'User').map((i) => Number(i.enrollment_id)),
        ...sent.map((r) => Number(r.enrollment_id)),
      ]),
    ]);
    const deletions: { r: RemoveCandidate; uris: string[] }[] = [];
    const heldRemovals: RemoveCandidate[] = [];
    const cleanup: RemoveCandidate[] = [...neverSent];
    for (const r of sent) {
      const kept = keptUris.get(r.host_uuid) ?? new Set<string>();
      const uris = deletableLocUris(raw.get(r.cur_command as string) ?? '').filter((u) => !kept.has(u));
      if (uris.length === 0) cleanup.push(r);
      else if (uris.some(isUserLocUri) && !signedIn.has(Number(r.enrollment_id))) heldRemovals.push(r);
      else deletions.push({ r, uris });
    }
    const plans = await this.planInstalls(installGroups, defs, signedIn);

    let commands = 0;
    await this.db.transaction().execute(async (trx) => {
      for (const c of cleanup) await this.store.deleteHostRow(c.host_uuid, c.def_uuid, trx);
      for (const r of heldRemovals) await this.store.holdRemoval(r.host_uuid, r.def_uuid, now, trx);
      for (const plan of plans) commands += await this.applyInstallPlan(plan, now, trx);
      for (const list of groupBy(deletions, (d) => d.uris.join('\n')).values()) {
        const cmd = buildDeleteCommand(list[0].uris, newProfileCommandUuid());
        await this.supersede(
          list.map((d) => d.r),
          trx,
        );
        for (const { r } of list) {
          await trx
            .updateTable('host_mdm_windows_profiles')
            .set({
              operation_type: 'remove',
              status: 'pending',
              command_uuid: cmd.commandUuid,
              detail: null,
              updated_at: now,
            })
            .where('host_uuid', '=', r.host_uuid)
            .where('profile_uuid', '=', r.def_uuid)
            .execute();
        }
        await this.queue.enqueue(
          list.map((d) => Number(d.r.enrollment_id)),
          cmd,
          trx,
        );
        commands++;
      }
    });
    return { installs: installs.length, removals: removes.length, commands };
  }

  /**
   * Decides, before the write transaction (expansion reads the database), what each definition's
   * candidates get: user-scoped ones wait for a signed-in user; a profile with Fleet variables is
   * expanded per host (its SCEP certificate ID is the profile UUID for every host, Fleet's rule).
   */
  private async planInstalls(
    groups: Map<string, InstallCandidate[]>,
    defs: Map<string, { profile_uuid: string; syncml: string }>,
    signedIn: Set<number>,
  ): Promise<InstallPlan[]> {
    const plans: InstallPlan[] = [];
    for (const [defUuid, group] of groups) {
      const def = defs.get(defUuid);
      if (!def) continue; // deleted since the query; the next tick settles it
      const held = group.filter((i) => i.scope === 'User' && !signedIn.has(Number(i.enrollment_id)));
      const heldSet = new Set(held);
      const ready = held.length ? group.filter((i) => !heldSet.has(i)) : group;
      if (held.length) plans.push({ kind: 'held', rows: held });
      if (ready.length === 0) continue;
      const text = resolveScepCertificateId(def.syncml, defUuid);
      const build = (syncml: string) =>
        buildInstallCommand(syncml, newProfileCommandUuid(), {
          // SCEP profiles go in one Atomic so a failed enrollment leaves no half-made node.
          wrapInAtomic: this.opts.wrapInAtomic || isScepProfile(profileItems(syncml).map((it) => it.locUri)),
        });
      if (!hasFleetVariables(text)) {
        plans.push({ kind: 'shared', rows: ready, cmd: build(text) });
        continue;
      }
      const expanded = await this.variables.expandForHosts(
        defUuid,
        text,
        ready.map((i) => ({ hostUuid: i.host_uuid, hostId: i.host_id, platform: i.platform })),
        'xml',
      );
      for (const row of ready) {
        const e = expanded.get(row.host_uuid) ?? { ok: false as const, detail: unfilledDetail };
        plans.push(
          e.ok ? { kind: 'host', row, cmd: build(e.text) } : { kind: 'failed', row, detail: e.detail },
        );
      }
    }
    return plans;
  }

  /** Writes one plan's rows and queues its command; returns the number of commands queued. */
  private async applyInstallPlan(plan: InstallPlan, now: string, trx: Transaction<DB>): Promise<number> {
    switch (plan.kind) {
      case 'held':
        await this.store.holdInstallRows(plan.rows, now, trx);
        return 0;
      case 'failed':
        await this.supersede([plan.row], trx);
        await this.store.upsertHostRows(
          [{ ...this.installRow(plan.row, '', now), status: 'failed', detail: plan.detail }],
          trx,
        );
        return 0;
      case 'shared':
      case 'host': {
        const rows = plan.kind === 'shared' ? plan.rows : [plan.row];
        await this.supersede(rows, trx);
        await this.store.upsertHostRows(
          rows.map((i) => this.installRow(i, plan.cmd.commandUuid, now)),
          trx,
        );
        await this.queue.enqueue(
          rows.map((i) => Number(i.enrollment_id)),
          plan.cmd,
          trx,
        );
        return 1;
      }
    }
  }

  /** A command still waiting for a host that a newer one replaces is taken out of its queue. */
  private async supersede(
    rows: { cur_command: string | null; cur_status: string | null; enrollment_id: string | number }[],
    trx: Transaction<DB>,
  ) {
    const waiting = rows.filter(
      (r) => r.cur_command && (r.cur_status === 'pending' || r.cur_status === null),
    );
    for (const [command, list] of groupBy(waiting, (r) => r.cur_command as string)) {
      await this.store.dequeue(
        command,
        list.map((r) => Number(r.enrollment_id)),
        trx,
      );
    }
  }

  private installRow(i: InstallCandidate, commandUuid: string, now: string): HostWindowsProfileWrite {
    const sameContent = i.cur_exists && i.cur_op === 'install' && i.cur_content === i.content;
    return {
      host_uuid: i.host_uuid,
      profile_uuid: i.def_uuid,
      profile_name: i.name,
      profile_identifier: i.identifier,
      status: 'pending',
      operation_type: 'install',
      detail: null,
      command_uuid: commandUuid,
      checksum: i.content,
      retries: sameContent ? Number(i.cur_retries ?? 0) : 0,
      ignore_error: 0,
      scope: i.scope,
      secrets_updated_at: i.secrets_updated_at,
      created_at: now,
      updated_at: now,
    };
  }

  /**
   * Verification: one Get per LocURI of the host's verifying (and, periodically, verified)
   * profiles, in one command per host, as the host received them (Fleet variables filled in).
   * What readBackItems leaves out is not read back; a profile with nothing left is verified on
   * acknowledgement.
   */
  async requestVerification(): Promise<number> {
    const hosts = await this.store.hostsDueVerification({
      olderThan: dbNow(-this.opts.verifyIntervalSeconds * 1000),
      recheckBefore: dbNow(-Math.min(60, this.opts.verifyIntervalSeconds) * 1000),
      outstandingSince: dbNow(-Math.max(60, Math.min(this.opts.verifyIntervalSeconds, 600)) * 1000),
      limit: this.opts.verifyHostsPerTick,
    });
    let asked = 0;
    for (const h of hosts) {
      const rows = await this.store.currentRowsToVerify(h.host_uuid);
      const uris = new Set<string>();
      const now = dbNow();
      for (const r of rows) {
        const items = readBackItems(profileItems(r.syncml));
        if (items.length === 0 && r.status === 'verifying') {
          await this.store.setRowCas(r, { status: 'verified', detail: null }, now);
        }
        for (const it of items) uris.add(it.locUri);
      }
      if (uris.size === 0) continue;
      const cmd = buildGetCommand([...uris], newProfileCommandUuid());
      await this.db.transaction().execute(async (trx) => {
        await this.store.recordCheck(h.host_uuid, cmd.commandUuid, now, trx);
        await this.queue.enqueue([h.enrollment_id], cmd, trx);
      });
      asked++;
    }
    if (asked) this.logger?.debug({ hosts: asked }, 'windows profile verification requested');
    return asked;
  }
}

export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
