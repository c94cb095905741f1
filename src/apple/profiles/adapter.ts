import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { dbNow, toApiTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { HttpError, badRequest } from '../../http/errors.js';
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
import { sameLabels, type LabelRef } from '../../mdm/profiles/labelRows.js';
import { jsonProfileKind } from '../../mdm/profiles/jsonProfileKind.js';
import { hostProfilesJson, withLabelsJson } from '../../mdm/profiles/profileJson.js';
import type { HostStatusStore } from './hostStatusStore.js';
import type { ProfileManager } from './manager.js';
import type { AppleProfileRow, DeclarationRow, ProfileStore } from './store.js';
import {
  declarationToken,
  md5Hex,
  parseAppleProfile,
  parseDeclaration,
  type ParsedAppleProfile,
  type ParsedDeclaration,
} from './validate.js';

const conflict409 = (reason: string) =>
  new HttpError(409, 'Resource Already Exists', [{ name: 'profile', reason }]);
const SAME_IDENTIFIER =
  "Couldn't add. A configuration profile with this identifier (PayloadIdentifier) already exists.";
const SAME_DECL_IDENTIFIER =
  "Couldn't add. A declaration profile with this identifier (Identifier) already exists.";
const noDeclarationResend = () => badRequest("Can't resend declaration (DDM) profiles.", 'profile_uuid');

/** A validated Apple upload as the core carries it: a configuration profile or a DDM declaration. */
interface AppleUpload extends ParsedProfile {
  apple: ParsedAppleProfile | ParsedDeclaration;
}

/** Is this file a declaration (JSON) rather than a configuration profile (plist, maybe signed)? */
function isDeclaration(ext: string | undefined, bytes: Buffer): boolean {
  if (ext === 'mobileconfig') return false;
  if (ext === 'json') return true;
  if (bytes[0] === 0x30) return false; // DER: a signed profile
  return bytes.subarray(0, 512).toString('utf8').trimStart().startsWith('{');
}

const extensionOf = (filename: string) => filename.toLowerCase().split('.').pop();

/**
 * Apple's configuration profiles (`a…`, .mobileconfig) and DDM declarations (`d…`, .json) for the
 * MDM core: validated here, stored in their own tables, delivered by the Apple profile manager
 * (InstallProfile/RemoveProfile and the DDM channel) and verified by ProfileList.
 */
export class AppleProfiles implements PlatformProfiles {
  readonly fileExtensions = ['mobileconfig', 'json'];
  readonly uuidPrefixes = ['a', 'd'];
  readonly manager: PlatformProfiles['manager'];
  /** Fleet lists a Mac's, iPhone's or iPad's team configuration profiles (not declarations). */
  readonly teamProfilesForHost = {
    hostsLabel: 'macOS, iOS and iPadOS',
    list: async (teamId: number): Promise<ProfileJson[]> => {
      const rows = (await this.store.appleProfilesOfTeam(teamId)).filter(isCustom);
      const labels = await this.store.labelsFor(rows.map((r) => r.profile_uuid));
      return rows.map((r) => appleJson(r, labels));
    },
  };

  constructor(
    private readonly store: ProfileStore,
    private readonly statuses: HostStatusStore,
    private readonly profileManager: Pick<ProfileManager, 'markPending' | 'tick'>,
  ) {
    this.manager = { job: 'mdm_apple_profile_manager', tick: () => profileManager.tick() };
  }

  /**
   * Its extensions; an .xml file or one without extension when it holds a plist, JSON or DER.
   * JSON only when it is shaped like a declaration (or not JSON at all, to say so): Android's
   * policy fragments are JSON too.
   */
  claims(ext: string | undefined, bytes: Buffer): boolean {
    if (ext === 'mobileconfig') return true;
    if (ext === 'json') return jsonProfileKind(bytes) !== 'android';
    if (ext === 'xml') return bytes.includes('<plist');
    const head = bytes.subarray(0, 512).toString('utf8').trimStart();
    if (bytes[0] === 0x30 || bytes.includes('<plist')) return true;
    return head.startsWith('{') && jsonProfileKind(bytes) !== 'android';
  }

  async parse(filename: string, bytes: Buffer, opts: ParseOptions): Promise<AppleUpload> {
    if (!isDeclaration(extensionOf(filename), bytes)) {
      const p = parseAppleProfile(bytes);
      return { name: p.name, batchKey: { key: `apple:${p.identifier}`, shown: p.identifier }, apple: p };
    }
    let d = parseDeclaration(bytes, filename);
    // A batch item's name is the declaration's name, whatever its file was called.
    if (opts.batch) d = { ...d, name: filename.replace(/\.json$/i, '') };
    return { name: d.name, batchKey: { key: `declaration:${d.identifier}`, shown: d.identifier }, apple: d };
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
    const p = (parsed as AppleUpload).apple;
    if (p.kind === 'apple') {
      if (await this.store.appleIdentifierInUse(teamId, p.identifier, trx))
        throw conflict409(SAME_IDENTIFIER);
      const id = `a${randomUUID()}`;
      await this.store.insertAppleProfile(newAppleProfileRow(id, teamId, p, now), trx);
      await this.store.replaceAppleProfileLabels(id, labels, now, trx);
      return id;
    }
    if (await this.store.declarationIdentifierInUse(teamId, p.identifier, trx))
      throw conflict409(SAME_DECL_IDENTIFIER);
    const id = `d${randomUUID()}`;
    await this.store.insertDeclaration(declarationRow(id, teamId, p, now), trx);
    await this.store.replaceDeclarationLabels(id, labels, now, trx);
    return id;
  }

  createdActivity(parsed: ParsedProfile): ProfileActivity {
    const p = (parsed as AppleUpload).apple;
    return p.kind === 'apple'
      ? { type: 'created_macos_profile', details: { profile_name: p.name, profile_identifier: p.identifier } }
      : { type: 'created_declaration_profile', details: { profile_name: p.name, identifier: p.identifier } };
  }

  async list(teamId: number): Promise<ProfileJson[]> {
    // Fleet lists custom profiles only: the ones it installs itself (FileVault, ...) are hidden.
    const apple = (await this.store.appleProfilesOfTeam(teamId)).filter(isCustom);
    const decl = await this.store.declarationsOfTeam(teamId);
    const labels = await this.store.labelsFor([
      ...apple.map((p) => p.profile_uuid),
      ...decl.map((d) => d.declaration_uuid),
    ]);
    return [...apple.map((p) => appleJson(p, labels)), ...decl.map((d) => declarationJson(d, labels))];
  }

  async get(uuid: string): Promise<ProfileDetail | undefined> {
    if (uuid.startsWith('a')) {
      const p = await this.store.getAppleProfile(uuid);
      if (!p) return undefined;
      const date = (toApiTime(p.uploaded_at) ?? '').slice(0, 10);
      return {
        json: appleJson(p, await this.store.labelsFor([uuid])),
        teamId: p.team_id,
        download: {
          bytes: Buffer.from(p.mobileconfig),
          filename: `${date} ${p.name}.mobileconfig`,
          contentType: 'application/x-apple-aspen-config',
        },
      };
    }
    const d = await this.store.getDeclaration(uuid);
    if (!d) return undefined;
    const date = (toApiTime(d.uploaded_at) ?? '').slice(0, 10);
    return {
      json: declarationJson(d, await this.store.labelsFor([uuid])),
      teamId: d.team_id,
      download: {
        bytes: Buffer.from(d.raw_json),
        filename: `${date} ${d.name}.json`,
        contentType: 'application/json',
      },
    };
  }

  async delete(trx: Transaction<DB>, uuid: string, now: string): Promise<void> {
    if (uuid.startsWith('a')) {
      const p = await this.store.getAppleProfile(uuid, trx);
      if (p && !isCustom(p))
        throw badRequest("profiles managed by Fleet can't be deleted using this endpoint.");
    }
    if (uuid.startsWith('a')) await this.store.deleteAppleProfile(uuid, now, trx);
    else await this.store.deleteDeclaration(uuid, now, trx);
  }

  deletedActivity(profile: ProfileJson): ProfileActivity {
    return profile.profile_uuid.startsWith('a')
      ? {
          type: 'deleted_macos_profile',
          details: { profile_name: profile.name, profile_identifier: profile.identifier },
        }
      : {
          type: 'deleted_declaration_profile',
          details: { profile_name: profile.name, identifier: profile.identifier },
        };
  }

  /**
   * The team's Apple profiles and declarations become the batch's. Profiles are matched by
   * identifier, declarations by name, and updated in place (uploaded_at moves only when the
   * content changed); absent ones are deleted first so their names and identifiers free up.
   */
  async replaceTeamSet(
    trx: Transaction<DB>,
    teamId: number,
    items: { parsed: ParsedProfile; labels: LabelRef[] }[],
    now: string,
  ): Promise<{ pending: string[]; edited: string[] }> {
    const wanted = items.map((i) => ({ p: (i.parsed as AppleUpload).apple, labels: i.labels }));
    // A batch replaces the team's custom profiles; the ones Fleet installs itself stay.
    const existingApple = (await this.store.appleProfilesOfTeam(teamId, trx)).filter(isCustom);
    const existingDecl = await this.store.declarationsOfTeam(teamId, trx);
    const oldLabels = await this.store.labelsFor(
      [...existingApple.map((e) => e.profile_uuid), ...existingDecl.map((e) => e.declaration_uuid)],
      trx,
    );
    let profilesEdited = false;
    let declarationsEdited = false;

    const wantedIdents = new Set(wanted.flatMap((x) => (x.p.kind === 'apple' ? [x.p.identifier] : [])));
    const wantedDeclNames = new Set(wanted.flatMap((x) => (x.p.kind === 'declaration' ? [x.p.name] : [])));
    for (const e of existingApple) {
      if (wantedIdents.has(e.identifier)) continue;
      await this.store.deleteAppleProfile(e.profile_uuid, now, trx);
      profilesEdited = true;
    }
    for (const e of existingDecl) {
      if (wantedDeclNames.has(e.name)) continue;
      await this.store.deleteDeclaration(e.declaration_uuid, now, trx);
      declarationsEdited = true;
    }

    const pending: string[] = [];
    for (const { p, labels } of wanted) {
      if (p.kind === 'apple') {
        const cur = existingApple.find((e) => e.identifier === p.identifier);
        const uuid = cur?.profile_uuid ?? `a${randomUUID()}`;
        if (!cur) {
          await this.store.insertAppleProfile(newAppleProfileRow(uuid, teamId, p, now), trx);
          profilesEdited = true;
        } else if (cur.checksum !== p.checksum || cur.name !== p.name) {
          await this.store.updateAppleProfile(
            uuid,
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
          profilesEdited = true;
        }
        if (cur && !sameLabels(oldLabels.get(uuid) ?? [], labels)) profilesEdited = true;
        await this.store.replaceAppleProfileLabels(uuid, labels, now, trx);
        pending.push(uuid);
      } else {
        const cur = existingDecl.find((e) => e.name === p.name);
        const uuid = cur?.declaration_uuid ?? `d${randomUUID()}`;
        if (!cur) {
          await this.store.insertDeclaration(declarationRow(uuid, teamId, p, now), trx);
          declarationsEdited = true;
        } else if (cur.raw_json !== p.rawJson) {
          await this.store.updateDeclaration(
            uuid,
            {
              identifier: p.identifier,
              raw_json: p.rawJson,
              token: declarationToken(p.rawJson, cur.secrets_updated_at),
              scope: p.scope,
              uploaded_at: now,
            },
            trx,
          );
          declarationsEdited = true;
        }
        if (cur && !sameLabels(oldLabels.get(uuid) ?? [], labels)) declarationsEdited = true;
        await this.store.replaceDeclarationLabels(uuid, labels, now, trx);
        pending.push(uuid);
      }
    }
    const edited: string[] = [];
    if (profilesEdited) edited.push('edited_macos_profile');
    if (declarationsEdited) edited.push('edited_declaration_profile');
    return { pending, edited };
  }

  async markPending(scope: PendingScope): Promise<void> {
    await this.profileManager.markPending(scope);
  }

  forgetHosts(hostUuids: string[]): Promise<void> {
    return this.statuses.deleteRowsOfHosts(hostUuids);
  }

  summary(teamId: number | null): Promise<StatusCounts> {
    return this.statuses.summary(teamId);
  }

  profileStatus(uuid: string): Promise<StatusCounts> {
    return this.statuses.profileStatus(uuid.startsWith('d') ? 'declaration' : 'apple', uuid);
  }

  /** Profiles and declarations of a host: pending removals hidden, NULL shown as pending. */
  async hostProfiles(hostUuid: string): Promise<HostProfileJson[]> {
    return hostProfilesJson(await this.statuses.rowsOfHost(hostUuid), 'darwin');
  }

  async resend(hostUuid: string, profileUuid: string): Promise<{ name: string | null } | undefined> {
    if (profileUuid.startsWith('d')) throw noDeclarationResend();
    const n = await this.statuses.resetForResend(hostUuid, profileUuid, dbNow());
    if (n === 0) return undefined;
    return { name: (await this.store.getAppleProfile(profileUuid))?.name ?? null };
  }

  async resendByStatus(
    profileUuid: string,
    status: string,
  ): Promise<{ name: string; hosts: number } | undefined> {
    if (profileUuid.startsWith('d')) throw noDeclarationResend();
    const p = await this.store.getAppleProfile(profileUuid);
    if (!p) return undefined;
    return { name: p.name, hosts: await this.statuses.resetForResendByStatus(profileUuid, status, dbNow()) };
  }
}

/** Profiles Fleet installs itself (FileVault, fleetd configuration, root CA) are not custom. */
const fleetManagedIdentifiers = new Set([
  'com.fleetdm.fleet.mdm.filevault',
  'com.fleetdm.fleetd.config',
  'com.fleetdm.caroot',
]);
const isCustom = (p: Pick<AppleProfileRow, 'identifier'>) => !fleetManagedIdentifiers.has(p.identifier);

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
