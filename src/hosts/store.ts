import {
  sql,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type SqlBool,
  type Transaction,
} from 'kysely';
import { dbNow, toDbTime, upsert } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { builtinLabels, builtinMatches } from '../labels/builtin.js';
import type { DeletedHost } from './events.js';

export interface HostRow {
  id: number;
  osquery_host_id: string | null;
  uuid: string;
  hardware_serial: string;
  platform: string;
  team_id: number | null;
  team_name: string | null;
  hostname: string;
  computer_name: string;
  hardware_model: string;
  os_version: string;
  label_updated_at: string;
  detail_updated_at: string;
  last_enrolled_at: string;
  refetch_requested: boolean;
  created_at: string;
  updated_at: string;
}

export interface HostMdmRow {
  host_id: number;
  enrolled: boolean;
  server_url: string;
  installed_from_dep: boolean;
  mdm_name: string;
  is_server: boolean;
  fleet_enroll_ref: string;
  is_personal_enrollment: boolean;
}

export interface NewHost {
  uuid: string;
  hardware_serial?: string;
  platform: string;
  hostname?: string;
  computer_name?: string;
  hardware_model?: string;
  os_version?: string;
  team_id?: number | null;
}

export type HostVitals = Partial<
  Pick<
    HostRow,
    'hostname' | 'computer_name' | 'hardware_model' | 'os_version' | 'hardware_serial' | 'platform'
  >
>;

/** Fleet's `mdm_enrollment_status` host-list filter values. */
export const mdmEnrollmentStatuses = [
  'manual',
  'automatic',
  'personal',
  'enrolled',
  'pending',
  'unenrolled',
] as const;
export type MdmEnrollmentFilter = (typeof mdmEnrollmentStatuses)[number];

export interface HostFilter {
  /** A team id, null for "No team", undefined for every team the caller may see. */
  teamId?: number | null;
  /** Teams the caller may see ('all' for global roles); hosts elsewhere are never listed. */
  visibleTeams: 'all' | number[];
  labelId?: number;
  platform?: string;
  mdmEnrollmentStatus?: MdmEnrollmentFilter;
  query?: string;
}

export const hostOrderKeys = [
  'id',
  'hostname',
  'computer_name',
  'display_name',
  'hardware_serial',
  'uuid',
  'platform',
  'os_version',
  'team_id',
  'created_at',
  'updated_at',
  'detail_updated_at',
  'last_enrolled_at',
] as const;

type AnyDb = Kysely<DB> | Transaction<DB>;

const hostColumns = [
  'hosts.id',
  'hosts.osquery_host_id',
  'hosts.uuid',
  'hosts.hardware_serial',
  'hosts.platform',
  'hosts.team_id',
  'teams.name as team_name',
  'hosts.hostname',
  'hosts.computer_name',
  'hosts.hardware_model',
  'hosts.os_version',
  'hosts.label_updated_at',
  'hosts.detail_updated_at',
  'hosts.last_enrolled_at',
  'hosts.refetch_requested',
  'hosts.created_at',
  'hosts.updated_at',
] as const;

function toHost(r: any): HostRow {
  return { ...r, team_name: r.team_name ?? null, refetch_requested: Boolean(r.refetch_requested) };
}

/** hosts and host_mdm, plus the built-in label memberships of hosts the server creates. */
export class HostStore {
  constructor(private readonly db: Kysely<DB>) {}

  private select(db: AnyDb = this.db) {
    return db.selectFrom('hosts').leftJoin('teams', 'teams.id', 'hosts.team_id').select(hostColumns);
  }

  async getById(id: number, db: AnyDb = this.db): Promise<HostRow | undefined> {
    const r = await this.select(db).where('hosts.id', '=', id).executeTakeFirst();
    return r ? toHost(r) : undefined;
  }

  async getByIds(ids: number[], db: AnyDb = this.db): Promise<HostRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.select(db).where('hosts.id', 'in', ids).orderBy('hosts.id').execute();
    return rows.map(toHost);
  }

  async findByUuid(uuid: string): Promise<HostRow | undefined> {
    const r = await this.select().where('hosts.uuid', '=', uuid).orderBy('hosts.id').executeTakeFirst();
    return r ? toHost(r) : undefined;
  }

  /** The host with this UUID, else the one with this serial (DEP-pending hosts are known by serial). */
  async findByUuidOrSerial(uuid: string, serial: string | undefined | null): Promise<HostRow | undefined> {
    const byUuid = uuid ? await this.findByUuid(uuid) : undefined;
    if (byUuid || !serial) return byUuid;
    const r = await this.select()
      .where('hosts.hardware_serial', '=', serial)
      .orderBy('hosts.id')
      .executeTakeFirst();
    return r ? toHost(r) : undefined;
  }

  async findByOrbitNodeKey(key: string): Promise<HostRow | undefined> {
    if (!key) return undefined;
    const r = await this.select().where('hosts.orbit_node_key', '=', key).executeTakeFirst();
    return r ? toHost(r) : undefined;
  }

  /** Fleet's `/hosts/identifier/:identifier`: uuid, serial, osquery host id, hostname or node key. */
  async findByIdentifier(identifier: string): Promise<HostRow | undefined> {
    const r = await this.select()
      .where((eb) =>
        eb.or([
          eb('hosts.uuid', '=', identifier),
          eb('hosts.hardware_serial', '=', identifier),
          eb('hosts.osquery_host_id', '=', identifier),
          eb('hosts.hostname', '=', identifier),
          eb('hosts.node_key', '=', identifier),
        ]),
      )
      .orderBy('hosts.id')
      .executeTakeFirst();
    return r ? toHost(r) : undefined;
  }

  /** Host ids for identifiers (id as text, uuid, serial, hostname); unknown identifiers are returned apart. */
  async resolveIdentifiers(identifiers: string[]): Promise<{ ids: number[]; unknown: string[] }> {
    if (identifiers.length === 0) return { ids: [], unknown: [] };
    const rows = await this.db
      .selectFrom('hosts')
      .select(['id', 'uuid', 'hardware_serial', 'hostname', 'computer_name'])
      .where((eb) =>
        eb.or([
          eb('uuid', 'in', identifiers),
          eb('hardware_serial', 'in', identifiers),
          eb('hostname', 'in', identifiers),
          eb('computer_name', 'in', identifiers),
        ]),
      )
      .execute();
    const ids = new Set<number>();
    const unknown: string[] = [];
    for (const ident of identifiers) {
      const hit = rows.find(
        (r) =>
          r.uuid === ident ||
          r.hardware_serial === ident ||
          r.hostname === ident ||
          r.computer_name === ident,
      );
      if (hit) ids.add(hit.id);
      else unknown.push(ident);
    }
    return { ids: [...ids].sort((a, b) => a - b), unknown };
  }

  /**
   * Inserts a host and its built-in label memberships (All Hosts and the platform labels follow
   * from the platform, so they are known at once). Returns the new id.
   */
  async create(fields: NewHost): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const now = dbNow();
      const res = await trx
        .insertInto('hosts')
        .values({
          uuid: fields.uuid,
          hardware_serial: fields.hardware_serial ?? '',
          platform: fields.platform,
          hostname: fields.hostname ?? '',
          computer_name: fields.computer_name ?? '',
          hardware_model: fields.hardware_model ?? '',
          os_version: fields.os_version ?? '',
          team_id: fields.team_id ?? null,
          created_at: now,
          updated_at: now,
        })
        .executeTakeFirstOrThrow();
      const id = Number(res.insertId);
      await this.writeBuiltinMemberships(trx, id, fields.platform);
      return id;
    });
  }

  private async writeBuiltinMemberships(
    trx: Transaction<DB>,
    hostId: number,
    platform: string,
  ): Promise<void> {
    const labels = await trx
      .selectFrom('labels')
      .select(['id', 'name'])
      .where('label_type', '=', 1)
      .execute();
    const now = dbNow();
    const rows = labels.flatMap((l) => {
      const def = builtinLabels.find((b) => b.name === l.name);
      if (!def) return [];
      return [
        {
          host_id: hostId,
          label_id: l.id,
          is_member: builtinMatches(def, platform) ? 1 : 0,
          created_at: now,
          updated_at: now,
        },
      ];
    });
    await upsert(trx, 'label_membership', rows, ['host_id', 'label_id'], ['is_member', 'updated_at']);
  }

  async updateVitals(id: number, vitals: HostVitals): Promise<void> {
    const set: Record<string, unknown> = {};
    for (const k of [
      'hostname',
      'computer_name',
      'hardware_model',
      'os_version',
      'hardware_serial',
      'platform',
    ] as const) {
      if (vitals[k] !== undefined) set[k] = vitals[k];
    }
    if (Object.keys(set).length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('hosts').select('platform').where('id', '=', id).executeTakeFirst();
      await trx
        .updateTable('hosts')
        .set({ ...set, updated_at: dbNow() })
        .where('id', '=', id)
        .execute();
      if (before && vitals.platform !== undefined && vitals.platform !== before.platform) {
        await this.writeBuiltinMemberships(trx, id, vitals.platform);
      }
    });
  }

  async setOrbitNodeKey(id: number, key: string | null): Promise<void> {
    await this.db
      .updateTable('hosts')
      .set({ orbit_node_key: key, updated_at: dbNow() })
      .where('id', '=', id)
      .execute();
  }

  async setLastEnrolledAt(id: number, time: Date | string): Promise<void> {
    const value = typeof time === 'string' ? time : toDbTime(time);
    await this.db.updateTable('hosts').set({ last_enrolled_at: value }).where('id', '=', id).execute();
  }

  async setRefetchRequested(id: number, requested: boolean): Promise<void> {
    await this.db
      .updateTable('hosts')
      .set({ refetch_requested: requested ? 1 : 0 })
      .where('id', '=', id)
      .execute();
  }

  async setDetailUpdatedAt(id: number, time: Date | string): Promise<void> {
    const value = typeof time === 'string' ? time : toDbTime(time);
    await this.db.updateTable('hosts').set({ detail_updated_at: value }).where('id', '=', id).execute();
  }

  async upsertHostMdm(
    hostId: number,
    m: {
      enrolled: boolean;
      server_url: string;
      installed_from_dep: boolean;
      is_personal_enrollment: boolean;
      mdm_name: string;
    },
  ): Promise<void> {
    await upsert(
      this.db,
      'host_mdm',
      {
        host_id: hostId,
        enrolled: m.enrolled ? 1 : 0,
        server_url: m.server_url,
        installed_from_dep: m.installed_from_dep ? 1 : 0,
        is_personal_enrollment: m.is_personal_enrollment ? 1 : 0,
        mdm_name: m.mdm_name,
      },
      ['host_id'],
      ['enrolled', 'server_url', 'installed_from_dep', 'is_personal_enrollment', 'mdm_name'],
    );
  }

  async getHostMdm(hostId: number): Promise<HostMdmRow | undefined> {
    const r = await this.db
      .selectFrom('host_mdm')
      .selectAll()
      .where('host_id', '=', hostId)
      .executeTakeFirst();
    if (!r) return undefined;
    return {
      ...r,
      enrolled: Boolean(r.enrolled),
      installed_from_dep: Boolean(r.installed_from_dep),
      is_server: Boolean(r.is_server),
      is_personal_enrollment: Boolean(r.is_personal_enrollment),
    };
  }

  private applyFilter<QB extends { where: any }>(qb: QB, f: HostFilter): QB {
    let q: any = qb;
    if (f.visibleTeams !== 'all') {
      q = f.visibleTeams.length
        ? q.where('hosts.team_id', 'in', f.visibleTeams)
        : q.where(sql<boolean>`1 = 0`);
    }
    if (f.teamId === null) q = q.where('hosts.team_id', 'is', null);
    else if (f.teamId !== undefined) q = q.where('hosts.team_id', '=', f.teamId);
    if (f.platform) q = q.where('hosts.platform', '=', f.platform);
    if (f.labelId !== undefined) {
      q = q.where('hosts.id', 'in', (eb: ExpressionBuilder<DB, 'hosts'>) =>
        eb
          .selectFrom('label_membership')
          .select('host_id')
          .where('label_id', '=', f.labelId!)
          .where('is_member', '=', 1),
      );
    }
    if (f.query) {
      const like = `%${f.query}%`;
      q = q.where((eb: ExpressionBuilder<DB, 'hosts'>) =>
        eb.or([
          eb('hosts.hostname', 'like', like),
          eb('hosts.computer_name', 'like', like),
          eb('hosts.hardware_serial', 'like', like),
          eb('hosts.uuid', 'like', like),
        ]),
      );
    }
    if (f.mdmEnrollmentStatus) {
      q = q.where((eb: ExpressionBuilder<DB, 'hosts'>) => enrollmentCondition(eb, f.mdmEnrollmentStatus!));
    }
    return q;
  }

  async list(
    f: HostFilter,
    opts: { limit?: number; offset?: number; orderKey?: string; desc?: boolean } = {},
  ): Promise<HostRow[]> {
    let q = this.applyFilter(this.select(), f);
    const key = opts.orderKey === 'display_name' ? 'computer_name' : (opts.orderKey ?? 'id');
    const dir = opts.desc ? 'desc' : 'asc';
    q = q.orderBy(`hosts.${key}` as 'hosts.id', dir);
    if (key !== 'id') q = q.orderBy('hosts.id', dir);
    if (opts.limit !== undefined) q = q.limit(opts.limit).offset(opts.offset ?? 0);
    return (await q.execute()).map(toHost);
  }

  async count(f: HostFilter): Promise<number> {
    const q = this.applyFilter(
      this.db.selectFrom('hosts').select((eb) => eb.fn.countAll<number>().as('n')),
      f,
    );
    return Number((await q.executeTakeFirstOrThrow()).n);
  }

  /** Host ids (of those given) that exist, in id order. */
  async existingIds(ids: number[], db: AnyDb = this.db): Promise<number[]> {
    if (ids.length === 0) return [];
    const rows = await db.selectFrom('hosts').select('id').where('id', 'in', ids).orderBy('id').execute();
    return rows.map((r) => r.id);
  }

  /** Deletes the hosts with their host_mdm rows (label memberships cascade). */
  async deleteByIds(ids: number[], trx: Transaction<DB>): Promise<DeletedHost[]> {
    if (ids.length === 0) return [];
    const rows = await trx
      .selectFrom('hosts')
      .select(['id', 'uuid', 'platform'])
      .where('id', 'in', ids)
      .execute();
    if (rows.length === 0) return [];
    const found = rows.map((r) => r.id);
    await trx.deleteFrom('host_mdm').where('host_id', 'in', found).execute();
    await trx.deleteFrom('label_membership').where('host_id', 'in', found).execute();
    await trx.deleteFrom('hosts').where('id', 'in', found).execute();
    return rows;
  }

  async transfer(ids: number[], teamId: number | null, trx: Transaction<DB>): Promise<void> {
    if (ids.length === 0) return;
    await trx
      .updateTable('hosts')
      .set({ team_id: teamId, updated_at: dbNow() })
      .where('id', 'in', ids)
      .execute();
  }

  async idsInTeam(teamId: number, trx: AnyDb = this.db): Promise<number[]> {
    const rows = await trx
      .selectFrom('hosts')
      .select('id')
      .where('team_id', '=', teamId)
      .orderBy('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /** Host counts per team id (null key = No team). */
  async countsByTeam(teamIds: number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (teamIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('hosts')
      .select(['team_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('team_id', 'in', teamIds)
      .groupBy('team_id')
      .execute();
    for (const r of rows) out.set(r.team_id!, Number(r.n));
    return out;
  }
}

/** Fleet's enrollment buckets over host_mdm; server editions (is_server) are in none of them. */
function enrollmentCondition(
  eb: ExpressionBuilder<DB, 'hosts'>,
  status: MdmEnrollmentFilter,
): Expression<SqlBool> {
  const sub = (conds: (e: ExpressionBuilder<DB, 'host_mdm'>) => Expression<SqlBool>) =>
    eb(
      'hosts.id',
      'in',
      eb.selectFrom('host_mdm').select('host_mdm.host_id').where('host_mdm.is_server', '=', 0).where(conds),
    );
  switch (status) {
    case 'manual':
      return sub((e) =>
        e.and([e('enrolled', '=', 1), e('installed_from_dep', '=', 0), e('is_personal_enrollment', '=', 0)]),
      );
    case 'automatic':
      return sub((e) => e.and([e('enrolled', '=', 1), e('installed_from_dep', '=', 1)]));
    case 'personal':
      return sub((e) =>
        e.and([e('enrolled', '=', 1), e('installed_from_dep', '=', 0), e('is_personal_enrollment', '=', 1)]),
      );
    case 'enrolled':
      return sub((e) => e('enrolled', '=', 1));
    case 'pending':
      return sub((e) => e.and([e('enrolled', '=', 0), e('installed_from_dep', '=', 1)]));
    case 'unenrolled':
      return eb.not(
        eb(
          'hosts.id',
          'in',
          eb
            .selectFrom('host_mdm')
            .select('host_mdm.host_id')
            .where((e) =>
              e.or([e('enrolled', '=', 1), e('installed_from_dep', '=', 1), e('is_server', '=', 1)]),
            ),
        ),
      );
  }
}

/** Fleet's `mdm.enrollment_status` text for a host_mdm row (null for servers and hosts without one). */
export function enrollmentStatusText(m: HostMdmRow | undefined): string | null {
  if (!m || m.is_server) return null;
  if (m.enrolled && !m.installed_from_dep && m.is_personal_enrollment) return 'On (personal)';
  if (m.enrolled && !m.installed_from_dep) return 'On (manual)';
  if (m.enrolled && m.installed_from_dep) return 'On (automatic)';
  if (!m.enrolled && m.installed_from_dep) return 'Pending';
  return 'Off';
}
