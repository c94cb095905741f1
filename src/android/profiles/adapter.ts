import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { dbNow, toApiTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { badRequest } from '../../http/errors.js';
import type {
  HostProfileJson,
  ParsedProfile,
  ParseOptions,
  PendingScope,
  PlatformProfiles,
  ProfileActivity,
  ProfileDetail,
  ProfileJson,
  StatusCounts,
} from '../../mdm/platform.js';
import { jsonProfileKind, looksLikeJson } from '../../mdm/profiles/jsonProfileKind.js';
import { sameLabels, type LabelRef } from '../../mdm/profiles/labelRows.js';
import { hostProfilesJson, withLabelsJson } from '../../mdm/profiles/profileJson.js';
import type { AndroidProfileManager } from './manager.js';
import type { AndroidProfileRow, AndroidProfileStore } from './store.js';
import { parseAndroidProfile, type ParsedAndroidProfile } from './validate.js';

/** Raised when no Android Enterprise is bound: Android profiles cannot be added. */
export const androidMdmOff = () => badRequest("Couldn't add. Android MDM isn't turned on.", 'profile');

/** A validated Android upload as the core carries it. */
interface AndroidUpload extends ParsedProfile {
  android: ParsedAndroidProfile;
}

/** The profile's name is its file's name without the extension. */
function fileBaseName(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * Android's configuration profiles for the MDM core (`g…` UUIDs): AMAPI Policy fragments (.json)
 * validated here, stored in mdm_android_configuration_profiles, merged into each host's policy by
 * the Android profile manager and verified by status reports.
 */
export class AndroidProfiles implements PlatformProfiles {
  readonly fileExtensions = ['json'];
  readonly uuidPrefixes = ['g'];
  readonly manager: PlatformProfiles['manager'];

  constructor(
    private readonly store: AndroidProfileStore,
    private readonly profileManager: Pick<AndroidProfileManager, 'markPending'>,
    private readonly enabled: () => Promise<boolean>,
    tick: () => Promise<unknown>,
  ) {
    this.manager = { job: 'mdm_android_profile_manager', tick };
  }

  /**
   * JSON that is not shaped like an Apple declaration (see jsonProfileKind): a .json file, or one
   * without a known extension whose content is JSON. Never another platform's extension.
   */
  claims(ext: string | undefined, bytes: Buffer): boolean {
    if (ext === 'xml' || ext === 'mobileconfig') return false;
    if (ext !== 'json' && !looksLikeJson(bytes)) return false;
    return jsonProfileKind(bytes) === 'android';
  }

  async parse(filename: string, bytes: Buffer, opts: ParseOptions): Promise<AndroidUpload> {
    // A GitOps run that turns Android MDM on in the same apply may upload before it is on.
    if (!opts.assumeEnabled && !(await this.enabled())) throw androidMdmOff();
    const android = parseAndroidProfile(fileBaseName(filename), bytes);
    return { name: android.name, android };
  }

  nameInUse(db: Kysely<DB>, teamId: number, name: string): Promise<boolean> {
    return this.store.nameInUse(teamId, name, db);
  }

  async insert(
    trx: Transaction<DB>,
    teamId: number,
    parsed: ParsedProfile,
    labels: LabelRef[],
    now: string,
  ): Promise<string> {
    const uuid = `g${randomUUID()}`;
    await this.store.insert(row(uuid, teamId, (parsed as AndroidUpload).android, now), trx);
    await this.store.replaceLabels(uuid, labels, now, trx);
    return uuid;
  }

  createdActivity(parsed: ParsedProfile): ProfileActivity {
    return { type: 'created_android_profile', details: { profile_name: parsed.name } };
  }

  async list(teamId: number): Promise<ProfileJson[]> {
    const rows = await this.store.ofTeam(teamId);
    const labels = await this.store.labelsFor(rows.map((r) => r.profile_uuid));
    return rows.map((r) => toJson(r, labels.get(r.profile_uuid)));
  }

  async get(uuid: string): Promise<ProfileDetail | undefined> {
    const r = await this.store.get(uuid);
    if (!r) return undefined;
    const labels = await this.store.labelsFor([uuid]);
    const date = (toApiTime(r.uploaded_at) ?? '').slice(0, 10);
    return {
      json: toJson(r, labels.get(uuid)),
      teamId: r.team_id,
      download: {
        bytes: Buffer.from(r.raw_json),
        filename: `${date} ${r.name}.json`,
        contentType: 'application/json',
      },
    };
  }

  async delete(trx: Transaction<DB>, uuid: string, now: string): Promise<void> {
    await this.store.delete(uuid, now, trx);
  }

  deletedActivity(profile: ProfileJson): ProfileActivity {
    return { type: 'deleted_android_profile', details: { profile_name: profile.name } };
  }

  /**
   * The team's Android profiles become the batch's: matched by name and updated in place
   * (uploaded_at moves only when the JSON changed), absent ones deleted. Only new and changed
   * profiles are marked pending.
   */
  async replaceTeamSet(
    trx: Transaction<DB>,
    teamId: number,
    items: { parsed: ParsedProfile; labels: LabelRef[] }[],
    now: string,
  ): Promise<{ pending: string[]; edited: string[] }> {
    const existing = await this.store.ofTeam(teamId, trx);
    const oldLabels = await this.store.labelsFor(
      existing.map((e) => e.profile_uuid),
      trx,
    );
    const wanted = new Set(items.map((i) => i.parsed.name));
    let edited = false;
    for (const e of existing) {
      if (wanted.has(e.name)) continue;
      await this.store.delete(e.profile_uuid, now, trx);
      edited = true;
    }
    const pending: string[] = [];
    for (const { parsed, labels } of items) {
      const p = (parsed as AndroidUpload).android;
      const cur = existing.find((e) => e.name === p.name);
      let uuid: string;
      let changed = false;
      if (cur) {
        uuid = cur.profile_uuid;
        if (cur.checksum !== p.checksum) {
          await this.store.update(uuid, { raw_json: p.rawJson, checksum: p.checksum, uploaded_at: now }, trx);
          changed = true;
        }
        if (!sameLabels(oldLabels.get(uuid) ?? [], labels)) changed = true;
      } else {
        uuid = `g${randomUUID()}`;
        await this.store.insert(row(uuid, teamId, p, now), trx);
        changed = true;
      }
      await this.store.replaceLabels(uuid, labels, now, trx);
      if (changed) pending.push(uuid);
      edited ||= changed;
    }
    return { pending, edited: edited ? ['edited_android_profile'] : [] };
  }

  async markPending(scope: PendingScope): Promise<void> {
    await this.profileManager.markPending({ hostIds: scope.hostIds, profileUuids: scope.profileUuids });
  }

  forgetHosts(hostUuids: string[]): Promise<void> {
    return this.store.deleteRowsOfHosts(hostUuids);
  }

  summary(teamId: number | null): Promise<StatusCounts> {
    return this.store.summary(teamId);
  }

  profileStatus(uuid: string): Promise<StatusCounts> {
    return this.store.profileStatus(uuid);
  }

  /** `mdm.profiles` entries of GET /hosts/:id: pending removals hidden, NULL shown as pending. */
  async hostProfiles(hostUuid: string): Promise<HostProfileJson[]> {
    return hostProfilesJson(await this.store.rowsOfHost(hostUuid), 'android');
  }

  /** Back to "decided, not yet sent": the manager sends the host's policy again. */
  async resend(hostUuid: string, profileUuid: string): Promise<{ name: string | null } | undefined> {
    const n = await this.store.resetForResend(hostUuid, profileUuid, dbNow());
    if (n === 0) return undefined;
    return { name: (await this.store.get(profileUuid))?.name ?? null };
  }
}

function row(uuid: string, teamId: number, p: ParsedAndroidProfile, now: string): AndroidProfileRow {
  return {
    profile_uuid: uuid,
    team_id: teamId,
    name: p.name,
    raw_json: p.rawJson,
    checksum: p.checksum,
    created_at: now,
    uploaded_at: now,
  };
}

function toJson(r: AndroidProfileRow, labels: LabelRef[] | undefined): ProfileJson {
  const json: ProfileJson = {
    profile_uuid: r.profile_uuid,
    team_id: r.team_id,
    name: r.name,
    platform: 'android',
    identifier: '',
    created_at: toApiTime(r.created_at),
    updated_at: toApiTime(r.uploaded_at),
    checksum: Buffer.from(r.checksum, 'hex').toString('base64'),
    scope: '',
  };
  return withLabelsJson(json, labels);
}
