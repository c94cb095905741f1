import { randomUUID } from 'node:crypto';
import type { Kysely, RawBuilder, Transaction } from 'kysely';
import type { Logger } from 'pino';
import { buildCommandPlist } from '../commands/build.js';
import { dbNow, dialectOf, fromDbTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { AppleChannelStore } from './channels.js';
import {
  deliveryOf,
  installProfileCommand,
  isShared,
  type InstallCommand,
  type ProfileDelivery,
  type ProfileVariableExpander,
} from './delivery.js';
import { type HostDeclarationWrite, type HostProfileWrite, type HostStatusStore } from './hostStatusStore.js';
import type {
  InstallCandidate,
  ReconcileScope,
  ReconcileStore,
  RemoveCandidate,
} from '../../mdm/profiles/reconcileStore.js';
import type { EntityTables } from '../../mdm/profiles/targeting.js';
import { groupBy } from '../../util/groupBy.js';
import type { ProfileSigner } from './signing.js';
import { appleDeclarationTables, appleProfileTables } from './targeting.js';

/** How the manager reaches the Apple command queue and APNs (provided by the Apple MDM area). */
export interface AppleCommandPorts {
  enqueue(
    enrollmentIds: string[],
    cmd: { commandUuid: string; requestType: string; plist: Buffer; priority?: number; subtype?: string },
    trx?: Transaction<DB>,
  ): Promise<void>;
  push(enrollmentIds: string[]): Promise<unknown>;
  /**
   * Bulk form: stores the commands and queues each for the enrollments `targets` (a SELECT of
   * `id`, `command_uuid`) yields, in one INSERT ... SELECT. Without it the manager enqueues per
   * command with enrollment lists.
   */
  enqueueMany?(
    cmds: { commandUuid: string; requestType: string; plist: Buffer; subtype?: string }[],
    targets: RawBuilder<unknown>,
    trx: Transaction<DB>,
  ): Promise<void>;
}

export interface ProfileManagerOptions {
  /** Hosts per window of the cursor walk. */
  batchHosts: number;
  /** Time one tick may spend before it stops at the next window boundary. */
  tickBudgetMs: number;
  /**
   * How often the full level-triggered sweep (every host against every definition) runs. Between
   * sweeps a tick only handles rows marked pending by the immediate-pending path (status NULL),
   * which every scope change writes, so an idle tick costs a few index reads at any fleet size.
   */
  sweepIntervalSeconds: number;
  /** Re-sends after the first attempt before a profile is marked failed. */
  maxRetries: number;
  /** Ask each host for its ProfileList at least this often. */
  verifyIntervalSeconds: number;
  /** A profile missing from a ProfileList counts only if acknowledged this long before the list was asked. */
  verifyGraceSeconds: number;
  /** Hosts asked for a ProfileList per tick. */
  verifyHostsPerTick: number;
}

/** What turns a profile into the commands a host gets: signing, variables and channels. */
export interface ProfileDeliveryDeps {
  signer: ProfileSigner;
  variables: ProfileVariableExpander;
  channels: AppleChannelStore;
}

/** Fleet waits this long after a Mac enrolled for its user channel before failing user-scope profiles. */
export const userChannelWaitMs = 2 * 3600 * 1000;

/** Fleet's texts for a user-scope profile on a host without a user channel. */
export const noUserChannelDetail =
  "This setting couldn't be enforced because the user channel doesn't exist for this host. Currently, Fleet creates the user channel for hosts that automatically enroll.";
export const mobileUserChannelDetail =
  "This setting couldn't be enforced because the user channel isn't available on iOS and iPadOS hosts.";

const isMobile = (platform: string) => platform === 'ios' || platform === 'ipados';

/** Commands and row outcomes for the installs of one profile that do not share one command. */
interface HostSpecificPlan {
  deliveries: { cmd: InstallCommand; targets: { i: InstallCandidate; enrollmentId: string }[] }[];
  failed: { i: InstallCandidate; detail: string }[];
  /** User-scope installs waiting for the host's user channel (rows stay status NULL). */
  waiting: InstallCandidate[];
  perHost: boolean;
}

export interface PassStats {
  installs: number;
  removals: number;
  commands: number;
  windows: number;
  done: boolean;
}

const CURSOR_PROFILES = 'apple_profiles';
const CURSOR_DECLARATIONS = 'apple_declarations';
/** State row holding when the sweep of one kind last reached the end of the hosts. */
const sweepDoneKey = (cursorName: string) => `${cursorName}_sweep_done_at`;

type Step = (scope: ReconcileScope) => Promise<{ installs: number; removals: number; commands: number }>;

/**
 * The profile manager: level-triggered reconciliation of Apple profiles and declarations. A tick
 * first handles the pairs marked pending by scope changes (status NULL rows, found through the
 * definition/status index), then, when due, continues the full sweep that walks hosts in windows
 * (cursor kept in the database, bounded work per tick). Either way SQL computes the pairs to
 * install and remove, status rows and queue rows are written in one transaction with ONE command
 * per profile shared by all target hosts, then hosts are pushed.
 */
export class ProfileManager {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly reconcile: ReconcileStore,
    private readonly statuses: HostStatusStore,
    private readonly ports: AppleCommandPorts,
    private readonly delivery: ProfileDeliveryDeps,
    private readonly opts: ProfileManagerOptions,
    private readonly logger?: Logger,
  ) {}

  /** The cron job: one bounded tick of profiles, declarations and verification. */
  async tick(): Promise<{ profiles: PassStats; declarations: PassStats; verificationHosts: number }> {
    const deadline = Date.now() + this.opts.tickBudgetMs;
    const profiles = await this.pass(
      appleProfileTables,
      CURSOR_PROFILES,
      (s) => this.reconcileAppleProfiles(s),
      deadline,
      false,
    );
    const declarations = await this.pass(
      appleDeclarationTables,
      CURSOR_DECLARATIONS,
      (s) => this.reconcileDeclarations(s),
      deadline,
      false,
    );
    const verificationHosts = await this.requestVerification();
    return { profiles, declarations, verificationHosts };
  }

  /** Runs full sweeps until one finds nothing left (tests and benchmarks). */
  async runUntilIdle(maxTicks = 1000): Promise<void> {
    for (let i = 0; i < maxTicks; i++) {
      const a = await this.pass(
        appleProfileTables,
        CURSOR_PROFILES,
        (s) => this.reconcileAppleProfiles(s),
        Infinity,
        true,
      );
      const b = await this.pass(
        appleDeclarationTables,
        CURSOR_DECLARATIONS,
        (s) => this.reconcileDeclarations(s),
        Infinity,
        true,
      );
      if (a.done && b.done && a.installs + a.removals + b.installs + b.removals === 0) return;
    }
  }

  /** Pending rows first, then the sweep when it is due (or `forceSweep`). */
  private async pass(
    t: EntityTables,
    cursorName: string,
    step: Step,
    deadline: number,
    forceSweep: boolean,
  ): Promise<PassStats> {
    const stats: PassStats = { installs: 0, removals: 0, commands: 0, windows: 0, done: false };
    const add = (r: { installs: number; removals: number; commands: number }) => {
      stats.installs += r.installs;
      stats.removals += r.removals;
      stats.commands += r.commands;
    };
    const dirtyDone = await this.pendingRows(t, step, deadline, add);
    if (!dirtyDone) return stats;
    if (!forceSweep && !(await this.sweepDue(cursorName))) {
      stats.done = true;
      return stats;
    }
    const labeled = await this.reconcile.labeledDefinitions(t);
    stats.done = await this.walk(
      cursorName,
      (scope) => step({ ...scope, labeled }),
      deadline,
      (r) => {
        add(r);
        stats.windows++;
      },
    );
    return stats;
  }

  /**
   * Handles hosts with rows marked "decided, not yet queued", one definition at a time and in
   * batches of hosts, with every definition that is pending or shares an identifier with one in
   * scope. Returns false when the deadline stopped it.
   */
  private async pendingRows(
    t: EntityTables,
    step: Step,
    deadline: number,
    add: (r: { installs: number; removals: number; commands: number }) => void,
  ): Promise<boolean> {
    const dirty = await this.reconcile.dirtyDefinitions(t);
    if (dirty.length === 0) return true;
    const defUuids = [...new Set([...dirty, ...(await this.reconcile.sameIdentifierDefinitions(t, dirty))])];
    const labeled = await this.reconcile.labeledDefinitions(t);
    for (const def of dirty) {
      let after = '';
      for (;;) {
        const batches: number[][] = [];
        while (batches.length < this.parallelWindows) {
          const uuids = await this.reconcile.dirtyHostUuids(t, def, after, this.opts.batchHosts);
          if (uuids.length === 0) break;
          batches.push(await this.reconcile.hostIdsOf(uuids));
          after = uuids[uuids.length - 1];
        }
        if (batches.length === 0) break;
        const steps = batches
          .filter((ids) => ids.length)
          .map((hostIds) => () => step({ hostIds, defUuids, labeled }));
        for (const r of await this.concurrently(steps)) add(r);
        if (Date.now() >= deadline) return false;
      }
    }
    return true;
  }

  private async sweepDue(cursorName: string): Promise<boolean> {
    if ((await this.reconcile.getCursor(cursorName)) !== 0) return true; // a sweep is under way
    const done = await this.reconcile.getState(sweepDoneKey(cursorName));
    return !done || done.value < dbNow(-this.opts.sweepIntervalSeconds * 1000);
  }

  /**
   * Continues the sweep from its cursor until the end of the hosts (true) or the deadline (false).
   * On MySQL two windows run at once on two connections (the work is SQL writes: the server can
   * use a core per statement); their hosts are disjoint, so they touch disjoint rows.
   */
  private async walk(
    cursorName: string,
    step: Step,
    deadline: number,
    onWindow: (r: { installs: number; removals: number; commands: number }) => void,
  ): Promise<boolean> {
    let cursor = await this.reconcile.getCursor(cursorName);
    let done = false;
    for (;;) {
      const windows: { lo: number; hi: number }[] = [];
      for (let after = cursor; windows.length < this.parallelWindows;) {
        const window = await this.reconcile.nextHostWindow(after, this.opts.batchHosts);
        if (!window) break;
        windows.push(window);
        after = window.hi;
      }
      if (windows.length === 0) {
        cursor = 0;
        done = true;
        break;
      }
      for (const r of await this.concurrently(windows.map((window) => () => step({ window })))) onWindow(r);
      cursor = windows[windows.length - 1].hi;
      if (Date.now() >= deadline) break;
    }
    const now = dbNow();
    await this.reconcile.setCursor(cursorName, cursor, now);
    if (done) await this.reconcile.setState(sweepDoneKey(cursorName), now, now);
    return done;
  }

  /**
   * The transaction of one window's writes. READ COMMITTED: the INSERT ... SELECT statements then
   * read their source without locking it and take no gap locks, so two windows writing next to
   * each other in the same indexes do not wait for (or deadlock with) each other. Every row they
   * write is decided by the SELECT itself, so no read needs repeating within the transaction.
   */
  private windowTransaction() {
    return this.db.transaction().setIsolationLevel('read committed');
  }

  /** How many windows run at once: two on MySQL, one on SQLite (one writer at a time). */
  private get parallelWindows(): number {
    return dialectOf(this.db) === 'mysql' ? 2 : 1;
  }

  /**
   * Runs the steps at once and returns their results in order. A step that lost a deadlock runs
   * again on its own once the others are done (each step is one transaction, so nothing of it
   * was kept); any other failure is thrown after every step has settled.
   */
  private async concurrently<T>(steps: (() => Promise<T>)[]): Promise<T[]> {
    const settled = await Promise.allSettled(steps.map((s) => s()));
    const out: T[] = [];
    for (let i = 0; i < settled.length; i++) {
      const r = settled[i];
      if (r.status === 'fulfilled') out.push(r.value);
      else if (isDeadlock(r.reason)) out.push(await steps[i]());
      else throw r.reason;
    }
    return out;
  }

  /** Marks pairs affected by a scope change as pending at once (before the cron sends anything). */
  async markPending(scope: {
    hostIds?: number[];
    profileUuids?: string[];
    newDefinitions?: boolean;
  }): Promise<void> {
    const now = dbNow();
    const apple = scope.profileUuids?.filter((u) => u.startsWith('a'));
    const decl = scope.profileUuids?.filter((u) => u.startsWith('d'));
    const hostChunks = scope.hostIds ? chunk(scope.hostIds, 900) : [undefined];
    const labeledProfiles = await this.reconcile.labeledDefinitions(appleProfileTables);
    const labeledDeclarations = await this.reconcile.labeledDefinitions(appleDeclarationTables);
    for (const hostIds of hostChunks) {
      await this.db.transaction().execute(async (trx) => {
        if (!apple || apple.length) {
          const s: ReconcileScope = { hostIds, defUuids: apple, labeled: labeledProfiles };
          await this.reconcile.markInstallsPending(appleProfileTables, s, now, trx);
          // A definition created just now is on no host yet: nothing to remove.
          if (!scope.newDefinitions)
            await this.reconcile.markRemovalsPending(appleProfileTables, s, now, trx);
        }
        if (!decl || decl.length) {
          const s: ReconcileScope = { hostIds, defUuids: decl, labeled: labeledDeclarations };
          await this.reconcile.markInstallsPending(appleDeclarationTables, s, now, trx);
          if (!scope.newDefinitions)
            await this.reconcile.markRemovalsPending(appleDeclarationTables, s, now, trx);
        }
      });
    }
  }

  /**
   * Reconciles Apple configuration profiles for one scope (a window of hosts, or given hosts).
   * Profiles shared as they are (the common case) get one command per profile for every host;
   * those with `$FLEET_VAR_*` one command per host, filled when queued; user-scope ones go down
   * each host's user channel. Payloads are signed when queued, except profiles holding secret
   * placeholders, which are filled and signed at delivery.
   */
  async reconcileAppleProfiles(
    scope: ReconcileScope,
  ): Promise<{ installs: number; removals: number; commands: number }> {
    const installs = await this.reconcile.installCandidates(appleProfileTables, scope);
    const removes = await this.reconcile.removeCandidates(appleProfileTables, scope);
    if (installs.length === 0 && removes.length === 0) return { installs: 0, removals: 0, commands: 0 };
    const now = dbNow();

    // Same identifier leaving and arriving on a host (team move, re-upload under a new UUID): the
    // install replaces it on the device, so no RemoveProfile is sent; identical content is not re-sent.
    const removeByIdent = new Map<string, RemoveCandidate>();
    for (const r of removes)
      if (r.cur_op === 'install') removeByIdent.set(`${r.host_uuid}\n${r.identifier}`, r);
    const cleanup: RemoveCandidate[] = [];
    const toInstall: InstallCandidate[] = [];
    const copies: HostProfileWrite[] = [];
    const paired = new Set<RemoveCandidate>();
    const oldContent = await this.checksumsOf(removes);
    for (const i of installs) {
      const r = removeByIdent.get(`${i.host_uuid}\n${i.identifier}`);
      if (r && r.def_uuid !== i.def_uuid) {
        paired.add(r);
        cleanup.push(r);
        const old = oldContent.get(`${r.host_uuid}\n${r.def_uuid}`);
        if (old && old.checksum === i.content && old.status && old.status !== 'failed') {
          copies.push(
            this.installRow(i, { status: old.status, command_uuid: old.command_uuid, retries: 0 }, now),
          );
          continue;
        }
      }
      toInstall.push(i);
    }
    const toRemove: RemoveCandidate[] = [];
    for (const r of removes) {
      if (paired.has(r)) continue;
      const neverSent = !r.cur_command;
      if (
        (r.cur_op === 'install' && (r.cur_status === 'failed' || neverSent)) ||
        (r.cur_op === 'remove' && neverSent)
      ) {
        cleanup.push(r);
      } else {
        toRemove.push(r);
      }
    }

    // User-scope removals go down the user channel; without one there is nothing to remove from.
    const removeEnrollment = new Map<RemoveCandidate, string>();
    const userRemovals = toRemove.filter((r) => r.cur_scope === 'User');
    const userChannels = userRemovals.length
      ? await this.delivery.channels.userEnrollments([...new Set(userRemovals.map((r) => r.host_uuid))])
      : new Map<string, string>();
    for (const r of userRemovals) {
      const id = userChannels.get(r.host_uuid);
      if (id) removeEnrollment.set(r, id);
    }
    const removable: RemoveCandidate[] = [];
    for (const r of toRemove) {
      if (r.cur_scope !== 'User' || removeEnrollment.has(r)) removable.push(r);
      else cleanup.push(r);
    }

    const installGroups = groupBy(toInstall, (i) => i.def_uuid);
    const removeGroups = groupBy(removable, (r) => r.def_uuid);
    const bytes = await this.mobileconfigs([...installGroups.keys()]);
    const deliveries = new Map<string, ProfileDelivery>();
    for (const [defUuid, group] of installGroups) {
      const profile = bytes.get(defUuid);
      if (profile) deliveries.set(defUuid, deliveryOf(profile, group[0].scope));
    }
    // Commands are built (filled, signed) before the transaction, which then only writes.
    const sharedCommands = new Map<string, InstallCommand>();
    const hostSpecific = new Map<string, HostSpecificPlan>();
    for (const [defUuid, group] of installGroups) {
      const profile = bytes.get(defUuid);
      const d = deliveries.get(defUuid);
      if (!profile || !d) continue; // deleted since the query; the next tick settles it
      if (isShared(d))
        sharedCommands.set(defUuid, await installProfileCommand(this.delivery.signer, profile, d.secrets));
      else hostSpecific.set(defUuid, await this.planHostSpecific(defUuid, group, profile, d));
    }
    const pushIds = new Set<string>();
    let commands = 0;
    let waiting = 0;

    await this.windowTransaction().execute(async (trx) => {
      await this.statuses.deleteProfileRows(
        cleanup.map((c) => ({ host_uuid: c.host_uuid, def_uuid: c.def_uuid })),
        trx,
      );
      if (copies.length) await this.statuses.upsertProfileRows(copies, trx);
      const superseded: { command: string; enrollment: string }[] = [];
      // Bulk path (the common case: no install was turned into a copy, so every candidate of the
      // scope is sent): status rows and queue rows of the shared profiles are written by
      // INSERT ... SELECT in SQL.
      if (copies.length === 0 && this.ports.enqueueMany && sharedCommands.size) {
        const commandOf = new Map<string, string>();
        for (const [defUuid, cmd] of sharedCommands) {
          commandOf.set(defUuid, cmd.commandUuid);
          for (const i of installGroups.get(defUuid) ?? []) {
            if (i.cur_command && (i.cur_status === 'pending' || i.cur_status === null)) {
              superseded.push({ command: i.cur_command, enrollment: i.enrollment_id });
            }
            pushIds.add(i.enrollment_id);
          }
        }
        await this.reconcile.writeInstallsQueued(appleProfileTables, scope, commandOf, now, trx);
        await this.supersede(superseded.splice(0), trx);
        await this.ports.enqueueMany(
          [...sharedCommands.values()],
          this.reconcile.queueTargetsOf(appleProfileTables, scope, commandOf),
          trx,
        );
        commands += sharedCommands.size;
        sharedCommands.clear();
      }
      for (const [defUuid, cmd] of sharedCommands) {
        const group = installGroups.get(defUuid) ?? [];
        const rows = group.map((i) => {
          this.collectSuperseded(i, [i.enrollment_id], superseded);
          return this.installRow(
            i,
            { status: 'pending', command_uuid: cmd.commandUuid, retries: retriesKept(i) },
            now,
          );
        });
        await this.statuses.upsertProfileRows(rows, trx);
        await this.supersede(superseded.splice(0), trx);
        await this.ports.enqueue(
          group.map((i) => i.enrollment_id),
          cmd,
          trx,
        );
        group.forEach((i) => pushIds.add(i.enrollment_id));
        commands++;
      }
      for (const plan of hostSpecific.values()) {
        const rows: HostProfileWrite[] = [];
        const variablesAt = plan.perHost ? now : null;
        for (const { cmd, targets } of plan.deliveries) {
          for (const { i, enrollmentId } of targets) {
            this.collectSuperseded(i, [i.enrollment_id, enrollmentId], superseded);
            rows.push(
              this.installRow(
                i,
                { status: 'pending', command_uuid: cmd.commandUuid, retries: retriesKept(i) },
                now,
                { variablesUpdatedAt: variablesAt },
              ),
            );
          }
        }
        for (const { i, detail } of plan.failed) {
          this.collectSuperseded(i, [i.enrollment_id], superseded);
          rows.push(
            this.installRow(i, { status: 'failed', command_uuid: '', retries: 0 }, now, {
              detail,
              variablesUpdatedAt: variablesAt,
            }),
          );
        }
        for (const i of plan.waiting) {
          this.collectSuperseded(i, [i.enrollment_id], superseded);
          rows.push(this.installRow(i, { status: null, command_uuid: '', retries: retriesKept(i) }, now));
        }
        waiting += plan.waiting.length;
        await this.statuses.upsertProfileRows(rows, trx);
        await this.supersede(superseded.splice(0), trx);
        for (const { cmd, targets } of plan.deliveries) {
          const ids = targets.map((t) => t.enrollmentId);
          await this.ports.enqueue(ids, cmd, trx);
          ids.forEach((id) => pushIds.add(id));
          commands++;
        }
      }
      for (const [defUuid, group] of removeGroups) {
        const cmd = buildCommandPlist(
          'RemoveProfile',
          { Identifier: group[0].identifier },
          randomUUID().toUpperCase(),
        );
        const target = (r: RemoveCandidate) => removeEnrollment.get(r) ?? r.enrollment_id;
        for (const r of group) {
          if (r.cur_command && (r.cur_status === 'pending' || r.cur_status === null)) {
            superseded.push({ command: r.cur_command, enrollment: target(r) });
          }
        }
        await this.supersede(superseded.splice(0), trx);
        // A removal of something that may never have arrived swallows "not installed" errors.
        const byIgnore = groupBy(group, (r) =>
          r.cur_op === 'install'
            ? r.cur_status === 'verified' || r.cur_status === 'verifying'
              ? 0
              : 1
            : Number(r.cur_ignore_error ?? 0),
        );
        for (const [ignore, list] of byIgnore) {
          await this.statuses.markRemovalsSent(
            defUuid,
            list.map((r) => r.host_uuid),
            cmd.commandUuid,
            ignore,
            now,
            trx,
          );
        }
        await this.ports.enqueue(
          group.map(target),
          { commandUuid: cmd.commandUuid, requestType: 'RemoveProfile', plist: cmd.plist },
          trx,
        );
        group.forEach((r) => pushIds.add(target(r)));
        commands++;
      }
    });
    await this.pushQuietly([...pushIds]);
    return {
      // Installs waiting for a user channel are not progress (a loop until idle must not spin on them).
      installs: toInstall.length - waiting + copies.length,
      removals: removable.length + cleanup.length,
      commands,
    };
  }

  /**
   * The installs of one profile that are not one shared command: user-scope ones routed to each
   * host's user channel (waiting for it, or failed without it, with Fleet's rules and texts), and
   * profiles with `$FLEET_VAR_*` filled for each host (a host whose value cannot be filled fails
   * with the expander's text and gets nothing).
   */
  private async planHostSpecific(
    defUuid: string,
    group: InstallCandidate[],
    profile: Buffer,
    d: ProfileDelivery,
  ): Promise<HostSpecificPlan> {
    const plan: HostSpecificPlan = { deliveries: [], failed: [], waiting: [], perHost: d.perHost };
    const channel = new Map<string, string>();
    let ready: InstallCandidate[] = [];
    if (d.userScope) {
      const users = await this.delivery.channels.userEnrollments(group.map((i) => i.host_uuid));
      const without = group.filter((i) => !users.has(i.host_uuid) && !isMobile(i.platform));
      const enrolledAt = without.length
        ? await this.delivery.channels.deviceEnrolledAt(without.map((i) => i.host_uuid))
        : new Map<string, string>();
      for (const i of group) {
        const user = users.get(i.host_uuid);
        if (user) {
          channel.set(i.host_uuid, user);
          ready.push(i);
        } else if (isMobile(i.platform)) {
          plan.failed.push({ i, detail: mobileUserChannelDetail });
        } else if (
          Date.now() - (fromDbTime(enrolledAt.get(i.host_uuid))?.getTime() ?? 0) <
          userChannelWaitMs
        ) {
          plan.waiting.push(i);
        } else {
          this.logger?.warn(
            { hostUuid: i.host_uuid, profileUuid: defUuid },
            'host has no user channel; user-scope profile failed',
          );
          plan.failed.push({ i, detail: noUserChannelDetail });
        }
      }
    } else {
      ready = group;
      for (const i of group) channel.set(i.host_uuid, i.enrollment_id);
    }
    if (ready.length === 0) return plan;
    const signer = this.delivery.signer;
    if (!d.perHost) {
      const cmd = await installProfileCommand(signer, profile, d.secrets);
      plan.deliveries.push({
        cmd,
        targets: ready.map((i) => ({ i, enrollmentId: channel.get(i.host_uuid)! })),
      });
      return plan;
    }
    const filled = await this.delivery.variables.expandForHosts(
      defUuid,
      profile.toString('utf8'),
      ready.map((i) => ({ hostUuid: i.host_uuid, hostId: i.host_id, platform: i.platform })),
      'xml',
    );
    for (const i of ready) {
      const e = filled.get(i.host_uuid) ?? {
        ok: false,
        detail: "Fleet couldn't populate the profile's variables.",
      };
      if (!e.ok) {
        plan.failed.push({ i, detail: e.detail });
        continue;
      }
      const cmd = await installProfileCommand(signer, Buffer.from(e.text, 'utf8'), d.secrets);
      plan.deliveries.push({ cmd, targets: [{ i, enrollmentId: channel.get(i.host_uuid)! }] });
    }
    return plan;
  }

  /** The host's previous command, if still unanswered, leaves the queues it may sit in. */
  private collectSuperseded(
    i: InstallCandidate,
    enrollmentIds: string[],
    into: { command: string; enrollment: string }[],
  ): void {
    if (!i.cur_command || (i.cur_status !== 'pending' && i.cur_status !== null)) return;
    for (const enrollment of new Set(enrollmentIds)) into.push({ command: i.cur_command, enrollment });
  }

  /**
   * Reconciles declarations: rows go pending with the new token (installs) or as removals, and
   * every host whose set changed gets one shared DeclarativeManagement command to sync.
   */
  async reconcileDeclarations(
    scope: ReconcileScope,
  ): Promise<{ installs: number; removals: number; commands: number }> {
    const installs = await this.reconcile.installCandidates(appleDeclarationTables, scope);
    const removes = await this.reconcile.removeCandidates(appleDeclarationTables, scope);
    if (installs.length === 0 && removes.length === 0) return { installs: 0, removals: 0, commands: 0 };
    const now = dbNow();
    const rows: HostDeclarationWrite[] = installs.map((i) => ({
      host_uuid: i.host_uuid,
      declaration_uuid: i.def_uuid,
      declaration_identifier: i.identifier,
      declaration_name: i.name,
      status: 'pending',
      operation_type: 'install',
      detail: null,
      token: i.content,
      scope: i.scope,
      secrets_updated_at: i.secrets_updated_at,
      created_at: now,
      updated_at: now,
    }));
    const enrollmentIds = [...new Set([...installs, ...removes].map((x) => x.enrollment_id))];
    const cmd = buildCommandPlist('DeclarativeManagement', {}, randomUUID().toUpperCase());
    await this.windowTransaction().execute(async (trx) => {
      await this.statuses.upsertDeclarationRows(rows, trx);
      for (const [defUuid, list] of groupBy(removes, (r) => r.def_uuid)) {
        for (const part of chunk(list, 500)) {
          await trx
            .updateTable('host_mdm_apple_declarations')
            .set({ operation_type: 'remove', status: 'pending', updated_at: now })
            .where('declaration_uuid', '=', defUuid)
            .where(
              'host_uuid',
              'in',
              part.map((r) => r.host_uuid),
            )
            .execute();
        }
      }
      await this.ports.enqueue(
        enrollmentIds,
        { commandUuid: cmd.commandUuid, requestType: 'DeclarativeManagement', plist: cmd.plist },
        trx,
      );
    });
    await this.pushQuietly(enrollmentIds);
    return { installs: installs.length, removals: removes.length, commands: 1 };
  }

  /** Asks hosts for their ProfileList (after installs and periodically) with one shared command. */
  async requestVerification(): Promise<number> {
    const now = Date.now();
    const hosts = await this.statuses.hostsDueVerification({
      olderThan: dbNow(-this.opts.verifyIntervalSeconds * 1000),
      outstandingSince: dbNow(-Math.max(60, Math.min(this.opts.verifyIntervalSeconds, 600)) * 1000),
      limit: this.opts.verifyHostsPerTick,
    });
    if (hosts.length === 0) return 0;
    const cmd = buildCommandPlist('ProfileList', { ManagedOnly: true }, randomUUID().toUpperCase());
    const requestedAt = dbNow();
    // User-scope profiles are listed by the user channel: the same command is asked there too.
    const userChannels = await this.statuses.userChannelsToVerify(hosts.map((h) => h.host_uuid));
    const enrollments = [...hosts.map((h) => h.enrollment_id), ...userChannels];
    await this.db.transaction().execute(async (trx) => {
      await this.statuses.recordChecksRequested(
        hosts.map((h) => h.host_uuid),
        cmd.commandUuid,
        requestedAt,
        trx,
      );
      await this.ports.enqueue(
        enrollments,
        { commandUuid: cmd.commandUuid, requestType: 'ProfileList', plist: cmd.plist },
        trx,
      );
    });
    await this.pushQuietly(enrollments);
    this.logger?.debug({ hosts: hosts.length, ms: Date.now() - now }, 'profile verification requested');
    return hosts.length;
  }

  private installRow(
    i: InstallCandidate,
    s: { status: string | null; command_uuid: string; retries: number },
    now: string,
    extra: { detail?: string; variablesUpdatedAt?: string | null } = {},
  ): HostProfileWrite {
    return {
      host_uuid: i.host_uuid,
      profile_uuid: i.def_uuid,
      profile_identifier: i.identifier,
      profile_name: i.name,
      status: s.status,
      operation_type: 'install',
      detail: extra.detail ?? null,
      command_uuid: s.command_uuid,
      checksum: i.content,
      retries: s.retries,
      ignore_error: 0,
      scope: i.scope,
      secrets_updated_at: i.secrets_updated_at,
      variables_updated_at: extra.variablesUpdatedAt ?? null,
      created_at: now,
      updated_at: now,
    };
  }

  private async supersede(
    list: { command: string; enrollment: string }[],
    trx: Transaction<DB>,
  ): Promise<void> {
    for (const [command, items] of groupBy(list, (x) => x.command)) {
      await this.statuses.deactivateQueued(
        command,
        items.map((x) => x.enrollment),
        trx,
      );
    }
  }

  private async checksumsOf(removes: RemoveCandidate[]) {
    const out = new Map<string, { checksum: string; status: string | null; command_uuid: string }>();
    const installs = removes.filter((r) => r.cur_op === 'install');
    for (const [def, list] of groupBy(installs, (r) => r.def_uuid)) {
      for (const part of chunk(list, 500)) {
        const rows = await this.db
          .selectFrom('host_mdm_apple_profiles')
          .select(['host_uuid', 'checksum', 'status', 'command_uuid'])
          .where('profile_uuid', '=', def)
          .where(
            'host_uuid',
            'in',
            part.map((r) => r.host_uuid),
          )
          .execute();
        for (const r of rows) out.set(`${r.host_uuid}\n${def}`, r);
      }
    }
    return out;
  }

  private async mobileconfigs(uuids: string[]): Promise<Map<string, Buffer>> {
    if (uuids.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('mdm_apple_configuration_profiles')
      .select(['profile_uuid', 'mobileconfig'])
      .where('profile_uuid', 'in', uuids)
      .execute();
    return new Map(rows.map((r) => [r.profile_uuid, Buffer.from(r.mobileconfig)]));
  }

  private async pushQuietly(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    try {
      await this.ports.push(ids);
    } catch (err) {
      // The commands are queued; the device fetches them at its next check-in or a later push.
      this.logger?.warn({ err, enrollments: ids.length }, 'push after enqueue failed');
    }
  }
}

/** MySQL's "Deadlock found when trying to get lock" (the transaction was rolled back). */
function isDeadlock(err: unknown): boolean {
  return (err as { errno?: number } | null)?.errno === 1213;
}

/** A re-send of the same content keeps the retry count; new content starts again. */
function retriesKept(i: InstallCandidate): number {
  const sameContent = i.cur_exists && i.cur_op === 'install' && i.cur_content === i.content;
  return sameContent ? (i.cur_retries ?? 0) : 0;
}

export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
