import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Actor, ActivityService } from '../admin/activityService.js';
import { dbNow, isUniqueViolation, toApiTime } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { HttpError, badRequest, invalid, notFound } from '../http/errors.js';
import type { HostStatusStore, StatusCounts } from './hostStatusStore.js';
import type { ProfileManager } from './manager.js';
import { hostProfilesJson, withLabelsJson, type LabelsJson } from './profileJson.js';
import type { AppleProfileRow, DeclarationRow, LabelRef, ProfileStore } from './store.js';
import {
  declarationToken,
  md5Hex,
  parseUpload,
  windowsNotEnabled,
  type ParsedAppleProfile,
  type ParsedDeclaration,
  type ParsedUpload,
  type WindowsUpload,
} from './validate.js';

export interface LabelSelection {
  labels_include_all?: string[];
  labels_include_any?: string[];
  labels_exclude_any?: string[];
}

export interface ProfileJson extends LabelsJson {
  profile_uuid: string;
  team_id: number;
  name: string;
  platform: 'darwin' | 'windows';
  identifier: string;
  created_at: string | null;
  updated_at: string | null;
  checksum: string;
  scope: string;
}

export interface BatchItem extends LabelSelection {
  name: string;
  profile: Buffer;
}

/**
 * Where Windows profiles (`w…` UUIDs) plug in once the Windows area provides a handler: it owns
 * their validation, storage, status rows and summaries; this service keeps team, label and
 * routing logic in one place.
 */
export interface WindowsProfileHandler {
  create(
    actor: Actor,
    teamId: number,
    upload: { name: string; bytes: Buffer },
    labels: LabelRef[],
  ): Promise<string>;
  list(teamId: number): Promise<Omit<ProfileJson, 'platform'>[]>;
  get(
    uuid: string,
  ): Promise<
    | { json: Omit<ProfileJson, 'platform'>; teamId: number; download: { bytes: Buffer; filename: string } }
    | undefined
  >;
  delete(actor: Actor, uuid: string): Promise<void>;
  /** Throws the upload error for one batch item; returns its profile name. */
  validateForBatch(
    name: string,
    bytes: Buffer,
    opts?: { assumeEnabled?: boolean },
  ): Promise<{ name: string }>;
  /** Replaces the team's Windows set inside the batch transaction; returns UUIDs to mark pending. */
  applyBatch(
    trx: Transaction<DB>,
    teamId: number,
    items: { name: string; bytes: Buffer; labels: LabelRef[] }[],
    now: string,
  ): Promise<string[]>;
  markPending(uuids: string[]): Promise<void>;
  summary(teamId: number | null): Promise<StatusCounts>;
  profileStatus(uuid: string): Promise<StatusCounts>;
  hostProfiles(hostUuid: string): Promise<
    {
      profile_uuid: string;
      name: string;
      status: string;
      operation_type: string;
      detail: string;
      platform: 'windows';
      scope: string;
    }[]
  >;
  resend(hostUuid: string, profileUuid: string): Promise<{ name: string | null } | undefined>;
}

const conflict409 = (reason: string) =>
  new HttpError(409, 'Resource Already Exists', [{ name: 'profile', reason }]);
const SAME_NAME =
  "Couldn't add. A configuration profile with this name already exists (PayloadDisplayName for .mobileconfig and file name for .json and .xml).";
const SAME_IDENTIFIER =
  "Couldn't add. A configuration profile with this identifier (PayloadIdentifier) already exists.";
const SAME_DECL_IDENTIFIER =
  "Couldn't add. A declaration profile with this identifier (Identifier) already exists.";

/** Admin operations on configuration profiles and declarations. */
export class ProfileService {
  private windows: WindowsProfileHandler | undefined;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: ProfileStore,
    private readonly statuses: HostStatusStore,
    private readonly manager: ProfileManager,
    private readonly activities: ActivityService,
  ) {}

  setWindowsHandler(h: WindowsProfileHandler): void {
    this.windows = h;
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

  /** One upload (POST /configuration_profiles). Returns the new profile UUID. */
  async create(
    actor: Actor,
    teamId: number,
    file: { filename: string; bytes: Buffer },
    sel: LabelSelection,
  ): Promise<string> {
    const teamName = await this.checkTeam(teamId);
    const parsed = parseUpload(file.filename, file.bytes);
    const labels = await this.resolveLabels(sel);
    if (parsed.kind === 'windows') {
      if (!this.windows) throw windowsNotEnabled();
      return this.windows.create(actor, teamId, parsed, labels);
    }
    const now = dbNow();
    let uuid: string;
    try {
      uuid = await this.db.transaction().execute(async (trx) => {
        if (await this.store.nameInUse(teamId, parsed.name, undefined, trx)) throw conflict409(SAME_NAME);
        if (parsed.kind === 'apple') {
          if (await this.store.appleIdentifierInUse(teamId, parsed.identifier, trx))
            throw conflict409(SAME_IDENTIFIER);
          const id = `a${randomUUID()}`;
          await this.store.insertAppleProfile(newAppleProfileRow(id, teamId, parsed, now), trx);
          await this.store.replaceAppleProfileLabels(id, labels, now, trx);
          return id;
        }
        if (await this.store.declarationIdentifierInUse(teamId, parsed.identifier, trx))
          throw conflict409(SAME_DECL_IDENTIFIER);
        const id = `d${randomUUID()}`;
        await this.store.insertDeclaration(declarationRow(id, teamId, parsed, now), trx);
        await this.store.replaceDeclarationLabels(id, labels, now, trx);
        return id;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict409(SAME_NAME);
      throw err;
    }
    await this.manager.markPending({ profileUuids: [uuid], newDefinitions: true });
    const details =
      parsed.kind === 'apple'
        ? {
            profile_name: parsed.name,
            profile_identifier: parsed.identifier,
            team_id: teamId || null,
            team_name: teamName,
          }
        : {
            profile_name: parsed.name,
            identifier: parsed.identifier,
            team_id: teamId || null,
            team_name: teamName,
          };
    await this.activities.record(
      actor,
      parsed.kind === 'apple' ? 'created_macos_profile' : 'created_declaration_profile',
      details,
    );
    return uuid;
  }

  async list(
    teamId: number,
    page: { limit?: number; offset?: number },
  ): Promise<{ profiles: ProfileJson[]; hasNext: boolean }> {
    const apple = await this.store.appleProfilesOfTeam(teamId);
    const decl = await this.store.declarationsOfTeam(teamId);
    const win = this.windows ? await this.windows.list(teamId) : [];
    const all = [
      ...apple.map((p) => ({ kind: 'apple' as const, p })),
      ...decl.map((p) => ({ kind: 'declaration' as const, p })),
      ...win.map((p) => ({ kind: 'windows' as const, p: p as ProfileJson })),
    ].sort((a, b) => a.p.name.localeCompare(b.p.name));
    const start = page.offset ?? 0;
    const slice = page.limit === undefined ? all.slice(start) : all.slice(start, start + page.limit);
    const labels = await this.store.labelsFor(
      slice
        .filter((x) => x.kind !== 'windows')
        .map((x) => uuidOf(x as Exclude<typeof x, { kind: 'windows' }>)),
    );
    return {
      profiles: slice.map((x) =>
        x.kind === 'windows'
          ? x.p
          : x.kind === 'apple'
            ? appleJson(x.p, labels)
            : declarationJson(x.p, labels),
      ),
      hasNext: page.limit !== undefined && start + page.limit < all.length,
    };
  }

  async get(
    uuid: string,
  ): Promise<{ json: ProfileJson; teamId: number; download: { bytes: Buffer; filename: string } }> {
    if (uuid.startsWith('a')) {
      const p = await this.store.getAppleProfile(uuid);
      if (!p) throw notFound('Profile');
      const labels = await this.store.labelsFor([uuid]);
      const date = (toApiTime(p.uploaded_at) ?? '').slice(0, 10);
      return {
        json: appleJson(p, labels),
        teamId: p.team_id,
        download: { bytes: Buffer.from(p.mobileconfig), filename: `${date} ${p.name}.mobileconfig` },
      };
    }
    if (uuid.startsWith('d')) {
      const d = await this.store.getDeclaration(uuid);
      if (!d) throw notFound('Profile');
      const labels = await this.store.labelsFor([uuid]);
      const date = (toApiTime(d.uploaded_at) ?? '').slice(0, 10);
      return {
        json: declarationJson(d, labels),
        teamId: d.team_id,
        download: { bytes: Buffer.from(d.raw_json), filename: `${date} ${d.name}.json` },
      };
    }
    if (uuid.startsWith('w') && this.windows) {
      const w = await this.windows.get(uuid);
      if (!w) throw notFound('Profile');
      return { ...w, json: w.json as ProfileJson };
    }
    throw notFound('Profile');
  }

  async delete(actor: Actor, uuid: string): Promise<void> {
    const { json, teamId } = await this.get(uuid);
    if (uuid.startsWith('w') && this.windows) return this.windows.delete(actor, uuid);
    const teamName = teamId ? ((await this.store.teamName(teamId)) ?? null) : null;
    const now = dbNow();
    await this.db.transaction().execute(async (trx) => {
      if (uuid.startsWith('a')) await this.store.deleteAppleProfile(uuid, now, trx);
      else await this.store.deleteDeclaration(uuid, now, trx);
    });
    const apple = uuid.startsWith('a');
    await this.activities.record(actor, apple ? 'deleted_macos_profile' : 'deleted_declaration_profile', {
      profile_name: json.name,
      [apple ? 'profile_identifier' : 'identifier']: json.identifier,
      team_id: teamId || null,
      team_name: teamName,
    });
  }

  /**
   * Replaces a team's whole set (GitOps). Everything is validated first; one bad profile refuses
   * the whole batch and nothing changes. Apple profiles are matched by identifier, declarations by
   * name, and updated in place (uploaded_at moves only when the content changed).
   */
  async batchReplace(
    actor: Actor,
    teamId: number,
    items: BatchItem[],
    opts: { dryRun: boolean; assumeEnabled?: boolean },
  ): Promise<void> {
    const { dryRun } = opts;
    const teamName = await this.checkTeam(teamId);
    const parsed: { p: ParsedUpload; labels: LabelRef[] }[] = [];
    for (const [idx, item] of items.entries()) {
      let p: ParsedUpload;
      try {
        p = parseUpload(item.name, item.profile);
      } catch (err) {
        if (err instanceof HttpError) {
          throw new HttpError(err.statusCode, err.message, [
            { name: `profiles[${idx}]`, reason: `${item.name}: ${err.errors[0]?.reason ?? err.message}` },
          ]);
        }
        throw err;
      }
      if (p.kind === 'declaration') p = { ...p, name: item.name.replace(/\.json$/i, '') };
      if (p.kind === 'windows') {
        if (!this.windows) throw windowsNotEnabled();
        const w = await this.windows.validateForBatch(p.name, p.bytes, opts).catch((err: unknown) => {
          if (err instanceof HttpError) {
            throw new HttpError(err.statusCode, err.message, [
              { name: `profiles[${idx}]`, reason: `${item.name}: ${err.errors[0]?.reason ?? err.message}` },
            ]);
          }
          throw err;
        });
        p = { ...p, name: w.name };
      }
      parsed.push({ p, labels: await this.resolveLabels(item) });
    }
    const seenNames = new Set<string>();
    const seenIdents = new Set<string>();
    for (const { p } of parsed) {
      if (seenNames.has(p.name))
        throw invalid(`More than one configuration profile have the same name (${p.name}).`, 'profiles');
      seenNames.add(p.name);
      if (p.kind === 'windows') continue;
      const key = `${p.kind}:${(p as ParsedAppleProfile | ParsedDeclaration).identifier}`;
      if (seenIdents.has(key)) {
        throw invalid(
          `More than one configuration profile have the same identifier (${key.slice(key.indexOf(':') + 1)}).`,
          'profiles',
        );
      }
      seenIdents.add(key);
    }
    if (dryRun) return;

    const now = dbNow();
    const changed: string[] = [];
    const windowsChanged: string[] = [];
    await this.db.transaction().execute(async (trx) => {
      const existingApple = await this.store.appleProfilesOfTeam(teamId, trx);
      const existingDecl = await this.store.declarationsOfTeam(teamId, trx);
      const keepApple = new Set<string>();
      const keepDecl = new Set<string>();
      // Deletes first so names and identifiers of removed profiles free up.
      const wantedIdents = new Set(
        parsed.filter((x) => x.p.kind === 'apple').map((x) => (x.p as ParsedAppleProfile).identifier),
      );
      const wantedDeclNames = new Set(parsed.filter((x) => x.p.kind === 'declaration').map((x) => x.p.name));
      for (const e of existingApple)
        if (!wantedIdents.has(e.identifier)) await this.store.deleteAppleProfile(e.profile_uuid, now, trx);
      for (const e of existingDecl)
        if (!wantedDeclNames.has(e.name)) await this.store.deleteDeclaration(e.declaration_uuid, now, trx);
      if (this.windows) {
        const win = parsed
          .filter((x) => x.p.kind === 'windows')
          .map((x) => ({ name: x.p.name, bytes: (x.p as WindowsUpload).bytes, labels: x.labels }));
        windowsChanged.push(...(await this.windows.applyBatch(trx, teamId, win, now)));
      }
      for (const { p, labels } of parsed) {
        if (p.kind === 'apple') {
          const cur = existingApple.find((e) => e.identifier === p.identifier);
          if (cur) {
            keepApple.add(cur.profile_uuid);
            if (cur.checksum !== p.checksum || cur.name !== p.name) {
              await this.store.updateAppleProfile(
                cur.profile_uuid,
                {
                  name: p.name,
                  mobileconfig: p.bytes,
                  checksum: p.checksum,
                  payload_uuid: p.payloadUuid,
                  scope: p.scope,
                  uploaded_at: now,
                },
                trx,
              );
            }
            await this.store.replaceAppleProfileLabels(cur.profile_uuid, labels, now, trx);
            changed.push(cur.profile_uuid);
          } else {
            const id = `a${randomUUID()}`;
            await this.store.insertAppleProfile(newAppleProfileRow(id, teamId, p, now), trx);
            await this.store.replaceAppleProfileLabels(id, labels, now, trx);
            changed.push(id);
          }
        } else if (p.kind === 'declaration') {
          const cur = existingDecl.find((e) => e.name === p.name);
          if (cur) {
            keepDecl.add(cur.declaration_uuid);
            if (cur.raw_json !== p.rawJson) {
              await this.store.updateDeclaration(
                cur.declaration_uuid,
                {
                  identifier: p.identifier,
                  raw_json: p.rawJson,
                  token: declarationToken(p.rawJson, cur.secrets_updated_at),
                  scope: p.scope,
                  uploaded_at: now,
                },
                trx,
              );
            }
            await this.store.replaceDeclarationLabels(cur.declaration_uuid, labels, now, trx);
            changed.push(cur.declaration_uuid);
          } else {
            const id = `d${randomUUID()}`;
            await this.store.insertDeclaration(declarationRow(id, teamId, p, now), trx);
            await this.store.replaceDeclarationLabels(id, labels, now, trx);
            changed.push(id);
          }
        }
      }
    });
    await this.manager.markPending({ profileUuids: changed });
    if (this.windows && windowsChanged.length) await this.windows.markPending(windowsChanged);
    await this.activities.record(actor, 'edited_macos_profile', {
      team_id: teamId || null,
      team_name: teamName,
    });
  }

  /** Puts one host's profile back to "decided, not yet queued" so the manager sends it again. */
  async resend(
    actor: Actor,
    host: { id: number; uuid: string; display_name: string },
    profileUuid: string,
  ): Promise<void> {
    if (profileUuid.startsWith('d'))
      throw badRequest("Can't resend declaration (DDM) profiles.", 'profile_uuid');
    if (profileUuid.startsWith('w') && this.windows) {
      const w = await this.windows.resend(host.uuid, profileUuid);
      if (!w) throw notFound('Profile');
      await this.activities.record(
        actor,
        'resent_configuration_profile',
        { host_id: host.id, host_display_name: host.display_name, profile_name: w.name },
        { hostIds: [host.id] },
      );
      return;
    }
    const n = await this.statuses.resetForResend(host.uuid, profileUuid, dbNow());
    if (n === 0) throw notFound('Profile');
    const p = await this.store.getAppleProfile(profileUuid);
    await this.activities.record(
      actor,
      'resent_configuration_profile',
      { host_id: host.id, host_display_name: host.display_name, profile_name: p?.name ?? null },
      { hostIds: [host.id] },
    );
  }

  /**
   * Batch resend (POST /configuration_profiles/resend/batch): every host whose row of the Apple
   * profile has `status` is sent the profile again by the manager. Returns how many hosts.
   */
  async resendBatch(
    actor: Actor,
    profileUuid: string,
    status: 'failed' | 'verified' | 'verifying',
  ): Promise<number> {
    if (profileUuid.startsWith('d'))
      throw badRequest("Can't resend declaration (DDM) profiles.", 'profile_uuid');
    if (!profileUuid.startsWith('a'))
      throw badRequest('Batch resend is available for Apple configuration profiles.', 'profile_uuid');
    const p = await this.store.getAppleProfile(profileUuid);
    if (!p) throw notFound('Profile');
    const n = await this.statuses.resetForResendByStatus(profileUuid, status, dbNow());
    await this.activities.record(actor, 'resent_configuration_profile_batch', {
      profile_name: p.name,
      host_count: n,
    });
    return n;
  }

  /** Hosts per OS-settings status; Apple and Windows hosts are disjoint, so their counts add up. */
  /** The Apple configuration profiles of a team, as Fleet's `GET /hosts/:id/configuration_profiles` lists them. */
  async appleProfilesOfTeam(teamId: number): Promise<ProfileJson[]> {
    const rows = await this.store.appleProfilesOfTeam(teamId);
    const labels = await this.store.labelsFor(rows.map((r) => r.profile_uuid));
    return rows.map((r) => appleJson(r, labels));
  }

  async summary(teamId: number | null): Promise<StatusCounts> {
    const apple = await this.statuses.summary(teamId);
    if (!this.windows) return apple;
    const win = await this.windows.summary(teamId);
    return {
      verified: apple.verified + win.verified,
      verifying: apple.verifying + win.verifying,
      pending: apple.pending + win.pending,
      failed: apple.failed + win.failed,
    };
  }

  async profileStatus(uuid: string): Promise<StatusCounts> {
    await this.get(uuid);
    if (uuid.startsWith('w') && this.windows) return this.windows.profileStatus(uuid);
    return this.statuses.profileStatus(uuid.startsWith('d') ? 'declaration' : 'apple', uuid);
  }

  /** `mdm.profiles` of GET /hosts/:id: pending removals hidden, NULL shown as pending. */
  async hostProfilesJson(hostUuid: string) {
    const rows = await this.statuses.rowsOfHost(hostUuid);
    const windows = this.windows ? await this.windows.hostProfiles(hostUuid) : [];
    const apple = hostProfilesJson(rows, 'darwin');
    // Profiles and declarations (d… UUIDs) in one list, by name.
    return [...apple, ...windows].sort((a, b) => a.name.localeCompare(b.name));
  }
}

function uuidOf(
  x: { kind: 'apple'; p: AppleProfileRow } | { kind: 'declaration'; p: DeclarationRow },
): string {
  return x.kind === 'apple' ? x.p.profile_uuid : x.p.declaration_uuid;
}

/** The definition row of a newly uploaded Apple profile. */
export function newAppleProfileRow(
  id: string,
  teamId: number,
  p: ParsedAppleProfile,
  now: string,
): AppleProfileRow {
  return {
    profile_uuid: id,
    team_id: teamId,
    identifier: p.identifier,
    name: p.name,
    scope: p.scope,
    mobileconfig: p.bytes,
    checksum: p.checksum,
    payload_uuid: p.payloadUuid,
    created_at: now,
    uploaded_at: now,
    secrets_updated_at: null,
  };
}

function declarationRow(id: string, teamId: number, p: ParsedDeclaration, now: string): DeclarationRow {
  return {
    declaration_uuid: id,
    team_id: teamId,
    identifier: p.identifier,
    name: p.name,
    raw_json: p.rawJson,
    scope: p.scope,
    token: declarationToken(p.rawJson, null),
    created_at: now,
    uploaded_at: now,
    secrets_updated_at: null,
  };
}

function appleJson(p: AppleProfileRow, labels: Map<string, LabelRef[]>): ProfileJson {
  return withLabelsJson<ProfileJson>(
    {
      profile_uuid: p.profile_uuid,
      team_id: p.team_id,
      name: p.name,
      platform: 'darwin',
      identifier: p.identifier,
      created_at: toApiTime(p.created_at),
      updated_at: toApiTime(p.uploaded_at),
      checksum: Buffer.from(p.checksum, 'hex').toString('base64'),
      scope: p.scope,
    },
    labels.get(p.profile_uuid),
  );
}

function declarationJson(d: DeclarationRow, labels: Map<string, LabelRef[]>): ProfileJson {
  return withLabelsJson<ProfileJson>(
    {
      profile_uuid: d.declaration_uuid,
      team_id: d.team_id,
      name: d.name,
      platform: 'darwin',
      identifier: d.identifier,
      created_at: toApiTime(d.created_at),
      updated_at: toApiTime(d.uploaded_at),
      checksum: Buffer.from(md5Hex(d.raw_json), 'hex').toString('base64'),
      scope: d.scope,
    },
    labels.get(d.declaration_uuid),
  );
}
