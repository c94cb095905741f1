import type { Kysely, Transaction } from 'kysely';
import { dbNow, insertIgnore, upsert } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { mdmSolutionIdIn, writeBuiltinMemberships } from '../hosts/store.js';
import { defaultTeamConfig } from '../teams/teamJson.js';
import type { MappedDefinition } from './definitions.js';
import type { ImportedDeviceSet, ImportedHost } from './model.js';

/** Where a batch's per-host rows point: our label ids and definitions by the source's names and uuids. */
export interface BatchTargets {
  teams: Map<string, number>;
  mdmServerUrl: string;
  labelIds: Map<string, number>;
  profiles: Map<string, MappedDefinition>;
  declarations: Map<string, MappedDefinition>;
}

/** What a batch (or a whole import) wrote. */
export interface ImportCounts {
  devices: number;
  enrollments: number;
  users: number;
  certificates: number;
  hosts: number;
  /** Imported hosts' memberships in the source's own labels (member or known non-member). */
  labelMemberships: number;
  /** Imported hosts' Apple profile and declaration status rows. */
  profileStatuses: number;
  /** Devices the target already knew: left as they are (a re-run, or the device moved already). */
  alreadyPresent: number;
}

export function emptyCounts(): ImportCounts {
  return {
    devices: 0,
    enrollments: 0,
    users: 0,
    certificates: 0,
    hosts: 0,
    labelMemberships: 0,
    profileStatuses: 0,
    alreadyPresent: 0,
  };
}

export function addCounts(a: ImportCounts, b: ImportCounts): ImportCounts {
  const out = { ...a };
  for (const k of Object.keys(b) as (keyof ImportCounts)[]) out[k] += b[k];
  return out;
}

export interface ImportRun {
  status: string;
  cursor: string;
  counts: ImportCounts;
}

/**
 * Writes imported devices into our tables. Devices the target already has are never touched, so
 * running an import again changes nothing and cannot overwrite what a device told us since. Each
 * batch and the resumption cursor commit together.
 */
export class ImportStore {
  constructor(private readonly db: Kysely<DB>) {}

  async run(source: string): Promise<ImportRun | undefined> {
    const r = await this.db
      .selectFrom('import_runs')
      .selectAll()
      .where('source', '=', source)
      .executeTakeFirst();
    return (
      r && { status: r.status, cursor: r.cursor_id, counts: { ...emptyCounts(), ...JSON.parse(r.counts) } }
    );
  }

  /** Starts a run, or resumes the unfinished one (its cursor and counts kept). */
  async startRun(source: string, kind: string): Promise<ImportRun> {
    const prev = await this.run(source);
    if (prev?.status === 'running') return prev;
    const now = dbNow();
    const counts = emptyCounts();
    await upsert(
      this.db,
      'import_runs',
      {
        source,
        kind,
        status: 'running',
        cursor_id: '',
        counts: JSON.stringify(counts),
        started_at: now,
        updated_at: now,
        finished_at: null,
      },
      ['source'],
      ['status', 'cursor_id', 'counts', 'started_at', 'updated_at', 'finished_at'],
    );
    return { status: 'running', cursor: '', counts };
  }

  async finishRun(source: string): Promise<void> {
    const now = dbNow();
    await this.db
      .updateTable('import_runs')
      .set({ status: 'done', updated_at: now, finished_at: now })
      .where('source', '=', source)
      .execute();
  }

  async knownDeviceIds(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db.selectFrom('nano_devices').select('id').where('id', 'in', ids).execute();
    return new Set(rows.map((r) => r.id));
  }

  async knownHostUuids(uuids: string[]): Promise<Set<string>> {
    if (uuids.length === 0) return new Set();
    const rows = await this.db.selectFrom('hosts').select('uuid').where('uuid', 'in', uuids).execute();
    return new Set(rows.map((r) => r.uuid));
  }

  async knownTeams(names: string[]): Promise<Map<string, number>> {
    if (names.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('teams')
      .select(['id', 'name'])
      .where('name', 'in', names)
      .execute();
    return new Map(rows.map((r) => [r.name, Number(r.id)]));
  }

  /** Creates the teams the target lacks (by name); returns every name's id and how many were new. */
  async ensureTeams(names: string[]): Promise<{ ids: Map<string, number>; created: number }> {
    const have = await this.knownTeams(names);
    const now = dbNow();
    const missing = names.filter((n) => !have.has(n));
    if (missing.length) {
      await insertIgnore(
        this.db,
        'teams',
        missing.map((name) => ({
          name,
          description: '',
          config: JSON.stringify(defaultTeamConfig()),
          created_at: now,
          updated_at: now,
        })),
      );
    }
    return { ids: await this.knownTeams(names), created: missing.length };
  }

  /** Writes one batch of devices and moves the run's cursor past it, in one transaction. */
  async writeBatch(
    sets: ImportedDeviceSet[],
    ctx: BatchTargets & { source: string; cursor: string },
  ): Promise<ImportCounts> {
    return this.db.transaction().execute(async (trx) => {
      const counts = emptyCounts();
      const known = await trx
        .selectFrom('nano_devices')
        .select('id')
        .where(
          'id',
          'in',
          sets.map((s) => s.device.id),
        )
        .execute();
      const skip = new Set(known.map((r) => r.id));
      for (const set of sets) {
        if (skip.has(set.device.id)) {
          counts.alreadyPresent++;
          continue;
        }
        await this.writeDevice(trx, set, counts);
        if (set.host) await this.writeHost(trx, set, ctx, counts);
      }
      const run = await trx
        .selectFrom('import_runs')
        .select('counts')
        .where('source', '=', ctx.source)
        .executeTakeFirstOrThrow();
      const total = addCounts({ ...emptyCounts(), ...JSON.parse(run.counts) }, counts);
      await trx
        .updateTable('import_runs')
        .set({ cursor_id: ctx.cursor, counts: JSON.stringify(total), updated_at: dbNow() })
        .where('source', '=', ctx.source)
        .execute();
      return counts;
    });
  }

  private async writeDevice(
    trx: Transaction<DB>,
    set: ImportedDeviceSet,
    counts: ImportCounts,
  ): Promise<void> {
    const d = set.device;
    const now = dbNow();
    await trx
      .insertInto('nano_devices')
      .values({
        id: d.id,
        identity_cert: d.identityCertPem,
        serial_number: d.serialNumber,
        unlock_token: d.unlockToken,
        unlock_token_at: d.unlockTokenAt,
        authenticate: d.authenticate,
        authenticate_at: d.authenticateAt,
        token_update: d.tokenUpdate,
        token_update_at: d.tokenUpdateAt,
        bootstrap_token_b64: d.bootstrapTokenB64,
        bootstrap_token_at: d.bootstrapTokenAt,
        platform: set.host?.platform ?? '',
        created_at: d.createdAt,
        updated_at: now,
      })
      .execute();
    counts.devices++;
    if (set.users.length) {
      counts.users += await insertIgnore(
        trx,
        'nano_users',
        set.users.map((u) => ({
          id: u.id,
          device_id: u.deviceId,
          user_short_name: u.userShortName,
          user_long_name: u.userLongName,
          token_update: u.tokenUpdate,
          token_update_at: u.tokenUpdateAt,
          created_at: now,
          updated_at: now,
        })),
      );
    }
    if (set.enrollments.length) {
      // Marked as imported: the next TokenUpdate is not a new enrollment (see the check-in lifecycle).
      counts.enrollments += await insertIgnore(
        trx,
        'nano_enrollments',
        set.enrollments.map((e) => ({
          id: e.id,
          device_id: e.deviceId,
          user_id: e.userId,
          type: e.type,
          topic: e.topic,
          push_magic: e.pushMagic,
          token_hex: e.tokenHex,
          enabled: e.enabled ? 1 : 0,
          token_update_tally: Math.max(1, e.tokenUpdateTally),
          last_seen_at: e.lastSeenAt,
          enrolled_from_migration: 1,
          created_at: e.createdAt,
          updated_at: now,
        })),
      );
    }
    if (set.associations.length) {
      counts.certificates += await insertIgnore(
        trx,
        'nano_cert_auth_associations',
        set.associations.map((a) => ({
          id: a.id,
          sha256: a.sha256,
          cert_not_valid_after: a.notValidAfter,
          from_migration: 1,
          created_at: now,
          updated_at: now,
        })),
      );
    }
  }

  private async writeHost(
    trx: Transaction<DB>,
    set: ImportedDeviceSet,
    ctx: BatchTargets,
    counts: ImportCounts,
  ): Promise<void> {
    const h = set.host!;
    const uuid = set.device.id;
    const existing = await trx.selectFrom('hosts').select('id').where('uuid', '=', uuid).executeTakeFirst();
    const now = dbNow();
    let hostId: number;
    if (existing) {
      hostId = Number(existing.id);
    } else {
      const res = await trx
        .insertInto('hosts')
        .values({
          uuid,
          hardware_serial: h.hardwareSerial,
          platform: h.platform,
          hostname: h.hostname,
          computer_name: h.computerName,
          hardware_model: h.hardwareModel,
          os_version: h.osVersion,
          team_id: h.teamName ? (ctx.teams.get(h.teamName) ?? null) : null,
          last_enrolled_at: set.device.createdAt,
          created_at: now,
          updated_at: now,
        })
        .executeTakeFirstOrThrow();
      hostId = Number(res.insertId);
      await writeBuiltinMemberships(trx, hostId, h.platform, now);
      counts.hosts++;
    }
    await upsert(
      trx,
      'host_mdm',
      {
        host_id: hostId,
        enrolled: 1,
        server_url: ctx.mdmServerUrl,
        installed_from_dep: h.installedFromDep ? 1 : 0,
        is_personal_enrollment: h.personal ? 1 : 0,
        mdm_name: 'Fleet',
        mdm_id: await mdmSolutionIdIn(trx, 'Fleet', ctx.mdmServerUrl),
      },
      ['host_id'],
      [],
    );
    await this.writeHostRows(trx, hostId, uuid, h, ctx, counts);
  }

  /**
   * The host's label memberships and profile status rows as the source had them, so the profile
   * manager does not send again what the device already has (same definition, same checksum or
   * token). A row the source had queued but not yet answered ('pending') is marked to be sent
   * again (status NULL): its command is not carried over. Rows already here are kept.
   */
  private async writeHostRows(
    trx: Transaction<DB>,
    hostId: number,
    uuid: string,
    h: ImportedHost,
    ctx: BatchTargets,
    counts: ImportCounts,
  ): Promise<void> {
    const now = dbNow();
    counts.labelMemberships += await insertIgnore(
      trx,
      'label_membership',
      h.labels.flatMap((l) => {
        const id = ctx.labelIds.get(l.name);
        return id === undefined
          ? []
          : [
              {
                host_id: hostId,
                label_id: id,
                is_member: l.isMember ? 1 : 0,
                created_at: now,
                updated_at: now,
              },
            ];
      }),
    );
    const queued = (status: string | null) => (status === 'pending' ? null : status);
    counts.profileStatuses += await insertIgnore(
      trx,
      'host_mdm_apple_profiles',
      h.profiles.flatMap((p) => {
        const def = ctx.profiles.get(p.profileUuid);
        if (!def) return [];
        return [
          {
            host_uuid: uuid,
            profile_uuid: def.uuid,
            profile_identifier: p.identifier,
            profile_name: p.name,
            status: queued(p.status),
            operation_type: p.operationType,
            detail: p.detail,
            command_uuid: queued(p.status) === null ? '' : p.commandUuid,
            checksum: p.checksum === def.sourceContent ? def.content : p.checksum,
            retries: p.retries,
            scope: p.scope,
            created_at: now,
            updated_at: now,
          },
        ];
      }),
    );
    counts.profileStatuses += await insertIgnore(
      trx,
      'host_mdm_apple_declarations',
      h.declarations.flatMap((d) => {
        const def = ctx.declarations.get(d.declarationUuid);
        if (!def) return [];
        const token = d.token.toUpperCase();
        return [
          {
            host_uuid: uuid,
            declaration_uuid: def.uuid,
            declaration_identifier: d.identifier,
            declaration_name: d.name,
            status: queued(d.status),
            operation_type: d.operationType,
            detail: d.detail,
            token: token === def.sourceContent ? def.content : token,
            scope: d.scope,
            created_at: now,
            updated_at: now,
          },
        ];
      }),
    );
  }
}
