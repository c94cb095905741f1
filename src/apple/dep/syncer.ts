import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfigService } from '../../appconfig/service.js';
import { DepError, type DepClient } from '../../clients/dep/client.js';
import type { DepAssignResponse, DepDevice } from '../../clients/dep/types.js';
import type { SecretBox } from '../../crypto/secretbox.js';
import { dbNow, fromDbTime, toDbTime } from '../../db/dialect.js';
import { notFound } from '../../http/errors.js';
import type { DB } from '../../db/schema.js';
import type { HostStore } from '../../hosts/store.js';
import { isPendingPlaceholder, type DepAssignmentStore, type SerialHost } from './assignmentStore.js';
import type { DepClientPool } from './clientPool.js';
import {
  bucketDevices,
  defaultTeamFor,
  DepPageError,
  parseDevicePage,
  platformOfFamily,
  type DefaultTeams,
} from './devices.js';
import { joinUrl, mdmPath, type DepProfileService, type EffectiveProfile } from './profiles.js';
import type { ServerTokenCredentials } from './serverToken.js';
import type { AbmTokenRow, AbmTokenStore } from './tokenStore.js';

export interface DepSyncOptions {
  /** Devices per fetch/sync page (Apple's maximum is 1000; Fleet uses 200). */
  pageLimit: number;
  /** Serials per assign-profile call. */
  assignBatch: number;
  /** Pages one token may read in one run before the run stops (a runaway guard). */
  maxPagesPerRun: number;
  /** Cooled-down assignments retried per token per run. */
  cooldownBatch: number;
  /** How long a FAILED assignment waits before it is retried. */
  failedCooldownSeconds: number;
  /** How long a THROTTLED assignment waits when Apple gives no retry_after_seconds. */
  throttledCooldownSeconds: number;
}

export const defaultDepSyncOptions: DepSyncOptions = {
  pageLimit: 1000,
  assignBatch: 1000,
  maxPagesPerRun: 5000,
  cooldownBatch: 5000,
  failedCooldownSeconds: 3600,
  throttledCooldownSeconds: 24 * 3600,
};

/** What one token's run did. */
export interface TokenSyncResult {
  tokenId: number;
  orgName: string;
  ok: boolean;
  error?: string;
  /** Apple's verdict on the token in this run, as the flags record it. */
  outcome: 'none' | 'ok' | 'terms_not_signed' | 'token_rejected';
  pages: number;
  devices: number;
  hostsCreated: number;
  hostsDeleted: number;
  /** Assignment answers by response (SUCCESS, FAILED, ...), cooldown retries included. */
  assigned: Record<string, number>;
  /** Serials skipped because they are on cooldown. */
  cooledDown: number;
  /** Full fetches started because the cursor was invalid, expired or stopped advancing. */
  cursorResets: number;
}

interface Run {
  token: AbmTokenRow;
  client: DepClient;
  teams: DefaultTeams;
  profiles: Map<string, EffectiveProfile>;
  mdmServerUrl?: string;
  result: TokenSyncResult;
}

/** An item to assign: a serial and every host row carrying it. */
interface AssignItem {
  serial: string;
  hostIds: number[];
}

const teamKey = (teamId: number | null) => (teamId === null ? 'none' : String(teamId));

/** Whether an assignment's last answer still holds it back (FAILED 1 h, THROTTLED ~24 h). */
export function onCooldown(
  dep: Pick<
    NonNullable<SerialHost['dep']>,
    'assign_profile_response' | 'response_updated_at' | 'retry_after_seconds'
  > & { retry_job_id?: number; deleted_at?: string | null },
  nowMs: number,
  opts: Pick<DepSyncOptions, 'failedCooldownSeconds' | 'throttledCooldownSeconds'>,
): boolean {
  if (dep.deleted_at) return false;
  if (dep.retry_job_id) return true;
  const at = fromDbTime(dep.response_updated_at)?.getTime();
  if (at === undefined) return false;
  if (dep.assign_profile_response === 'FAILED') return nowMs < at + opts.failedCooldownSeconds * 1000;
  if (dep.assign_profile_response === 'THROTTLED') {
    return nowMs < at + (dep.retry_after_seconds ?? opts.throttledCooldownSeconds) * 1000;
  }
  return false;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = out.get(k);
    if (list) list.push(it);
    else out.set(k, [it]);
  }
  return out;
}

function deadlineOf(d: DepDevice): string | null {
  if (!d.mdm_migration_deadline) return null;
  const t = Date.parse(d.mdm_migration_deadline);
  return Number.isNaN(t) ? null : toDbTime(new Date(t));
}

/**
 * Fleet's DEP syncer (`apple_mdm_dep_profile_assigner`): for every ABM token independently, keeps
 * the teams' ADE profiles defined with Apple, reads the devices Apple assigned to this server
 * (fetch, then sync from the stored cursor), turns them into pending hosts, assigns profiles with
 * per-serial results and cooldowns, and records Apple's verdict on the token. A token that fails
 * (expired, terms not accepted, revoked, Apple down) is recorded on its row and the others go on.
 */
export class DepSyncService {
  private readonly opts: DepSyncOptions;

  constructor(
    private readonly deps: {
      db: Kysely<DB>;
      tokens: AbmTokenStore;
      assignments: DepAssignmentStore;
      hosts: HostStore;
      profiles: DepProfileService;
      clients: DepClientPool;
      box: SecretBox;
      appConfig: AppConfigService;
      logger: Logger;
    },
    opts: Partial<DepSyncOptions> = {},
  ) {
    this.opts = { ...defaultDepSyncOptions, ...opts };
  }

  /** One run for every token; never throws for a token's failure (see each result). */
  async syncAll(): Promise<TokenSyncResult[]> {
    const tokens = await this.deps.tokens.list();
    const results: TokenSyncResult[] = [];
    for (const t of tokens) results.push(await this.syncToken(t.id));
    await this.refreshTermsFlag();
    return results;
  }

  /** The cron job: runs every token, then fails the run (cron_stats errors) if any token failed. */
  async runCron(): Promise<void> {
    const failed = (await this.syncAll()).filter((r) => !r.ok);
    if (failed.length) {
      throw new Error(failed.map((r) => `ABM token ${r.tokenId} (${r.orgName}): ${r.error}`).join('; '));
    }
  }

  /**
   * Admin resync (Fleet has no endpoint for it; NanoDEP's way is clearing the cursor): the next run
   * fetches every device again and re-checks every assignment.
   */
  /** An admin's resync of one token: 404 when it does not exist. */
  async requestTokenResync(tokenId: number): Promise<void> {
    const row = await this.deps.tokens.getById(tokenId);
    if (!row) throw notFound('ABMToken');
    await this.deps.tokens.clearCursors(row.organization_name);
  }

  async requestFullResync(tokenId?: number): Promise<void> {
    if (tokenId === undefined) return this.deps.tokens.clearCursors();
    const row = await this.deps.tokens.getById(tokenId);
    if (row) await this.deps.tokens.clearCursors(row.organization_name);
  }

  /** One token's run. */
  async syncToken(tokenId: number): Promise<TokenSyncResult> {
    const { tokens, logger } = this.deps;
    const token = await tokens.getById(tokenId);
    const result: TokenSyncResult = {
      tokenId,
      orgName: token?.organization_name ?? '',
      ok: false,
      outcome: 'none',
      pages: 0,
      devices: 0,
      hostsCreated: 0,
      hostsDeleted: 0,
      assigned: {},
      cooledDown: 0,
      cursorResets: 0,
    };
    if (!token) {
      result.error = 'token not found';
      return result;
    }
    const log = logger.child({ abm_token_id: tokenId, org_name: token.organization_name });
    try {
      const creds = openCredentials(this.deps.box, token.token);
      const state = await tokens.nameState(token.organization_name);
      const run: Run = {
        token,
        client: this.deps.clients.forToken(tokenId, creds, state.configBaseUrl),
        teams: {
          macos: token.macos_default_team_id,
          ios: token.ios_default_team_id,
          ipados: token.ipados_default_team_id,
        },
        profiles: new Map(),
        result,
      };
      try {
        // The default teams' profiles, defined with Apple for this token; a profile defined after
        // the cursor was stored clears it, so every device gets the new profile.
        let latest = '';
        for (const team of new Set([run.teams.macos, run.teams.ios, run.teams.ipados])) {
          const p = await this.profileFor(run, team);
          if (p.definedAt > latest) latest = p.definedAt;
        }
        await tokens.setAssignerProfile(
          token.organization_name,
          (await this.profileFor(run, run.teams.macos)).profileUuid,
        );
        let cursor = state.cursor;
        if (cursor && state.cursorAt && latest > state.cursorAt) {
          log.info('ADE profile changed since the cursor was stored; fetching every device again');
          await tokens.storeCursor(token.organization_name, null);
          cursor = null;
        }
        await this.syncDevices(run, cursor, log);
        await this.retryCooldowns(run);
        result.ok = true;
      } finally {
        await this.applyOutcome(token.id, result.outcome);
      }
    } catch (err) {
      result.ok = false;
      result.error = describe(err);
      log.warn({ error: result.error, outcome: result.outcome }, 'DEP sync failed for this ABM token');
    }
    if (result.ok) {
      log.info(
        {
          pages: result.pages,
          devices: result.devices,
          hosts_created: result.hostsCreated,
          hosts_deleted: result.hostsDeleted,
          assigned: result.assigned,
          cooled_down: result.cooledDown,
        },
        'DEP sync done',
      );
    }
    return result;
  }

  /** A DEP call that records Apple's verdict on the token (accepted, terms, rejected). */
  private async api<T>(run: Run, call: (c: DepClient) => Promise<T>): Promise<T> {
    try {
      const out = await call(run.client);
      run.result.outcome = 'ok';
      return out;
    } catch (err) {
      if (err instanceof DepError) {
        if (err.termsNotSigned) run.result.outcome = 'terms_not_signed';
        else if (err.tokenRejected) run.result.outcome = 'token_rejected';
        else if (err.status === 400 && err.code) run.result.outcome = 'ok'; // Apple read the request
      }
      throw err;
    }
  }

  private async profileFor(run: Run, teamId: number | null): Promise<EffectiveProfile> {
    const key = teamKey(teamId);
    const have = run.profiles.get(key);
    if (have) return have;
    const p = await this.deps.profiles.ensure(teamId, run.token.id, async (profile) => {
      const res = await this.api(run, (c) => c.defineProfile(profile));
      if (!res || typeof res.profile_uuid !== 'string' || !res.profile_uuid) {
        throw new DepPageError('Apple returned no profile_uuid for the defined profile');
      }
      return res.profile_uuid;
    });
    run.profiles.set(key, p);
    return p;
  }

  /**
   * NanoDEP's loop in run-once mode: start with a fetch from the stored cursor (an exhausted cursor
   * switches to sync), process each page, store the cursor once the page's rows are committed,
   * continue while Apple has more, then sync. An invalid or expired cursor, or one that stops
   * advancing, restarts with a full fetch (twice at most per run).
   */
  private async syncDevices(run: Run, stored: string | null, log: Logger): Promise<void> {
    const org = run.token.organization_name;
    let cursor = stored ?? '';
    let doFetch = true;
    for (let page = 0; ; page++) {
      if (page >= this.opts.maxPagesPerRun) throw new Error(`stopped after ${page} pages in one run`);
      let raw: unknown;
      try {
        raw = doFetch
          ? await this.api(run, (c) =>
              c.fetchDevices({ ...(cursor ? { cursor } : {}), limit: this.opts.pageLimit }),
            )
          : await this.api(run, (c) => c.syncDevices({ cursor, limit: this.opts.pageLimit }));
      } catch (err) {
        if (err instanceof DepError && doFetch && err.cursorExhausted) {
          doFetch = false;
          continue;
        }
        if (err instanceof DepError && err.cursorInvalid && cursor && run.result.cursorResets < 2) {
          log.info({ code: err.code }, 'DEP cursor refused; fetching every device again');
          run.result.cursorResets++;
          cursor = '';
          doFetch = true;
          continue;
        }
        throw err;
      }
      const { page: resp, dropped } = parseDevicePage(raw);
      if (dropped) log.warn({ dropped }, 'DEP page had device records without a usable serial; skipped');
      if (resp.cursor === cursor && resp.more_to_follow) {
        if (run.result.cursorResets >= 2) throw new DepPageError('the DEP cursor does not advance');
        log.warn('DEP cursor did not advance; fetching every device again');
        run.result.cursorResets++;
        cursor = '';
        doFetch = true;
        continue;
      }
      await this.processPage(run, resp.devices);
      run.result.pages++;
      run.result.devices += resp.devices.length;
      if (resp.cursor && resp.cursor !== cursor) {
        await this.deps.tokens.storeCursor(org, resp.cursor);
        cursor = resp.cursor;
      }
      if (resp.more_to_follow) continue;
      if (doFetch && cursor) {
        doFetch = false;
        continue;
      }
      return;
    }
  }

  private async mdmServerUrl(run: Run): Promise<string> {
    run.mdmServerUrl ??= joinUrl(await this.deps.profiles.mdmUrl(), mdmPath);
    return run.mdmServerUrl;
  }

  /**
   * Fleet's processDeviceResponse for one page: the database part (moves between tokens, deletions,
   * placeholder hosts, live assignments) in one transaction, then the assignments with Apple.
   */
  private async processPage(run: Run, devices: DepDevice[]): Promise<void> {
    if (devices.length === 0) return;
    const { assignments, hosts: hostStore } = this.deps;
    const tokenId = run.token.id;
    const b = bucketDevices(devices);
    if (b.unknown.length) {
      this.deps.logger.warn(
        { count: b.unknown.length, op_types: [...new Set(b.unknown.map((d) => d.op_type))] },
        'DEP records with an unknown op_type ignored',
      );
    }
    const serials = [...new Set([...b.added.keys(), ...b.modified.keys(), ...b.deleted.keys()])];
    if (serials.length === 0) return;
    const mdmServerUrl = await this.mdmServerUrl(run);
    const now = dbNow();

    const { added, modifiedWithHosts, previouslyDeleted, afterBySerial, modifiedHosts, created, removed } =
      await this.deps.db.transaction().execute(async (trx) => {
        const before = await assignments.hostsBySerials(serials, trx);
        const bySerial = groupBy(before, (h) => h.hardware_serial);
        const soft = new Set<number>();
        const hard = new Set<number>();
        const drop = (h: SerialHost) => {
          soft.add(h.id);
          if (isPendingPlaceholder(h)) hard.add(h.id);
        };
        // Devices that left this server: soft delete; placeholders that never enrolled go away.
        for (const serial of b.deleted.keys()) {
          for (const h of bySerial.get(serial) ?? []) if (h.dep?.abm_token_id === tokenId) drop(h);
        }
        const remaining = (serial: string) => (bySerial.get(serial) ?? []).filter((h) => !hard.has(h.id));
        // Modified devices we have no host for are new to us (ABM says "modified" when a device
        // moves between MDM servers): treated as added. One record per serial, the latest.
        const modifiedWithHosts = [...b.modified.values()].filter(
          (d) => remaining(d.serial_number).length > 0 && !b.added.has(d.serial_number),
        );
        const addedBySerial = new Map(b.added);
        for (const d of b.modified.values()) {
          if (remaining(d.serial_number).length > 0) continue;
          const have = addedBySerial.get(d.serial_number);
          if (!have || (Date.parse(d.op_date ?? '') || 0) > (Date.parse(have.op_date ?? '') || 0)) {
            addedBySerial.set(d.serial_number, d);
          }
        }
        const added = [...addedBySerial.values()];
        const previouslyDeleted = new Set(
          added
            .filter((d) => (bySerial.get(d.serial_number) ?? []).some((h) => h.dep?.deleted_at))
            .map((d) => d.serial_number),
        );
        // A device that came from another token loses its assignment there.
        for (const d of added) {
          for (const h of remaining(d.serial_number)) {
            if (h.dep && h.dep.abm_token_id !== null && h.dep.abm_token_id !== tokenId) drop(h);
          }
        }
        await assignments.softDelete([...soft], now, trx);
        if (hard.size) {
          await assignments.deleteRows([...hard], trx);
          await hostStore.deleteByIds([...hard], trx);
        }

        // Placeholders for added devices without a host (never a second host for a serial).
        const missing = added.filter((d) => remaining(d.serial_number).length === 0);
        await assignments.insertPlaceholders(
          missing.map((d) => {
            const platform = platformOfFamily(d.device_family);
            return {
              hardware_serial: d.serial_number,
              hardware_model: d.model ?? '',
              platform,
              team_id: defaultTeamFor(run.teams, platform),
            };
          }),
          now,
          trx,
        );
        const beforeIds = new Set(before.map((h) => h.id));
        const after = added.length
          ? await assignments.hostsBySerials(
              added.map((d) => d.serial_number),
              trx,
            )
          : [];
        const createdHosts = after.filter((h) => !beforeIds.has(h.id));
        const withoutMdm = after.filter((h) => h.enrolled === null).map((h) => h.id);
        if (withoutMdm.length) {
          const mdmId = await assignments.mdmSolutionId('Fleet', mdmServerUrl, trx);
          await assignments.insertPendingMdm(withoutMdm, mdmServerUrl, mdmId, trx);
        }
        await assignments.insertBuiltinMemberships(createdHosts, now, trx);

        const deviceOf = new Map<string, DepDevice>([
          ...added.map((d) => [d.serial_number, d] as const),
          ...modifiedWithHosts.map((d) => [d.serial_number, d] as const),
        ]);
        const modifiedHosts = modifiedWithHosts.flatMap((d) => remaining(d.serial_number));
        await assignments.upsertLive(
          [...after, ...modifiedHosts].map((h) => ({
            host_id: h.id,
            deadline: deadlineOf(deviceOf.get(h.hardware_serial)!),
          })),
          tokenId,
          now,
          trx,
        );
        return {
          added,
          modifiedWithHosts,
          previouslyDeleted,
          afterBySerial: groupBy(after, (h) => h.hardware_serial),
          modifiedHosts: groupBy(modifiedHosts, (h) => h.hardware_serial),
          created: createdHosts.length,
          removed: hard.size,
        };
      });
    run.result.hostsCreated += created;
    run.result.hostsDeleted += removed;

    // Which profile each device should get: its host's team (new placeholders have the token's
    // default team for their platform), then skip those Apple already shows with it.
    const needAssign = new Set(b.added.keys());
    const nowMs = Date.now();
    const byProfile = new Map<string, AssignItem[]>();
    const candidates: { d: DepDevice; hosts: SerialHost[] }[] = [];
    for (const d of added) {
      const hosts = afterBySerial.get(d.serial_number);
      if (hosts?.length) candidates.push({ d, hosts });
    }
    for (const d of modifiedWithHosts) {
      const hosts = modifiedHosts.get(d.serial_number);
      if (hosts?.length) candidates.push({ d, hosts });
    }
    for (const { d, hosts } of candidates) {
      const profile = await this.profileFor(run, hosts[0].team_id);
      const serial = d.serial_number;
      if (
        d.profile_uuid === profile.profileUuid &&
        d.profile_status !== 'removed' &&
        !previouslyDeleted.has(serial) &&
        !needAssign.has(serial)
      ) {
        continue;
      }
      if (hosts.some((h) => h.dep && onCooldown(h.dep, nowMs, this.opts))) {
        run.result.cooledDown++;
        continue;
      }
      const list = byProfile.get(profile.profileUuid) ?? [];
      list.push({ serial, hostIds: hosts.map((h) => h.id) });
      byProfile.set(profile.profileUuid, list);
    }
    for (const [profileUuid, items] of byProfile) await this.assign(run, profileUuid, items);
  }

  /**
   * Assigns a profile to serials in batches and records Apple's answer per serial. A serial missing
   * from the answer (or every serial, when the call failed) is FAILED, so it cools down and is
   * retried; a refusal of the token itself ends the run after recording.
   */
  private async assign(run: Run, profileUuid: string, items: AssignItem[]): Promise<void> {
    for (const batch of chunks(items, this.opts.assignBatch)) {
      let resp: DepAssignResponse | undefined;
      let failure: unknown;
      try {
        resp = await this.api(run, (c) =>
          c.assignProfile(
            profileUuid,
            batch.map((i) => i.serial),
          ),
        );
      } catch (err) {
        failure = err;
      }
      const answers = resp?.devices && typeof resp.devices === 'object' ? resp.devices : {};
      const throttledCall = failure instanceof DepError && failure.code === 'THROTTLED';
      const retryAfter =
        (typeof resp?.retry_after_seconds === 'number' && resp.retry_after_seconds > 0
          ? resp.retry_after_seconds
          : undefined) ?? (failure instanceof DepError ? failure.retryAfterSeconds : undefined);
      const byResponse = new Map<string, number[]>();
      for (const item of batch) {
        let answer = typeof answers[item.serial] === 'string' ? answers[item.serial].toUpperCase() : 'FAILED';
        if (throttledCall) answer = 'THROTTLED';
        if (!['SUCCESS', 'NOT_ACCESSIBLE', 'FAILED', 'THROTTLED'].includes(answer)) answer = 'FAILED';
        const list = byResponse.get(answer) ?? [];
        list.push(...item.hostIds);
        byResponse.set(answer, list);
        run.result.assigned[answer] = (run.result.assigned[answer] ?? 0) + 1;
      }
      const now = dbNow();
      await this.deps.db.transaction().execute(async (trx) => {
        for (const [response, hostIds] of byResponse) {
          await this.deps.assignments.recordResponse(
            hostIds,
            {
              profileUuid,
              response,
              retryAfterSeconds: response === 'THROTTLED' ? (retryAfter ?? null) : null,
              tokenId: run.token.id,
            },
            now,
            trx,
          );
        }
      });
      if (failure) {
        this.deps.logger.warn(
          { abm_token_id: run.token.id, devices: batch.length, error: describe(failure) },
          'DEP profile assignment failed; recorded as FAILED for a retry after the cooldown',
        );
        if (failure instanceof DepError && (failure.termsNotSigned || failure.tokenRejected)) throw failure;
      }
    }
  }

  /**
   * Fleet's dep_cooldowns pass: live assignments of this token whose FAILED / THROTTLED answer has
   * cooled down are assigned again (their host's team profile).
   */
  private async retryCooldowns(run: Run): Promise<void> {
    const rows = await this.deps.assignments.cooldownCandidates(run.token.id, this.opts.cooldownBatch);
    const nowMs = Date.now();
    const due = rows.filter((r) => !onCooldown(r, nowMs, this.opts));
    if (due.length === 0) return;
    const byTeam = groupBy(due, (r) => teamKey(r.team_id));
    for (const rowsOfTeam of byTeam.values()) {
      const profile = await this.profileFor(run, rowsOfTeam[0].team_id);
      const items = [...groupBy(rowsOfTeam, (r) => r.hardware_serial)].map(([serial, rs]) => ({
        serial,
        hostIds: rs.map((r) => r.host_id),
      }));
      await this.assign(run, profile.profileUuid, items);
    }
  }

  /** Records Apple's verdict on the token: T_C_NOT_SIGNED, refused, or accepted (clears both). */
  private async applyOutcome(tokenId: number, outcome: TokenSyncResult['outcome']): Promise<void> {
    const { tokens } = this.deps;
    if (outcome === 'terms_not_signed')
      await tokens.setFlags(tokenId, { terms_expired: true, token_invalid: false });
    else if (outcome === 'token_rejected') await tokens.setFlags(tokenId, { token_invalid: true });
    else if (outcome === 'ok') await tokens.setFlags(tokenId, { terms_expired: false, token_invalid: false });
  }

  /** The app-config flag `mdm.apple_bm_terms_expired`: set while any token has its terms expired. */
  async refreshTermsFlag(): Promise<void> {
    const expired = (await this.deps.tokens.countTermsExpired()) > 0;
    const cfg = await this.deps.appConfig.get();
    if (cfg.mdm.apple_bm_terms_expired !== expired) {
      await this.deps.appConfig.patch({ mdm: { apple_bm_terms_expired: expired } });
    }
  }
}

/** The sealed credentials of a token; a parse error must not echo them (JSON errors quote input). */
function openCredentials(box: SecretBox, sealed: Buffer): ServerTokenCredentials {
  try {
    return JSON.parse(box.open(sealed).toString('utf8')) as ServerTokenCredentials;
  } catch {
    throw new Error('the stored ABM token cannot be opened (server key changed?)');
  }
}

/** An error as a log line: the DEP call and status, never a secret. */
function describe(err: unknown): string {
  if (err instanceof DepError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
