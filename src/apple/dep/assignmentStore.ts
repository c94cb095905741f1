import type { Kysely, Transaction } from 'kysely';
import { insertIgnore, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { builtinLabels, builtinMatches } from '../../labels/builtin.js';
import { mdmSolutionIdIn } from '../../hosts/store.js';

type AnyDb = Kysely<DB> | Transaction<DB>;

/** Fleet's "never" timestamp: placeholders have not enrolled nor reported. */
export const neverTimestamp = '2000-01-01 00:00:00.000';

/** Rows per statement: keeps every multi-row statement well under MySQL's placeholder limit. */
const chunkSize = 1000;

function chunks<T>(items: T[], size = chunkSize): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A host with a given serial, with its MDM state and its ADE assignment (if any). */
export interface SerialHost {
  id: number;
  hardware_serial: string;
  hardware_model: string;
  platform: string;
  team_id: number | null;
  /** host_mdm.enrolled; null when the host has no host_mdm row. */
  enrolled: boolean | null;
  installed_from_dep: boolean | null;
  /** The host_dep_assignments row, when there is one. */
  dep: {
    abm_token_id: number | null;
    deleted_at: string | null;
    assign_profile_response: string | null;
    response_updated_at: string | null;
    retry_after_seconds: number | null;
    retry_job_id: number;
  } | null;
}

/** Fleet's "Pending" enrollment: known to MDM through ADE only, never enrolled. */
export function isPendingPlaceholder(h: Pick<SerialHost, 'enrolled' | 'installed_from_dep'>): boolean {
  return h.enrolled === false && h.installed_from_dep === true;
}

const optBool = (v: unknown) => (v === null || v === undefined ? null : Boolean(Number(v)));

/** A row to restore or create as a pending ADE host. */
export interface PlaceholderHost {
  id?: number;
  uuid?: string;
  hardware_serial: string;
  hardware_model: string;
  platform: string;
  team_id: number | null;
}

/** A cooled-down assignment that may be retried. */
export interface CooldownRow {
  host_id: number;
  hardware_serial: string;
  team_id: number | null;
  assign_profile_response: string;
  response_updated_at: string | null;
  retry_after_seconds: number | null;
}

/**
 * host_dep_assignments and the placeholder hosts ADE creates (hosts, host_mdm, built-in label
 * memberships). Every write is one multi-row statement per chunk; the service runs them inside its
 * page transaction.
 */
export class DepAssignmentStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** Every host with one of these serials, with its host_mdm state and assignment row. */
  async hostsBySerials(serials: string[], db: AnyDb = this.db): Promise<SerialHost[]> {
    const out: SerialHost[] = [];
    for (const part of chunks([...new Set(serials)])) {
      const rows = await db
        .selectFrom('hosts as h')
        .leftJoin('host_mdm as m', 'm.host_id', 'h.id')
        .leftJoin('host_dep_assignments as d', 'd.host_id', 'h.id')
        .select([
          'h.id',
          'h.hardware_serial',
          'h.hardware_model',
          'h.platform',
          'h.team_id',
          'm.enrolled',
          'm.installed_from_dep',
          'd.host_id as dep_host_id',
          'd.abm_token_id',
          'd.deleted_at',
          'd.assign_profile_response',
          'd.response_updated_at',
          'd.retry_after_seconds',
          'd.retry_job_id',
        ])
        .where('h.hardware_serial', 'in', part)
        .orderBy('h.id')
        .execute();
      for (const r of rows) {
        out.push({
          id: r.id,
          hardware_serial: r.hardware_serial,
          hardware_model: r.hardware_model,
          platform: r.platform,
          team_id: r.team_id,
          enrolled: optBool(r.enrolled),
          installed_from_dep: optBool(r.installed_from_dep),
          dep:
            r.dep_host_id === null || r.dep_host_id === undefined
              ? null
              : {
                  abm_token_id: r.abm_token_id ?? null,
                  deleted_at: r.deleted_at ?? null,
                  assign_profile_response: r.assign_profile_response ?? null,
                  response_updated_at: r.response_updated_at ?? null,
                  retry_after_seconds: r.retry_after_seconds === null ? null : Number(r.retry_after_seconds),
                  retry_job_id: Number(r.retry_job_id ?? 0),
                },
        });
      }
    }
    return out;
  }

  /** Marks live assignments of these hosts deleted (the device left this server in ABM). */
  async softDelete(hostIds: number[], now: string, db: AnyDb): Promise<void> {
    for (const part of chunks(hostIds)) {
      await db
        .updateTable('host_dep_assignments')
        .set({ deleted_at: now })
        .where('host_id', 'in', part)
        .where('deleted_at', 'is', null)
        .execute();
    }
  }

  /** Removes the assignment rows of hosts that are being deleted for good. */
  async deleteRows(hostIds: number[], db: AnyDb): Promise<void> {
    for (const part of chunks(hostIds)) {
      await db.deleteFrom('host_dep_assignments').where('host_id', 'in', part).execute();
    }
  }

  /**
   * Inserts pending hosts as Fleet ingests them from ABM: no osquery id, never enrolled nor
   * reported, a refetch requested for Macs. With `id` set the row takes that id (a restore).
   */
  async insertPlaceholders(hosts: PlaceholderHost[], now: string, db: AnyDb): Promise<void> {
    for (const part of chunks(hosts, 500)) {
      await db
        .insertInto('hosts')
        .values(
          part.map((h) => ({
            ...(h.id !== undefined ? { id: h.id } : {}),
            uuid: h.uuid ?? '',
            hardware_serial: h.hardware_serial,
            hardware_model: h.hardware_model,
            platform: h.platform,
            team_id: h.team_id,
            osquery_host_id: null,
            last_enrolled_at: neverTimestamp,
            detail_updated_at: neverTimestamp,
            refetch_requested: h.platform === 'darwin' ? 1 : 0,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
    }
  }

  /** The id of an MDM solution row (name, server URL), created on first sight. */
  mdmSolutionId(name: string, serverUrl: string, db: AnyDb): Promise<number> {
    return mdmSolutionIdIn(db, name, serverUrl);
  }

  /**
   * Gives hosts without a host_mdm row Fleet's pending-ADE state: not enrolled, installed from
   * DEP, MDM name Fleet with our server URL. Existing rows (a host reporting another MDM) stay.
   */
  async insertPendingMdm(hostIds: number[], serverUrl: string, mdmId: number, db: AnyDb): Promise<void> {
    for (const part of chunks(hostIds)) {
      await insertIgnore(
        db,
        'host_mdm',
        part.map((id) => ({
          host_id: id,
          enrolled: 0,
          server_url: serverUrl,
          installed_from_dep: 1,
          mdm_name: 'Fleet',
          is_server: 0,
          mdm_id: mdmId,
        })),
      );
    }
  }

  /** Built-in label memberships that follow from the platform alone (All Hosts, macOS, iOS, iPadOS). */
  async insertBuiltinMemberships(hosts: { id: number; platform: string }[], now: string, db: AnyDb) {
    if (hosts.length === 0) return;
    const labels = await db.selectFrom('labels').select(['id', 'name']).where('label_type', '=', 1).execute();
    const rows = hosts.flatMap((h) =>
      labels.flatMap((l) => {
        const def = builtinLabels.find((b) => b.name === l.name);
        if (!def || !builtinMatches(def, h.platform)) return [];
        return [{ host_id: h.id, label_id: l.id, is_member: 1, created_at: now, updated_at: now }];
      }),
    );
    for (const part of chunks(rows)) await insertIgnore(db, 'label_membership', part);
  }

  /**
   * Makes these hosts DEP-assigned through this token: added now, not deleted. A migration deadline
   * Apple sent is stored; without one the stored deadline stays.
   */
  async upsertLive(
    rows: { host_id: number; deadline: string | null }[],
    tokenId: number,
    now: string,
    db: AnyDb,
  ): Promise<void> {
    const base = ['added_at', 'deleted_at', 'abm_token_id'];
    const withDeadline = rows.filter((r) => r.deadline !== null);
    const without = rows.filter((r) => r.deadline === null);
    for (const part of chunks(withDeadline)) {
      await upsert(
        db,
        'host_dep_assignments',
        part.map((r) => ({
          host_id: r.host_id,
          added_at: now,
          deleted_at: null,
          abm_token_id: tokenId,
          mdm_migration_deadline: r.deadline,
        })),
        ['host_id'],
        [...base, 'mdm_migration_deadline'],
      );
    }
    for (const part of chunks(without)) {
      await upsert(
        db,
        'host_dep_assignments',
        part.map((r) => ({ host_id: r.host_id, added_at: now, deleted_at: null, abm_token_id: tokenId })),
        ['host_id'],
        base,
      );
    }
  }

  /** Records Apple's answer to an assignment for these hosts (one response per call). */
  async recordResponse(
    hostIds: number[],
    r: { profileUuid: string; response: string; retryAfterSeconds: number | null; tokenId: number },
    now: string,
    db: AnyDb = this.db,
  ): Promise<void> {
    for (const part of chunks(hostIds)) {
      await db
        .updateTable('host_dep_assignments')
        .set({
          profile_uuid: r.profileUuid,
          assign_profile_response: r.response,
          response_updated_at: now,
          retry_after_seconds: r.retryAfterSeconds,
          retry_job_id: 0,
          abm_token_id: r.tokenId,
        })
        .where('host_id', 'in', part)
        .execute();
    }
  }

  /** Live assignments of a token whose last answer was FAILED or THROTTLED (cooldown candidates). */
  async cooldownCandidates(tokenId: number, limit: number): Promise<CooldownRow[]> {
    const rows = await this.db
      .selectFrom('host_dep_assignments as d')
      .innerJoin('hosts as h', 'h.id', 'd.host_id')
      .select([
        'd.host_id',
        'h.hardware_serial',
        'h.team_id',
        'd.assign_profile_response',
        'd.response_updated_at',
        'd.retry_after_seconds',
      ])
      .where('d.abm_token_id', '=', tokenId)
      .where('d.deleted_at', 'is', null)
      .where('d.assign_profile_response', 'in', ['FAILED', 'THROTTLED'])
      .orderBy('d.response_updated_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      ...r,
      assign_profile_response: r.assign_profile_response!,
      retry_after_seconds: r.retry_after_seconds === null ? null : Number(r.retry_after_seconds),
    }));
  }

  /** Live assignments of these (deleted) hosts, with their token's default teams. */
  async liveAssignments(hostIds: number[]) {
    if (hostIds.length === 0) return [];
    return this.db
      .selectFrom('host_dep_assignments as d')
      .innerJoin('abm_tokens as t', 't.id', 'd.abm_token_id')
      .select([
        'd.host_id',
        'd.abm_token_id',
        't.macos_default_team_id',
        't.ios_default_team_id',
        't.ipados_default_team_id',
      ])
      .where('d.host_id', 'in', hostIds)
      .where('d.deleted_at', 'is', null)
      .execute();
  }

  /** Whether a host (by id or serial) is DEP-assigned to this server: a live assignment row. */
  /** Whether ABM assigns the host to this server, and whether Apple took our ADE profile for it. */
  async depState(hostId: number): Promise<{ assigned: boolean; profileAssigned: boolean }> {
    const row = await this.db
      .selectFrom('host_dep_assignments')
      .select('assign_profile_response')
      .where('host_id', '=', hostId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return { assigned: row !== undefined, profileAssigned: row?.assign_profile_response === 'SUCCESS' };
  }

  async isDepAssigned(by: { hostId: number } | { serial: string }): Promise<boolean> {
    let q = this.db
      .selectFrom('host_dep_assignments as d')
      .innerJoin('hosts as h', 'h.id', 'd.host_id')
      .select('d.host_id')
      .where('d.deleted_at', 'is', null);
    q = 'hostId' in by ? q.where('h.id', '=', by.hostId) : q.where('h.hardware_serial', '=', by.serial);
    return (await q.executeTakeFirst()) !== undefined;
  }
}
