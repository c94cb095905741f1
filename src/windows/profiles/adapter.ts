import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { dbNow, toApiTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { badRequest } from '../../http/errors.js';
import type { LabelRef } from '../../mdm/profiles/labelRows.js';
import { sameLabels } from '../../mdm/profiles/labelRows.js';
import { looksLikeJson } from '../../mdm/profiles/jsonProfileKind.js';
import { hostProfilesJson, withLabelsJson } from '../../mdm/profiles/profileJson.js';
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
import type { WindowsProfileManager } from './manager.js';
import type { WindowsProfileRow, WindowsProfileStore } from './store.js';
import { parseWindowsProfile, type ParsedWindowsProfile } from './validate.js';

/** Raised when Windows MDM is off: Windows profiles cannot be added. */
export const windowsMdmOff = () => badRequest("Couldn't add. Windows MDM isn't turned on.", 'profile');

/** A validated Windows upload as the core carries it. */
interface WindowsUpload extends ParsedProfile {
  windows: ParsedWindowsProfile;
}

/** The profile's name is its file's name without the extension. */
function fileBaseName(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * Windows' configuration profiles for the MDM core (`w…` UUIDs): SyncML fragments validated here,
 * stored in mdm_windows_configuration_profiles, delivered and verified by the Windows manager.
 */
export class WindowsProfiles implements PlatformProfiles {
  readonly fileExtensions = ['xml'];
  readonly uuidPrefixes = ['w'];
  readonly manager: PlatformProfiles['manager'];

  constructor(
    private readonly store: WindowsProfileStore,
    private readonly profileManager: Pick<WindowsProfileManager, 'markPending'>,
    private readonly enabled: () => Promise<boolean>,
    tick: () => Promise<unknown>,
  ) {
    this.manager = { job: 'mdm_windows_profile_manager', tick };
  }

  /**
   * An .xml file that is not a plist (Apple's); without an .xml extension, any file that is
   * neither a plist nor JSON (JSON is Apple's declarations or Android's policies).
   */
  claims(ext: string | undefined, bytes: Buffer): boolean {
    if (bytes.includes('<plist')) return false;
    return ext === 'xml' || (ext !== 'json' && !looksLikeJson(bytes));
  }

  async parse(filename: string, bytes: Buffer, opts: ParseOptions): Promise<WindowsUpload> {
    // A GitOps run that turns Windows MDM on in the same apply may upload before it is on.
    if (!opts.assumeEnabled && !(await this.enabled())) throw windowsMdmOff();
    const windows = parseWindowsProfile(fileBaseName(filename), bytes);
    return { name: windows.name, windows };
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
    const uuid = `w${randomUUID()}`;
    await this.store.insert(row(uuid, teamId, (parsed as WindowsUpload).windows, now), trx);
    await this.store.replaceLabels(uuid, labels, now, trx);
    return uuid;
  }

  createdActivity(parsed: ParsedProfile): ProfileActivity {
    return { type: 'created_windows_profile', details: { profile_name: parsed.name } };
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
        bytes: Buffer.from(r.syncml),
        filename: `${date} ${r.name}.xml`,
        contentType: 'application/xml',
      },
    };
  }

  async delete(trx: Transaction<DB>, uuid: string, now: string): Promise<void> {
    await this.store.delete(uuid, now, trx);
  }

  deletedActivity(profile: ProfileJson): ProfileActivity {
    return { type: 'deleted_windows_profile', details: { profile_name: profile.name } };
  }

  /**
   * The team's Windows profiles become the batch's: matched by name and updated in place
   * (uploaded_at moves only when the SyncML changed), absent ones deleted.
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
      const p = (parsed as WindowsUpload).windows;
      const cur = existing.find((e) => e.name === p.name);
      let uuid: string;
      if (cur) {
        uuid = cur.profile_uuid;
        if (cur.checksum !== p.checksum) {
          await this.store.update(
            uuid,
            { syncml: p.syncml, checksum: p.checksum, scope: p.scope, uploaded_at: now },
            trx,
          );
          edited = true;
        }
        if (!sameLabels(oldLabels.get(uuid) ?? [], labels)) edited = true;
      } else {
        uuid = `w${randomUUID()}`;
        await this.store.insert(row(uuid, teamId, p, now), trx);
        edited = true;
      }
      await this.store.replaceLabels(uuid, labels, now, trx);
      pending.push(uuid);
    }
    return { pending, edited: edited ? ['edited_windows_profile'] : [] };
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
    return hostProfilesJson(await this.store.rowsOfHost(hostUuid), 'windows');
  }

  /** Back to "decided, not yet queued" so the manager sends it again. */
  async resend(hostUuid: string, profileUuid: string): Promise<{ name: string | null } | undefined> {
    const n = await this.store.resetForResend(hostUuid, profileUuid, dbNow());
    if (n === 0) return undefined;
    return { name: (await this.store.get(profileUuid))?.name ?? null };
  }
}

function row(uuid: string, teamId: number, p: ParsedWindowsProfile, now: string): WindowsProfileRow {
  return {
    profile_uuid: uuid,
    team_id: teamId,
    name: p.name,
    scope: p.scope,
    syncml: p.syncml,
    checksum: p.checksum,
    created_at: now,
    uploaded_at: now,
    secrets_updated_at: null,
  };
}

function toJson(r: WindowsProfileRow, labels: LabelRef[] | undefined): ProfileJson {
  const json: ProfileJson = {
    profile_uuid: r.profile_uuid,
    team_id: r.team_id,
    name: r.name,
    platform: 'windows',
    identifier: '',
    created_at: toApiTime(r.created_at),
    updated_at: toApiTime(r.uploaded_at),
    checksum: Buffer.from(r.checksum, 'hex').toString('base64'),
    scope: r.scope,
  };
  return withLabelsJson(json, labels);
}
