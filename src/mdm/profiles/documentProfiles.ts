import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { dbNow, toApiTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
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
} from '../platform.js';
import type { DocumentProfileColumns, DocumentProfileStore } from './documentStore.js';
import { sameLabels, type LabelRef } from './labelRows.js';
import { hostProfilesJson, withLabelsJson, type HostProfileStatusRow } from './profileJson.js';

/** A validated document: its name and the checksum that says whether an upload changed it. */
export interface ParsedDocument {
  name: string;
  checksum: string;
}

/** What the shared adapter needs of a platform's store beyond the definition SQL. */
export interface DocumentStatusStore<Row extends DocumentProfileColumns> extends Pick<
  DocumentProfileStore<Row>,
  'nameInUse' | 'insert' | 'update' | 'get' | 'ofTeam' | 'replaceLabels' | 'labelsFor'
> {
  delete(uuid: string, now: string, db: Transaction<DB>): Promise<void>;
  deleteRowsOfHosts(hostUuids: string[]): Promise<void>;
  summary(teamId: number | null): Promise<StatusCounts>;
  profileStatus(uuid: string): Promise<StatusCounts>;
  rowsOfHost(hostUuid: string): Promise<HostProfileStatusRow[]>;
  resetForResend(hostUuid: string, profileUuid: string, now: string): Promise<number>;
}

/** The constants that tell one document platform from another. */
export interface DocumentPlatformSpec {
  /** The family as the API names it (`windows`, `android`): JSON `platform`, activity names. */
  family: string;
  /** First letter of the platform's profile UUIDs. */
  uuidPrefix: string;
  /** Extension (no dot) of uploads and downloads. */
  fileExtension: string;
  /** Content type of `?alt=media` downloads. */
  contentType: string;
  /** The cron job of the platform's profile manager. */
  job: string;
  /**
   * In a batch, only new and changed profiles are marked pending (true), or every profile of the
   * batch is (false).
   */
  pendOnlyChanged: boolean;
}

/** A validated upload as the core carries it. */
interface DocumentUpload<Doc extends ParsedDocument> extends ParsedProfile {
  doc: Doc;
}

/** The profile's name is its file's name without the extension. */
export function fileBaseName(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * The profiles adapter of a platform that keeps one document per profile in one definition table
 * (Windows' SyncML, Android's policy JSON). A platform supplies its constants, which files it
 * claims, how it validates a document and which columns hold it.
 */
export abstract class DocumentProfiles<
  Row extends DocumentProfileColumns,
  Doc extends ParsedDocument,
> implements PlatformProfiles {
  readonly fileExtensions: string[];
  readonly uuidPrefixes: string[];
  readonly manager: PlatformProfiles['manager'];

  constructor(
    private readonly spec: DocumentPlatformSpec,
    protected readonly store: DocumentStatusStore<Row>,
    private readonly profileManager: {
      markPending(scope: { hostIds?: number[]; profileUuids?: string[] }): Promise<unknown>;
    },
    private readonly enabled: () => Promise<boolean>,
    tick: () => Promise<unknown>,
  ) {
    this.fileExtensions = [spec.fileExtension];
    this.uuidPrefixes = [spec.uuidPrefix];
    this.manager = { job: spec.job, tick };
  }

  abstract claims(ext: string | undefined, bytes: Buffer): boolean;
  /** The 4xx raised when the platform's MDM is off. */
  protected abstract mdmOff(): Error;
  /** Validates a document named `name` (throws the 4xx). */
  protected abstract parseDocument(name: string, bytes: Buffer): Doc;
  /** A new definition row. */
  protected abstract newRow(uuid: string, teamId: number, doc: Doc, now: string): Row;
  /** The columns an upload with a changed document rewrites (uploaded_at included). */
  protected abstract changedColumns(doc: Doc, now: string): Partial<Row>;
  /** The stored document, as `?alt=media` downloads it. */
  protected abstract documentOf(row: Row): string;
  /** The `scope` field of the profile's JSON. */
  protected abstract scopeOf(row: Row): string;

  async parse(filename: string, bytes: Buffer, opts: ParseOptions): Promise<DocumentUpload<Doc>> {
    // A GitOps run that turns the platform's MDM on in the same apply may upload before it is on.
    if (!opts.assumeEnabled && !(await this.enabled())) throw this.mdmOff();
    const doc = this.parseDocument(fileBaseName(filename), bytes);
    return { name: doc.name, doc };
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
    const uuid = `${this.spec.uuidPrefix}${randomUUID()}`;
    await this.store.insert(this.newRow(uuid, teamId, (parsed as DocumentUpload<Doc>).doc, now), trx);
    await this.store.replaceLabels(uuid, labels, now, trx);
    return uuid;
  }

  createdActivity(parsed: ParsedProfile): ProfileActivity {
    return { type: `created_${this.spec.family}_profile`, details: { profile_name: parsed.name } };
  }

  async list(teamId: number): Promise<ProfileJson[]> {
    const rows = await this.store.ofTeam(teamId);
    const labels = await this.store.labelsFor(rows.map((r) => r.profile_uuid));
    return rows.map((r) => this.toJson(r, labels.get(r.profile_uuid)));
  }

  async get(uuid: string): Promise<ProfileDetail | undefined> {
    const r = await this.store.get(uuid);
    if (!r) return undefined;
    const labels = await this.store.labelsFor([uuid]);
    const date = (toApiTime(r.uploaded_at) ?? '').slice(0, 10);
    return {
      json: this.toJson(r, labels.get(uuid)),
      teamId: r.team_id,
      download: {
        bytes: Buffer.from(this.documentOf(r)),
        filename: `${date} ${r.name}.${this.spec.fileExtension}`,
        contentType: this.spec.contentType,
      },
    };
  }

  async delete(trx: Transaction<DB>, uuid: string, now: string): Promise<void> {
    await this.store.delete(uuid, now, trx);
  }

  deletedActivity(profile: ProfileJson): ProfileActivity {
    return { type: `deleted_${this.spec.family}_profile`, details: { profile_name: profile.name } };
  }

  /**
   * The team's profiles become the batch's: matched by name and updated in place (uploaded_at
   * moves only when the document changed), absent ones deleted.
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
      const doc = (parsed as DocumentUpload<Doc>).doc;
      const cur = existing.find((e) => e.name === doc.name);
      let uuid: string;
      let changed = false;
      if (cur) {
        uuid = cur.profile_uuid;
        if (cur.checksum !== doc.checksum) {
          await this.store.update(uuid, this.changedColumns(doc, now), trx);
          changed = true;
        }
        if (!sameLabels(oldLabels.get(uuid) ?? [], labels)) changed = true;
      } else {
        uuid = `${this.spec.uuidPrefix}${randomUUID()}`;
        await this.store.insert(this.newRow(uuid, teamId, doc, now), trx);
        changed = true;
      }
      await this.store.replaceLabels(uuid, labels, now, trx);
      if (changed || !this.spec.pendOnlyChanged) pending.push(uuid);
      edited ||= changed;
    }
    return { pending, edited: edited ? [`edited_${this.spec.family}_profile`] : [] };
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
    return hostProfilesJson(await this.store.rowsOfHost(hostUuid), this.spec.family);
  }

  /** Back to "decided, not yet sent" so the manager sends it again. */
  async resend(hostUuid: string, profileUuid: string): Promise<{ name: string | null } | undefined> {
    const n = await this.store.resetForResend(hostUuid, profileUuid, dbNow());
    if (n === 0) return undefined;
    return { name: (await this.store.get(profileUuid))?.name ?? null };
  }

  private toJson(r: Row, labels: LabelRef[] | undefined): ProfileJson {
    const json: ProfileJson = {
      profile_uuid: r.profile_uuid,
      team_id: r.team_id,
      name: r.name,
      platform: this.spec.family,
      identifier: '',
      created_at: toApiTime(r.created_at),
      updated_at: toApiTime(r.uploaded_at),
      checksum: Buffer.from(r.checksum, 'hex').toString('base64'),
      scope: this.scopeOf(r),
    };
    return withLabelsJson(json, labels);
  }
}
