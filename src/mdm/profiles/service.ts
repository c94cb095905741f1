import type { Actor, ActivityService } from '../../admin/activityService.js';
import { dbNow, isUniqueViolation } from '../../db/dialect.js';
import { HttpError, badRequest, invalid, notFound } from '../../http/errors.js';
import type { LabelRef } from './labelRows.js';
import type {
  HostProfileJson,
  ParsedProfile,
  Platform,
  PlatformProfiles,
  ProfileDetail,
  ProfileJson,
  StatusCounts,
} from '../platform.js';
import type { ProfileScopeStore } from './store.js';
import type { ProfileVariableChecker } from '../variables/uploadChecks.js';

export interface LabelSelection {
  labels_include_all?: string[];
  labels_include_any?: string[];
  labels_exclude_any?: string[];
}

export interface BatchItem extends LabelSelection {
  name: string;
  profile: Buffer;
}

const SAME_NAME =
  "Couldn't add. A configuration profile with this name already exists (PayloadDisplayName for .mobileconfig and file name for .json and .xml).";
const conflict409 = (reason: string) =>
  new HttpError(409, 'Resource Already Exists', [{ name: 'profile', reason }]);

/** The extension of an upload's file name as routing reads it (lower case; the whole name without a dot). */
function extensionOf(filename: string | undefined): string | undefined {
  return filename?.toLowerCase().split('.').pop();
}

/** Rewrites an item's validation error to name the item (`profiles[2]`: `name: reason`). */
function itemError(err: unknown, idx: number, name: string): unknown {
  if (!(err instanceof HttpError)) return err;
  return new HttpError(err.statusCode, err.message, [
    { name: `profiles[${idx}]`, reason: `${name}: ${err.errors[0]?.reason ?? err.message}` },
  ]);
}

/**
 * Configuration profiles for every platform: upload (routed by file type to the platform that
 * claims it), team and label scope, GitOps batch, list, summaries, per-host status and resend.
 * Each platform's adapter validates, stores and delivers its own profiles.
 */
/** An entry of `GET /hosts/:id/configuration_profiles`: Fleet's MDMAppleConfigProfile fields. */
export type HostTeamProfileJson = Omit<ProfileJson, 'platform' | 'scope'>;

export class ProfileService {
  private readonly adapters: PlatformProfiles[];

  constructor(
    private readonly store: ProfileScopeStore,
    private readonly platforms: readonly Platform[],
    private readonly activities: ActivityService,
    /** `$FLEET_VAR_*` / `$FLEET_SECRET_*` checks at upload and their record (absent: none). */
    private readonly variables?: ProfileVariableChecker,
  ) {
    this.adapters = platforms.map((p) => p.profiles);
  }

  /** The family (`Platform.family`) whose adapter this is: how variable rules are looked up. */
  private familyOf(adapter: PlatformProfiles): string {
    return this.platforms.find((p) => p.profiles === adapter)?.family ?? '';
  }

  teamIdByName(name: string): Promise<number | undefined> {
    return this.store.teamIdByName(name);
  }

  /** team_id 0 / absent = No team; other ids must exist. Returns the team's name (or null). */
  async checkTeam(teamId: number): Promise<string | null> {
    if (teamId === 0) return null;
    const name = await this.store.teamName(teamId);
    if (name === undefined) throw notFound('Team');
    return name;
  }

  /** Resolves label names into label rows with their mode flags; unknown names are a 400. */
  async resolveLabels(sel: LabelSelection): Promise<LabelRef[]> {
    const incAll = sel.labels_include_all ?? [];
    const incAny = sel.labels_include_any ?? [];
    const excAny = sel.labels_exclude_any ?? [];
    if (incAll.length && incAny.length) {
      throw badRequest('Only one of "labels_include_all" or "labels_include_any" can be included.', 'labels');
    }
    const names = [...new Set([...incAll, ...incAny, ...excAny])];
    const found = await this.store.labelsByName(names);
    const byName = new Map(found.map((l) => [l.name, l.id]));
    const missing = names.filter((n) => !byName.has(n));
    if (missing.length) {
      throw badRequest(
        `Couldn't update. Labels don't exist: ${missing.map((m) => `"${m}"`).join(', ')}.`,
        'labels',
      );
    }
    const ref = (n: string, exclude: boolean, requireAll: boolean): LabelRef => ({
      label_name: n,
      label_id: byName.get(n)!,
      exclude,
      require_all: requireAll,
    });
    return [
      ...incAll.map((n) => ref(n, false, true)),
      ...incAny.map((n) => ref(n, false, false)),
      ...excAny.map((n) => ref(n, true, false)),
    ];
  }

  /** The platform an upload is for, by its file name and content; 400 for a file no platform takes. */
  private adapterForUpload(filename: string | undefined, bytes: Buffer): PlatformProfiles {
    if (bytes.length === 0) throw invalid("Couldn't add. The file is empty.", 'profile');
    const ext = extensionOf(filename);
    // Two platforms may share an extension (Apple's declarations and Android's policies are .json).
    const known = [...new Set(this.adapters.flatMap((a) => a.fileExtensions))];
    if (filename && ext && filename.includes('.') && !known.includes(ext)) {
      const listed = known.map((e) => `.${e}`);
      throw badRequest(
        `Couldn't add. The file should be a ${listed.slice(0, -1).join(', ')}, or ${listed[listed.length - 1]} file.`,
        'profile',
      );
    }
    // Asked in order: a platform claims its own extensions, or content it recognises.
    const adapter = this.adapters.find((a) => a.claims(ext, bytes));
    if (!adapter) throw badRequest("Couldn't add. The file type is not supported.", 'profile');
    return adapter;
  }

  /** The platform a profile UUID belongs to, if any. */
  private adapterOf(uuid: string): PlatformProfiles | undefined {
    return this.adapters.find((a) => a.uuidPrefixes.some((p) => uuid.startsWith(p)));
  }

  /** Is the name taken in the team by any platform's profile? (All share the team's name space.) */
  private async nameInUse(db: Parameters<PlatformProfiles['nameInUse']>[0], teamId: number, name: string) {
    for (const a of this.adapters) if (await a.nameInUse(db, teamId, name)) return true;
    return false;
  }

  /** One upload (POST /configuration_profiles). Returns the new profile UUID. */
  async create(
    actor: Actor,
    teamId: number,
    file: { filename: string; bytes: Buffer },
    sel: LabelSelection,
  ): Promise<string> {
    const teamName = await this.checkTeam(teamId);
    const adapter = this.adapterForUpload(file.filename, file.bytes);
    const family = this.familyOf(adapter);
    // As Fleet: secrets named must exist before the file is validated, Fleet variables after.
    await this.variables?.checkSecrets(family, file.bytes);
    const parsed = await adapter.parse(file.filename, file.bytes, { batch: false });
    const fleetVariables = (await this.variables?.checkFleetVariables(family, file.bytes)) ?? [];
    const labels = await this.resolveLabels(sel);
    let uuid: string;
    try {
      uuid = await this.store.db.transaction().execute(async (trx) => {
        if (await this.nameInUse(trx, teamId, parsed.name)) throw conflict409(SAME_NAME);
        const now = dbNow();
        const id = await adapter.insert(trx, teamId, parsed, labels, now);
        await this.variables?.record(trx, id, fleetVariables, now);
        return id;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict409(SAME_NAME);
      throw err;
    }
    await adapter.markPending({ profileUuids: [uuid], newDefinitions: true });
    const activity = adapter.createdActivity(parsed);
    await this.activities.record(actor, activity.type, {
      ...activity.details,
      team_id: teamId || null,
      team_name: teamName,
    });
    return uuid;
  }

  async list(
    teamId: number,
    page: { limit?: number; offset?: number },
  ): Promise<{ profiles: ProfileJson[]; hasNext: boolean }> {
    const all: ProfileJson[] = [];
    for (const a of this.adapters) all.push(...(await a.list(teamId)));
    all.sort((a, b) => a.name.localeCompare(b.name));
    const start = page.offset ?? 0;
    const slice = page.limit === undefined ? all.slice(start) : all.slice(start, start + page.limit);
    return { profiles: slice, hasNext: page.limit !== undefined && start + page.limit < all.length };
  }

  async get(uuid: string): Promise<ProfileDetail> {
    const found = await this.adapterOf(uuid)?.get(uuid);
    if (!found) throw notFound('Profile');
    return found;
  }

  async delete(actor: Actor, uuid: string): Promise<void> {
    const { json, teamId } = await this.get(uuid);
    const adapter = this.adapterOf(uuid)!;
    const teamName = teamId ? ((await this.store.teamName(teamId)) ?? null) : null;
    await this.store.db.transaction().execute(async (trx) => {
      await adapter.delete(trx, uuid, dbNow());
      await this.variables?.forget(trx);
    });
    const activity = adapter.deletedActivity(json);
    await this.activities.record(actor, activity.type, {
      ...activity.details,
      team_id: teamId || null,
      team_name: teamName,
    });
  }

  /** Validates every batch item with its platform; one bad item refuses the whole batch. */
  private async parseBatch(items: BatchItem[], assumeEnabled: boolean | undefined) {
    const parsed: { adapter: PlatformProfiles; parsed: ParsedProfile; labels: LabelRef[] }[] = [];
    for (const [idx, item] of items.entries()) {
      let adapter: PlatformProfiles;
      let p: ParsedProfile;
      try {
        adapter = this.adapterForUpload(item.name, item.profile);
        const family = this.familyOf(adapter);
        await this.variables?.checkSecrets(family, item.profile);
        p = await adapter.parse(item.name, item.profile, { batch: true, assumeEnabled });
        await this.variables?.checkFleetVariables(family, item.profile);
      } catch (err) {
        throw itemError(err, idx, item.name);
      }
      parsed.push({ adapter, parsed: p, labels: await this.resolveLabels(item) });
    }
    const names = new Set<string>();
    const keys = new Set<string>();
    for (const { parsed: p } of parsed) {
      if (names.has(p.name))
        throw invalid(`More than one configuration profile have the same name (${p.name}).`, 'profiles');
      names.add(p.name);
      if (!p.batchKey) continue;
      if (keys.has(p.batchKey.key)) {
        throw invalid(
          `More than one configuration profile have the same identifier (${p.batchKey.shown}).`,
          'profiles',
        );
      }
      keys.add(p.batchKey.key);
    }
    return parsed;
  }

  /**
   * Replaces a team's whole set of every platform's profiles (GitOps), all or nothing: everything
   * is validated first, then each platform replaces its part in one transaction. Each platform whose
   * set changed gets its `edited_…` activity.
   */
  async batchReplace(
    actor: Actor,
    teamId: number,
    items: BatchItem[],
    opts: { dryRun: boolean; assumeEnabled?: boolean },
  ): Promise<void> {
    const teamName = await this.checkTeam(teamId);
    const parsed = await this.parseBatch(items, opts.assumeEnabled);
    if (opts.dryRun) return;

    const now = dbNow();
    const results = await this.store.db.transaction().execute(async (trx) => {
      const out: { adapter: PlatformProfiles; pending: string[]; edited: string[] }[] = [];
      for (const adapter of this.adapters) {
        const mine = parsed.filter((x) => x.adapter === adapter);
        out.push({ adapter, ...(await adapter.replaceTeamSet(trx, teamId, mine, now)) });
      }
      await this.variables?.recordTeam(trx, teamId, now);
      return out;
    });
    for (const r of results) if (r.pending.length) await r.adapter.markPending({ profileUuids: r.pending });
    for (const type of results.flatMap((r) => r.edited)) {
      await this.activities.record(actor, type, { team_id: teamId || null, team_name: teamName });
    }
  }

  /**
   * Definitions whose content changed outside an upload (a secret they use got a new value): their
   * hosts get them again. Each platform marks its own (by UUID prefix).
   */
  async markDefinitionsPending(profileUuids: string[]): Promise<void> {
    for (const adapter of this.adapters) {
      const mine = profileUuids.filter((u) => this.adapterOf(u) === adapter);
      if (mine.length) await adapter.markPending({ profileUuids: mine });
    }
  }

  /** Puts one host's profile back to "decided, not yet sent" so the manager sends it again. */
  async resend(
    actor: Actor,
    host: { id: number; uuid: string; display_name: string },
    profileUuid: string,
  ): Promise<void> {
    const found = await this.adapterOf(profileUuid)?.resend(host.uuid, profileUuid);
    if (!found) throw notFound('Profile');
    await this.activities.record(
      actor,
      'resent_configuration_profile',
      { host_id: host.id, host_display_name: host.display_name, profile_name: found.name },
      { hostIds: [host.id] },
    );
  }

  /**
   * Batch resend (POST /configuration_profiles/resend/batch): every host whose row of the profile
   * has `status` is sent the profile again by its manager. Returns how many hosts.
   */
  async resendBatch(
    actor: Actor,
    profileUuid: string,
    status: 'failed' | 'verified' | 'verifying',
  ): Promise<number> {
    const adapter = this.adapterOf(profileUuid);
    if (!adapter?.resendByStatus) {
      const offering = this.platforms.filter((p) => p.profiles.resendByStatus);
      throw badRequest(
        `Batch resend is available for ${offering.map((p) => p.label).join(' and ')} configuration profiles.`,
        'profile_uuid',
      );
    }
    const done = await adapter.resendByStatus(profileUuid, status);
    if (!done) throw notFound('Profile');
    await this.activities.record(actor, 'resent_configuration_profile_batch', {
      profile_name: done.name,
      host_count: done.hosts,
    });
    return done.hosts;
  }

  /** Hosts per OS-settings status; each host is one platform's, so the counts add up. */
  async summary(teamId: number | null): Promise<StatusCounts> {
    const total: StatusCounts = { verified: 0, verifying: 0, pending: 0, failed: 0 };
    for (const a of this.adapters) {
      const c = await a.summary(teamId);
      total.verified += c.verified;
      total.verifying += c.verifying;
      total.pending += c.pending;
      total.failed += c.failed;
    }
    return total;
  }

  async profileStatus(uuid: string): Promise<StatusCounts> {
    await this.get(uuid);
    return this.adapterOf(uuid)!.profileStatus(uuid);
  }

  /**
   * Fleet's `GET /hosts/:id/configuration_profiles`: the host's team profiles its platform lists
   * there; 400 for hosts of a platform that does not offer it.
   */
  async teamProfilesForHost(host: {
    platform: string;
    team_id: number | null;
  }): Promise<HostTeamProfileJson[]> {
    const offer = this.platforms.find((p) => p.hostPlatforms.includes(host.platform))?.profiles
      .teamProfilesForHost;
    if (!offer) {
      const offered = this.adapters.flatMap((a) =>
        a.teamProfilesForHost ? [a.teamProfilesForHost.hostsLabel] : [],
      );
      throw badRequest(`Endpoint is only available for ${offered.join(', ')} hosts.`, 'id');
    }
    // Fleet's entries (MDMAppleConfigProfile): no `platform` or `scope`.
    return (await offer.list(host.team_id ?? 0)).map((p) => {
      const entry: HostTeamProfileJson = {
        profile_uuid: p.profile_uuid,
        team_id: p.team_id,
        name: p.name,
        identifier: p.identifier,
        created_at: p.created_at,
        updated_at: p.updated_at,
        checksum: p.checksum,
      };
      for (const k of ['labels_include_all', 'labels_include_any', 'labels_exclude_any'] as const) {
        if (p[k]) entry[k] = p[k];
      }
      return entry;
    });
  }

  /** `mdm.profiles` of GET /hosts/:id: every platform's, in one list by name. */
  async hostProfilesJson(hostUuid: string): Promise<HostProfileJson[]> {
    const all: HostProfileJson[] = [];
    for (const a of this.adapters) all.push(...(await a.hostProfiles(hostUuid)));
    return all.sort((a, b) => a.name.localeCompare(b.name));
  }
}
