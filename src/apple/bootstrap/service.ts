import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ActivityService, Actor } from '../../admin/activityService.js';
import { dbNow, isUniqueViolation, toApiTime } from '../../db/dialect.js';
import { alreadyExists, badRequest, HttpError, notFound } from '../../http/errors.js';
import type { TeamStore } from '../../teams/store.js';
import { buildCommandPlist } from '../commands/build.js';
import type { AppleCommandResultEvent } from '../events.js';
import { formatErrorChain } from '../profiles/results.js';
import type { BootstrapPackageMeta, BootstrapPackageStore } from './store.js';
import { PackageCheckError, XarSignatureCheck } from './xar.js';

/**
 * Rows of the chunk table: 1 MiB keeps each INSERT far below MySQL's `max_allowed_packet` (64 MiB
 * on MySQL 8, 16 MiB on MariaDB 10.11, 4 MiB on older servers) and a Range request reads at most
 * one extra MiB on each side.
 */
export const bootstrapChunkBytes = 1024 * 1024;
/** Chunks fetched per query while streaming a download. */
const chunksPerRead = 4;

/** A package streamed into the chunk table and checked, not yet a team's package. */
export interface StagedPackage {
  storageId: string;
  sha256: Buffer;
  size: number;
}

/** A byte range to send (inclusive `end`), or the whole file. */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeAnswer =
  { kind: 'full' } | { kind: 'partial'; range: ByteRange } | { kind: 'unsatisfiable' };

/**
 * One `Range: bytes=...` header against a file of `size` bytes (RFC 9110 §14): a single range is
 * served as 206; several ranges, or a header that is not a byte range, are ignored (200 with the
 * whole file, which the RFC allows); a range starting past the end is 416.
 */
export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (!header) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!m) return { kind: 'full' };
  const specs = m[1].split(',').map((s) => s.trim());
  if (specs.length !== 1) return { kind: 'full' };
  const one = /^(\d*)-(\d*)$/.exec(specs[0]);
  if (!one || (one[1] === '' && one[2] === '')) return { kind: 'full' };
  if (one[1] === '') {
    const suffix = Number(one[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(one[1]);
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = one[2] === '' ? size - 1 : Math.min(Number(one[2]), size - 1);
  if (end < start) return { kind: 'full' };
  return { kind: 'partial', range: { start, end } };
}

export const sha256Hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/**
 * Fleet's macOS file-name rule for the package name: not empty, none of `: \\ * ? " < > |` or NUL
 * (the multipart parser has already dropped any directory part); also no other control characters
 * and at most 255 characters (the column).
 */
export function validPackageName(name: string): boolean {
  if (name.length === 0 || name.length > 255 || /[:\\*?"<>|/]/.test(name)) return false;
  return ![...name].some((c) => c.charCodeAt(0) < 0x20);
}

/** `InstallEnterpriseApplication` with the manifest embedded, as Fleet sends the bootstrap package. */
export function installEnterpriseApplicationCommand(sha256: Buffer, url: string, commandUuid = randomUUID()) {
  return buildCommandPlist(
    'InstallEnterpriseApplication',
    {
      Manifest: {
        items: [
          {
            assets: [
              {
                kind: 'software-package',
                'sha256-size': 32,
                sha256s: [sha256.toString('hex')],
                url,
              },
            ],
          },
        ],
      },
    },
    commandUuid,
  );
}

/** The JSON Fleet answers for a package's metadata (`sha256` as Go encodes []byte: base64). */
export function metadataJson(m: BootstrapPackageMeta) {
  return {
    name: m.name,
    team_id: m.teamId,
    sha256: m.sha256.toString('base64'),
    token: m.token,
    created_at: toApiTime(m.createdAt),
  };
}

export interface BootstrapServiceDeps {
  store: BootstrapPackageStore;
  teams: Pick<TeamStore, 'getById'>;
  activities: Pick<ActivityService, 'record'>;
  queue: {
    enqueue(ids: string[], cmd: { commandUuid: string; requestType: string; plist: Buffer }): Promise<void>;
  };
  /** The MDM base URL devices reach (app config `mdm.apple_server_url`, else the server URL). */
  mdmUrl: () => Promise<string>;
  maxBytes: number;
  logger?: Logger;
}

/**
 * Bootstrap packages: upload (streamed into the database and checked as it arrives), metadata,
 * delete, summary, the token-protected download, and delivery to ADE Macs with
 * InstallEnterpriseApplication (the device's answer becomes the host's status).
 */
export class BootstrapPackageService {
  constructor(private readonly deps: BootstrapServiceDeps) {}

  private get store() {
    return this.deps.store;
  }

  /** 404 for a team that does not exist (team 0, "No team", always does). */
  async requireTeam(teamId: number): Promise<string | null> {
    if (teamId === 0) return null;
    const t = await this.deps.teams.getById(teamId);
    if (!t) throw notFound('Team');
    return t.name;
  }

  /** 409 when the team already has a package (checked before a long upload when the team is known). */
  async requireNoPackage(teamId: number): Promise<void> {
    if (await this.store.meta(teamId)) throw this.exists(teamId);
  }

  private exists(teamId: number) {
    return alreadyExists(`BootstrapPackage for team ${teamId} already exists`);
  }

  /**
   * Streams a package into the chunk table while hashing it and checking its xar header and
   * signature; the chunks are removed again when anything fails. Nothing holds the whole file.
   */
  async stage(file: AsyncIterable<Buffer>): Promise<StagedPackage> {
    const storageId = randomUUID();
    const check = new XarSignatureCheck();
    const hash = createHash('sha256');
    let size = 0;
    let seq = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (all: boolean) => {
      while (pendingBytes >= bootstrapChunkBytes || (all && pendingBytes > 0)) {
        const buf = pending.length === 1 ? pending[0] : Buffer.concat(pending);
        const take = Math.min(bootstrapChunkBytes, buf.length);
        await this.store.writeChunk(storageId, seq++, Buffer.from(buf.subarray(0, take)));
        const rest = buf.subarray(take);
        pending = rest.length ? [rest] : [];
        pendingBytes = rest.length;
      }
    };
    try {
      for await (const chunk of file) {
        check.push(chunk);
        hash.update(chunk);
        size += chunk.length;
        if (size > this.deps.maxBytes) {
          throw new HttpError(413, 'Request Entity Too Large', [
            { name: 'package', reason: `package exceeds the max size limit of ${this.deps.maxBytes} bytes` },
          ]);
        }
        pending.push(chunk);
        pendingBytes += chunk.length;
        await flush(false);
      }
      check.finish();
      await flush(true);
    } catch (err) {
      await this.store.deleteChunks(storageId).catch(() => undefined);
      if (err instanceof PackageCheckError) throw badRequest(err.message);
      throw err;
    }
    return { storageId, sha256: hash.digest(), size };
  }

  /** Drops a staged package that will not become a team's package. */
  async discard(staged: StagedPackage): Promise<void> {
    await this.store.deleteChunks(staged.storageId);
  }

  /** Makes a staged package the team's package (409 if it has one) and records the activity. */
  async commit(staged: StagedPackage, teamId: number, name: string, actor: Actor): Promise<void> {
    let teamName: string | null;
    try {
      teamName = await this.requireTeam(teamId);
      const token = randomUUID();
      await this.store.insertPackage({
        teamId,
        name,
        sha256: staged.sha256,
        size: staged.size,
        storageId: staged.storageId,
        token,
        tokenSha256: sha256Hex(token),
      });
    } catch (err) {
      await this.discard(staged).catch(() => undefined);
      if (isUniqueViolation(err)) throw this.exists(teamId);
      throw err;
    }
    await this.deps.activities.record(actor, 'added_bootstrap_package', {
      bootstrap_package_name: name,
      team_id: teamId === 0 ? null : teamId,
      team_name: teamName,
    });
  }

  /** Fleet's 404 for a team without a package (an invalid-argument error on `team_id`). */
  private noPackage() {
    return new HttpError(404, 'Validation Failed', [
      { name: 'team_id', reason: 'bootstrap package for this team does not exist' },
    ]);
  }

  async metadata(teamId: number): Promise<BootstrapPackageMeta> {
    const m = await this.store.meta(teamId);
    if (!m) throw this.noPackage();
    return m;
  }

  async delete(teamId: number, actor: Actor): Promise<void> {
    const teamName = await this.requireTeam(teamId);
    const m = await this.store.meta(teamId);
    if (!m || !(await this.store.deletePackage(teamId))) throw notFound('BootstrapPackage');
    await this.deps.activities.record(actor, 'deleted_bootstrap_package', {
      bootstrap_package_name: m.name,
      team_id: teamId === 0 ? null : teamId,
      team_name: teamName,
    });
  }

  async summary(teamId: number): Promise<{ installed: number; pending: number; failed: number }> {
    await this.requireTeam(teamId);
    return this.store.summary(teamId);
  }

  /** The package a download token opens (looked up by the token's hash); 404 when none. */
  async byToken(token: string): Promise<BootstrapPackageMeta> {
    const m = token ? await this.store.metaByTokenHash(sha256Hex(token)) : undefined;
    if (!m) throw notFound('BootstrapPackage');
    return m;
  }

  /** The bytes `range` covers (the whole file without one), read a few chunks at a time. */
  stream(m: BootstrapPackageMeta, range?: ByteRange): Readable {
    const store = this.store;
    const start = range?.start ?? 0;
    const end = range?.end ?? m.size - 1;
    async function* gen(): AsyncGenerator<Buffer> {
      if (m.size === 0 || end < start) return;
      const first = Math.floor(start / bootstrapChunkBytes);
      const last = Math.floor(end / bootstrapChunkBytes);
      let seq = first;
      while (seq <= last) {
        const rows = await store.chunks(m.storageId, seq, last, chunksPerRead);
        if (rows.length === 0) throw new Error(`bootstrap package ${m.storageId}: chunk ${seq} is missing`);
        for (const r of rows) {
          if (r.seq !== seq) throw new Error(`bootstrap package ${m.storageId}: chunk ${seq} is missing`);
          const bytes = Buffer.from(r.bytes);
          const offset = seq * bootstrapChunkBytes;
          const from = Math.max(0, start - offset);
          const to = Math.min(bytes.length, end - offset + 1);
          if (to > from) yield bytes.subarray(from, to);
          seq++;
        }
      }
    }
    return Readable.from(gen(), { objectMode: false });
  }

  /** The download URL a manifest points at (Fleet's `/api/latest/fleet/mdm/bootstrap?token=`). */
  async downloadUrl(token: string): Promise<string> {
    const base = (await this.deps.mdmUrl()).replace(/\/+$/, '');
    return `${base}/api/latest/fleet/mdm/bootstrap?token=${encodeURIComponent(token)}`;
  }

  /**
   * Queues the team's package for a host with InstallEnterpriseApplication and records it; returns
   * the command UUID, or null when the team has no package (nothing to install, as Fleet skips it).
   */
  async installOn(hostUuid: string, teamId: number | null): Promise<string | null> {
    const m = await this.store.meta(teamId ?? 0);
    if (!m) return null;
    const cmd = installEnterpriseApplicationCommand(m.sha256, await this.downloadUrl(m.token));
    await this.deps.queue.enqueue([hostUuid], {
      commandUuid: cmd.commandUuid,
      requestType: 'InstallEnterpriseApplication',
      plist: cmd.plist,
    });
    await this.store.recordHostCommand(hostUuid, cmd.commandUuid);
    this.deps.logger?.info(
      { host_uuid: hostUuid, command_uuid: cmd.commandUuid },
      'bootstrap package queued',
    );
    return cmd.commandUuid;
  }

  /** The device's answer to InstallEnterpriseApplication: Acknowledged → installed, Error → failed. */
  async onCommandResult(r: AppleCommandResultEvent): Promise<void> {
    if (r.requestType !== 'InstallEnterpriseApplication') return;
    if (r.status === 'Acknowledged')
      await this.store.recordResult(r.hostUuid, r.commandUuid, 'installed', null);
    else if (r.status === 'Error') {
      await this.store.recordResult(r.hostUuid, r.commandUuid, 'failed', formatErrorChain(r.result));
    }
  }

  /** `mdm.macos_setup` of the host detail; undefined when the host never got a package. */
  async hostDetail(hostId: number) {
    const s = await this.store.hostStatus(hostId);
    if (!s) return undefined;
    return {
      bootstrap_package_status: s.status,
      detail: s.status === 'failed' ? (s.detail ?? '') : '',
      bootstrap_package_name: s.packageName,
    };
  }

  async hostCommand(hostUuid: string) {
    return this.store.hostCommand(hostUuid);
  }

  /** Chunks left by uploads that never finished (older than a day, so no upload still running). */
  async cleanupOrphans(): Promise<number> {
    return this.store.deleteOrphanChunks(dbNow(-24 * 3600 * 1000));
  }

  async forgetHosts(hostUuids: string[]): Promise<void> {
    await this.store.forgetHosts(hostUuids);
  }
}
