import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Actor, ActivityService } from '../../admin/activityService.js';
import { dbNow, isUniqueViolation, toApiTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { HttpError, badRequest } from '../../http/errors.js';
import { hostProfilesJson, withLabelsJson, type LabelsJson } from '../../profiles/profileJson.js';
import type { LabelRef } from '../../profiles/store.js';
import type { WindowsProfileManager } from './manager.js';
import type { StatusCounts, WindowsProfileRow, WindowsProfileStore } from './store.js';
import { parseWindowsProfile, type ParsedWindowsProfile } from './validate.js';

export interface WindowsProfileJson extends LabelsJson {
  profile_uuid: string;
  team_id: number;
  name: string;
  platform: 'windows';
  identifier: string;
  created_at: string | null;
  updated_at: string | null;
  checksum: string;
  scope: string;
}

const SAME_NAME =
  "Couldn't add. A configuration profile with this name already exists (PayloadDisplayName for .mobileconfig and file name for .json and .xml).";
const conflict409 = () =>
  new HttpError(409, 'Resource Already Exists', [{ name: 'profile', reason: SAME_NAME }]);

/** Raised when Windows MDM is off: Windows profiles cannot be added. */
export const windowsMdmOff = () => badRequest("Couldn't add. Windows MDM isn't turned on.", 'profile');

/**
 * Admin operations on Windows profiles, plugged into the configuration profiles API through its
 * Windows hook (so /configuration_profiles handles `w…` UUIDs). Team and label checks are done by
 * the caller; this validates the SyncML, keeps names unique in the team across every kind, and
 * marks affected hosts pending at once.
 */
export class WindowsProfileAdmin {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: WindowsProfileStore,
    private readonly manager: WindowsProfileManager,
    private readonly activities: ActivityService,
    private readonly enabled: () => Promise<boolean>,
  ) {}

  private async requireEnabled(): Promise<void> {
    if (!(await this.enabled())) throw windowsMdmOff();
  }

  async create(
    actor: Actor,
    teamId: number,
    upload: { name: string; bytes: Buffer },
    labels: LabelRef[],
  ): Promise<string> {
    await this.requireEnabled();
    const parsed = parseWindowsProfile(upload.name, upload.bytes);
    const now = dbNow();
    const uuid = `w${randomUUID()}`;
    try {
      await this.db.transaction().execute(async (trx) => {
        if (await this.store.nameInUse(teamId, parsed.name, undefined, trx)) throw conflict409();
        await this.store.insert(row(uuid, teamId, parsed, now), trx);
        await this.store.replaceLabels(uuid, labels, now, trx);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict409();
      throw err;
    }
    await this.manager.markPending({ profileUuids: [uuid] });
    await this.activities.record(actor, 'created_windows_profile', {
      profile_name: parsed.name,
      team_id: teamId || null,
      team_name: await this.teamName(teamId),
    });
    return uuid;
  }

  async list(teamId: number): Promise<WindowsProfileJson[]> {
    const rows = await this.store.ofTeam(teamId);
    const labels = await this.store.labelsFor(rows.map((r) => r.profile_uuid));
    return rows.map((r) => toJson(r, labels.get(r.profile_uuid)));
  }

  async get(
    uuid: string,
  ): Promise<
    { json: WindowsProfileJson; teamId: number; download: { bytes: Buffer; filename: string } } | undefined
  > {
    const r = await this.store.get(uuid);
    if (!r) return undefined;
    const labels = await this.store.labelsFor([uuid]);
    const date = (toApiTime(r.uploaded_at) ?? '').slice(0, 10);
    return {
      json: toJson(r, labels.get(uuid)),
      teamId: r.team_id,
      download: { bytes: Buffer.from(r.syncml), filename: `${date} ${r.name}.xml` },
    };
  }

  async delete(actor: Actor, uuid: string): Promise<void> {
    const r = await this.store.get(uuid);
    if (!r) return;
    await this.db.transaction().execute((trx) => this.store.delete(uuid, dbNow(), trx));
    await this.activities.record(actor, 'deleted_windows_profile', {
      profile_name: r.name,
      team_id: r.team_id || null,
      team_name: await this.teamName(r.team_id),
    });
  }

  /** Validates one batch item (throws the upload error); Windows MDM must be on. */
  /** With `assumeEnabled` (GitOps applying a config that turns Windows MDM on) the MDM check is skipped. */
  async validateForBatch(
    name: string,
    bytes: Buffer,
    opts: { assumeEnabled?: boolean } = {},
  ): Promise<{ name: string }> {
    if (!opts.assumeEnabled) await this.requireEnabled();
    return { name: parseWindowsProfile(name, bytes).name };
  }

  /**
   * Replaces the team's Windows profiles inside the caller's batch transaction: matched by name and
   * updated in place (uploaded_at moves only when the SyncML changed), absent ones deleted.
   * Returns the UUIDs whose hosts must be marked pending once the transaction commits.
   */
  async applyBatch(
    trx: Transaction<DB>,
    teamId: number,
    items: { name: string; bytes: Buffer; labels: LabelRef[] }[],
    now: string,
  ): Promise<string[]> {
    const existing = await this.store.ofTeam(teamId, trx);
    const wanted = new Set(items.map((i) => i.name));
    for (const e of existing) if (!wanted.has(e.name)) await this.store.delete(e.profile_uuid, now, trx);
    const changed: string[] = [];
    for (const item of items) {
      const p = parseWindowsProfile(item.name, item.bytes);
      const cur = existing.find((e) => e.name === p.name);
      let uuid: string;
      if (cur) {
        uuid = cur.profile_uuid;
        if (cur.checksum !== p.checksum)
          await this.store.update(
            uuid,
            { syncml: p.syncml, checksum: p.checksum, scope: p.scope, uploaded_at: now },
            trx,
          );
      } else {
        uuid = `w${randomUUID()}`;
        await this.store.insert(row(uuid, teamId, p, now), trx);
      }
      await this.store.replaceLabels(uuid, item.labels, now, trx);
      changed.push(uuid);
    }
    return changed;
  }

  async markPending(uuids: string[]): Promise<void> {
    await this.manager.markPending({ profileUuids: uuids });
  }

  summary(teamId: number | null): Promise<StatusCounts> {
    return this.store.summary(teamId);
  }

  profileStatus(uuid: string): Promise<StatusCounts> {
    return this.store.profileStatus(uuid);
  }

  /** `mdm.profiles` entries of GET /hosts/:id: pending removals hidden, NULL shown as pending. */
  async hostProfiles(hostUuid: string) {
    return hostProfilesJson(await this.store.rowsOfHost(hostUuid), 'windows');
  }

  /** Resend: back to "decided, not yet queued" so the manager sends it again. Returns the profile name or undefined. */
  async resend(hostUuid: string, profileUuid: string): Promise<{ name: string | null } | undefined> {
    const n = await this.store.resetForResend(hostUuid, profileUuid, dbNow());
    if (n === 0) return undefined;
    return { name: (await this.store.get(profileUuid))?.name ?? null };
  }

  private async teamName(teamId: number): Promise<string | null> {
    if (!teamId) return null;
    const t = await this.db.selectFrom('teams').select('name').where('id', '=', teamId).executeTakeFirst();
    return t?.name ?? null;
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

function toJson(r: WindowsProfileRow, labels: LabelRef[] | undefined): WindowsProfileJson {
  const json: WindowsProfileJson = {
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
