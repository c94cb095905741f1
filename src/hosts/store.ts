import {
  sql,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type SqlBool,
  type Transaction,
} from 'kysely';
import {
  dbNow,
  dialectOf,
  fromDbTime,
  minusSeconds,
  toDbTime,
  upsert,
  type DialectName,
} from '../db/dialect.js';
import { ReusableQuery } from '../db/reusableQuery.js';
import type { DB } from '../db/schema.js';
import { diskEncryptionStatusFilter } from '../diskencryption/statusSql.js';
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
  /** NULL until the host reports its disks. */
  gigs_disk_space_available: number | null;
  percent_disk_space_available: number | null;
  disk_encryption_enabled: boolean | null;
  /** A decryptable disk-encryption key is escrowed (Fleet's list `mdm.encryption_key_available`). */
  encryption_key_available?: boolean;
  /** Vitals osquery reports, with Fleet's names ('' / 0 until reported); uptime in nanoseconds. */
  osquery_version: string;
  build: string;
  platform_like: string;
  code_name: string;
  cpu_type: string;
  cpu_subtype: string;
  cpu_brand: string;
  cpu_physical_cores: number;
  cpu_logical_cores: number;
  hardware_vendor: string;
  hardware_version: string;
  memory: number;
  uptime: number;
  primary_ip: string;
  primary_mac: string;
  public_ip: string;
  orbit_version: string;
  gigs_total_disk_space: number | null;
  last_restarted_at: string | null;
  /** The agent's check-in intervals (seconds) as it reported them; 0 = not reported. */
  distributed_interval: number;
  config_tls_refresh: number;
  logger_tls_period: number;
  /** Last request from the host's agent; null for hosts without one (MDM-only hosts). */
  seen_time: string | null;
  refetch_critical_queries_until: string | null;
  /** The host's host_mdm row, if it has one. */
  mdm: HostMdmRow | undefined;
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
  mdm_id: number | null;
  /** Fleet's `dep_profile_error`: the live ADE assignment last answered FAILED. */
  dep_profile_error?: boolean;
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

/** Fleet's `status` filter: `mia` is the deprecated name of `missing`. */
export const hostStatusFilters = ['online', 'offline', 'new', 'missing', 'mia'] as const;
export type HostStatusFilter = (typeof hostStatusFilters)[number];

/** Fleet's `os_settings` / `macos_settings` / `profile_status` values. */
export const osSettingsStatuses = ['verified', 'verifying', 'pending', 'failed'] as const;
export type OsSettingsStatus = (typeof osSettingsStatuses)[number];

/** Fleet's `os_settings_disk_encryption` / `macos_settings_disk_encryption` values. */
export const diskEncryptionStatuses = [
  'verified',
  'verifying',
  'action_required',
  'enforcing',
  'failed',
  'removing_enforcement',
] as const;
export type DiskEncryptionStatus = (typeof diskEncryptionStatuses)[number];

/** Fleet's `bootstrap_package` values. */
export const bootstrapPackageStatuses = ['installed', 'pending', 'failed'] as const;
export type BootstrapPackageStatus = (typeof bootstrapPackageStatuses)[number];

/**
 * When a host without an agent (MDM-only) counts as online: seen within this window, the hour in
 * which a host refreshes its details plus Fleet's 60 s buffer against flapping.
 */
export const hostOnlineWindowMs = (60 * 60 + 60) * 1000;
/** Fleet's buffer added to an agent's check-in interval before its host counts as offline. */
export const onlineIntervalBufferSeconds = 60;
/** Fleet: a host created in the last 24 hours is new; one not seen for 30 days is missing. */
export const hostNewWindowMs = 24 * 60 * 60 * 1000;
export const hostMissingAfterMs = 30 * 24 * 60 * 60 * 1000;

type SeenFields = Pick<
  HostRow,
  'detail_updated_at' | 'created_at' | 'seen_time' | 'distributed_interval' | 'config_tls_refresh'
>;

/**
 * When a host was last seen: its agent's last request (seen_time) when it has an agent; otherwise
 * its last detail update, or its creation when it never reported.
 */
export function hostSeenAt(h: Pick<SeenFields, 'detail_updated_at' | 'created_at' | 'seen_time'>): number {
  const agentSeen = fromDbTime(h.seen_time)?.getTime();
  if (agentSeen !== undefined) return agentSeen;
  const seen = fromDbTime(h.detail_updated_at)?.getTime() ?? 0;
  const created = fromDbTime(h.created_at)?.getTime() ?? 0;
  return Math.max(seen, created);
}

/**
 * How long after it was last seen a host still counts as online: for a host with an agent, Fleet's
 * LEAST(distributed_interval, config_tls_refresh) + 60 s; otherwise `hostOnlineWindowMs`.
 */
export function hostOnlineWindow(h: SeenFields): number {
  if (h.seen_time === null || h.seen_time === undefined) return hostOnlineWindowMs;
  return (Math.min(h.distributed_interval, h.config_tls_refresh) + onlineIntervalBufferSeconds) * 1000;
}

/** Fleet's host `status` at `now`: online or offline (missing hosts are offline too). */
export function hostStatusAt(h: SeenFields, now = Date.now()): 'online' | 'offline' {
  return hostSeenAt(h) + hostOnlineWindow(h) > now ? 'online' : 'offline';
}

export interface HostFilter {
  /** A team id, null for "No team", undefined for every team the caller may see. */
  teamId?: number | null;
  /** Teams the caller may see ('all' for global roles); hosts elsewhere are never listed. */
  visibleTeams: 'all' | number[];
  labelId?: number;
  platform?: string;
  mdmEnrollmentStatus?: MdmEnrollmentFilter;
  mdmId?: number;
  mdmName?: string;
  /** Hosts with a live MDM enrollment (Apple device channel or Windows) on this server. */
  connectedToFleet?: boolean;
  query?: string;
  status?: HostStatusFilter;
  /** Aggregate status of the host's profiles and declarations (Apple) or profiles (Windows). */
  osSettings?: OsSettingsStatus;
  /** The same, for Apple hosts only. */
  macosSettings?: OsSettingsStatus;
  osSettingsDiskEncryption?: DiskEncryptionStatus;
  macosSettingsDiskEncryption?: DiskEncryptionStatus;
  bootstrapPackage?: BootstrapPackageStatus;
  /** Hosts whose row for this profile or declaration has this status (NULL counts as pending). */
  profile?: { uuid: string; status: OsSettingsStatus };
  /** Hosts with less than this many GB of disk space available. */
  lowDiskSpace?: number;
  /** The time the status filter is evaluated at (default now). */
  now?: Date;
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
  // The list's `seen_time` (hostSeenAt), as Fleet's console sorts its "Last seen" column.
  'seen_time',
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
  'hosts.gigs_disk_space_available',
  'hosts.percent_disk_space_available',
  'hosts.disk_encryption_enabled',
  'hosts.osquery_version',
  'hosts.build',
  'hosts.platform_like',
  'hosts.code_name',
  'hosts.cpu_type',
  'hosts.cpu_subtype',
  'hosts.cpu_brand',
  'hosts.cpu_physical_cores',
  'hosts.cpu_logical_cores',
  'hosts.hardware_vendor',
  'hosts.hardware_version',
  'hosts.memory',
  'hosts.uptime',
  'hosts.primary_ip',
  'hosts.primary_mac',
  'hosts.public_ip',
  'hosts.orbit_version',
  'hosts.gigs_total_disk_space',
  'hosts.last_restarted_at',
  'hosts.distributed_interval',
  'hosts.config_tls_refresh',
  'hosts.logger_tls_period',
  'hosts.seen_time',
  'hosts.refetch_critical_queries_until',
  'host_mdm.host_id as mdm_host_id',
  'host_mdm.enrolled as mdm_enrolled',
  'host_mdm.server_url as mdm_server_url',
  'host_mdm.installed_from_dep as mdm_installed_from_dep',
  'host_mdm.mdm_name as mdm_mdm_name',
  'host_mdm.is_server as mdm_is_server',
  'host_mdm.fleet_enroll_ref as mdm_fleet_enroll_ref',
  'host_mdm.is_personal_enrollment as mdm_is_personal_enrollment',
  'host_mdm.mdm_id as mdm_mdm_id',
] as const;

/** Whether the host has a decryptable escrowed disk-encryption key (one primary-key lookup). */
const encryptionKeyAvailable = sql<number>`(CASE WHEN EXISTS (SELECT 1 FROM host_disk_encryption_keys k
  WHERE k.host_id = hosts.id AND k.decryptable = 1) THEN 1 ELSE 0 END)`.as('encryption_key_available');

/** Fleet's `mdm.dep_profile_error`: the host's live ADE profile assignment failed (a key lookup). */
const depProfileError = sql<number>`(CASE WHEN EXISTS (SELECT 1 FROM host_dep_assignments d
  WHERE d.host_id = hosts.id AND d.deleted_at IS NULL AND d.assign_profile_response = 'FAILED') THEN 1 ELSE 0 END)`.as(
  'dep_profile_error',
);

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toHostMdm(r: any): HostMdmRow {
  return {
    host_id: r.host_id,
    enrolled: Boolean(r.enrolled),
    server_url: r.server_url,
    installed_from_dep: Boolean(r.installed_from_dep),
    mdm_name: r.mdm_name,
    is_server: Boolean(r.is_server),
    fleet_enroll_ref: r.fleet_enroll_ref,
    is_personal_enrollment: Boolean(r.is_personal_enrollment),
    mdm_id: num(r.mdm_id),
    dep_profile_error: Boolean(Number(r.dep_profile_error ?? 0)),
  };
}

function toHost(r: any): HostRow {
  const {
    mdm_host_id,
    mdm_enrolled,
    mdm_server_url,
    mdm_installed_from_dep,
    mdm_mdm_name,
    mdm_is_server,
    mdm_fleet_enroll_ref,
    mdm_is_personal_enrollment,
    mdm_mdm_id,
    ...host
  } = r;
  return {
    ...host,
    team_name: r.team_name ?? null,
    refetch_requested: Boolean(r.refetch_requested),
    gigs_disk_space_available: num(r.gigs_disk_space_available),
    percent_disk_space_available: num(r.percent_disk_space_available),
    gigs_total_disk_space: num(r.gigs_total_disk_space),
    memory: Number(r.memory ?? 0),
    uptime: Number(r.uptime ?? 0),
    cpu_physical_cores: Number(r.cpu_physical_cores ?? 0),
    cpu_logical_cores: Number(r.cpu_logical_cores ?? 0),
    distributed_interval: Number(r.distributed_interval ?? 0),
    config_tls_refresh: Number(r.config_tls_refresh ?? 0),
    logger_tls_period: Number(r.logger_tls_period ?? 0),
    disk_encryption_enabled:
      r.disk_encryption_enabled === null || r.disk_encryption_enabled === undefined
        ? null
        : Boolean(r.disk_encryption_enabled),
    encryption_key_available: Boolean(Number(r.encryption_key_available ?? 0)),
    mdm:
      mdm_host_id === null || mdm_host_id === undefined
        ? undefined
        : toHostMdm({
            host_id: mdm_host_id,
            enrolled: mdm_enrolled,
            server_url: mdm_server_url,
            installed_from_dep: mdm_installed_from_dep,
            mdm_name: mdm_mdm_name,
            is_server: mdm_is_server,
            fleet_enroll_ref: mdm_fleet_enroll_ref,
            is_personal_enrollment: mdm_is_personal_enrollment,
            mdm_id: mdm_mdm_id,
            dep_profile_error: r.dep_profile_error,
          }),
  };
}

/** hosts and host_mdm, plus the built-in label memberships of hosts the server creates. */
export class HostStore {
  constructor(private readonly db: Kysely<DB>) {}

  private select(db: AnyDb = this.db) {
    return db
      .selectFrom('hosts')
      .leftJoin('teams', 'teams.id', 'hosts.team_id')
      .leftJoin('host_mdm', 'host_mdm.host_id', 'hosts.id')
      .select(hostColumns)
      .select(encryptionKeyAvailable)
      .select(depProfileError);
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

  /** orbit's hot path (every config poll): the statement is compiled once (see ReusableQuery). */
  private byOrbitNodeKey?: ReusableQuery<[string], Record<string, unknown>>;

  async findByOrbitNodeKey(key: string): Promise<HostRow | undefined> {
    if (!key) return undefined;
    this.byOrbitNodeKey ??= new ReusableQuery(
      this.db,
      (k: string) => this.select().where('hosts.orbit_node_key', '=', k),
      1,
    );
    const res = await this.byOrbitNodeKey.execute(key);
    return res.rows[0] ? toHost(res.rows[0]) : undefined;
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

  private writeBuiltinMemberships(trx: Transaction<DB>, hostId: number, platform: string): Promise<void> {
    return writeBuiltinMemberships(trx, hostId, platform);
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
      /** What osquery reports besides (Windows Server; Fleet's IdP enrollment reference); kept when absent. */
      is_server?: boolean;
      fleet_enroll_ref?: string;
    },
  ): Promise<void> {
    // Like Fleet, a host reporting an MDM server URL points at that MDM solution; none without one.
    const mdmId = m.server_url ? await this.mdmSolutionId(m.mdm_name, m.server_url) : null;
    const optional = {
      ...(m.is_server !== undefined ? { is_server: m.is_server ? 1 : 0 } : {}),
      ...(m.fleet_enroll_ref !== undefined ? { fleet_enroll_ref: m.fleet_enroll_ref } : {}),
    };
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
        mdm_id: mdmId,
        ...optional,
      },
      ['host_id'],
      [
        'enrolled',
        'server_url',
        'installed_from_dep',
        'is_personal_enrollment',
        'mdm_name',
        'mdm_id',
        ...Object.keys(optional),
      ],
    );
  }

  async getHostMdm(hostId: number): Promise<HostMdmRow | undefined> {
    const r = await this.db
      .selectFrom('host_mdm')
      .selectAll()
      .select(
        sql<number>`(CASE WHEN EXISTS (SELECT 1 FROM host_dep_assignments d WHERE d.host_id = host_mdm.host_id
          AND d.deleted_at IS NULL AND d.assign_profile_response = 'FAILED') THEN 1 ELSE 0 END)`.as(
          'dep_profile_error',
        ),
      )
      .where('host_id', '=', hostId)
      .executeTakeFirst();
    return r ? toHostMdm(r) : undefined;
  }

  /**
   * Fleet's MDM summary of the hosts the filter selects: how many are enrolled by hand, by ADE, as
   * personal devices, pending or unenrolled, and how many use each MDM solution. Servers and hosts
   * that never reported an MDM state are not counted, as Fleet counts host_mdm rows.
   */
  async mdmSummary(f: HostFilter): Promise<{
    statuses: { manual: number; automatic: number; personal: number; pending: number; unenrolled: number };
    solutions: { id: number; name: string; server_url: string; hosts_count: number }[];
  }> {
    const hostIds = this.applyFilter(this.db.selectFrom('hosts').select('hosts.id'), f);
    const rows = await this.db
      .selectFrom('host_mdm')
      .select(['enrolled', 'installed_from_dep', 'is_personal_enrollment', 'mdm_id'])
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('host_id', 'in', hostIds)
      .where('is_server', '=', 0)
      .groupBy(['enrolled', 'installed_from_dep', 'is_personal_enrollment', 'mdm_id'])
      .execute();
    const statuses = { manual: 0, automatic: 0, personal: 0, pending: 0, unenrolled: 0 };
    const perSolution = new Map<number, number>();
    for (const r of rows) {
      const n = Number(r.n);
      const enrolled = Boolean(Number(r.enrolled));
      const dep = Boolean(Number(r.installed_from_dep));
      if (enrolled && dep) statuses.automatic += n;
      else if (enrolled && Boolean(Number(r.is_personal_enrollment))) statuses.personal += n;
      else if (enrolled) statuses.manual += n;
      else if (dep) statuses.pending += n;
      else statuses.unenrolled += n;
      if (enrolled && r.mdm_id !== null) perSolution.set(r.mdm_id, (perSolution.get(r.mdm_id) ?? 0) + n);
    }
    const known = perSolution.size
      ? await this.db
          .selectFrom('mdm_solutions')
          .select(['id', 'name', 'server_url'])
          .where('id', 'in', [...perSolution.keys()])
          .orderBy('id')
          .execute()
      : [];
    return { statuses, solutions: known.map((s) => ({ ...s, hosts_count: perSolution.get(s.id) ?? 0 })) };
  }

  /** An MDM solution (`mdm_solutions` row) by id. */
  async getMdmSolution(id: number): Promise<{ id: number; name: string; server_url: string } | undefined> {
    return this.db
      .selectFrom('mdm_solutions')
      .select(['id', 'name', 'server_url'])
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** The id of the MDM solution with this name and server URL, created on first sight. */
  private mdmSolutionId(name: string, serverUrl: string, db: AnyDb = this.db): Promise<number> {
    return mdmSolutionIdIn(db, name, serverUrl);
  }

  /** Disk space and encryption as the host reports them (Fleet's host_disks); null = unknown. */
  async setDiskInfo(
    id: number,
    info: {
      gigs_disk_space_available: number | null;
      percent_disk_space_available: number | null;
      disk_encryption_enabled?: boolean | null;
    },
  ): Promise<void> {
    const set: Record<string, unknown> = {
      gigs_disk_space_available: info.gigs_disk_space_available,
      percent_disk_space_available: info.percent_disk_space_available,
    };
    if (info.disk_encryption_enabled !== undefined) {
      set.disk_encryption_enabled =
        info.disk_encryption_enabled === null ? null : info.disk_encryption_enabled ? 1 : 0;
    }
    await this.db.updateTable('hosts').set(set).where('id', '=', id).execute();
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
    if (f.mdmId !== undefined) {
      q = q.where(sql<SqlBool>`hosts.id IN (SELECT host_id FROM host_mdm WHERE mdm_id = ${f.mdmId})`);
    }
    if (f.mdmName !== undefined) {
      q = q.where(sql<SqlBool>`hosts.id IN (SELECT host_id FROM host_mdm WHERE mdm_name = ${f.mdmName})`);
    }
    if (f.mdmEnrollmentStatus || f.mdmId !== undefined || f.mdmName !== undefined) {
      // Fleet: the MDM filters only ever match the platforms MDM manages, never servers.
      q = q
        .where('hosts.platform', 'in', mdmPlatforms)
        .where(sql<SqlBool>`hosts.id NOT IN (SELECT host_id FROM host_mdm WHERE is_server = 1)`);
    }
    if (f.connectedToFleet) {
      q = q.where(
        sql<SqlBool>`(hosts.uuid IN (${appleDeviceChannels}) OR hosts.uuid IN (${windowsEnrollments}))`,
      );
    }
    if (f.status) q = q.where(statusCondition(f.status, f.now ?? new Date(), dialectOf(this.db)));
    if (f.lowDiskSpace !== undefined) {
      q = q.where('hosts.gigs_disk_space_available', '<', f.lowDiskSpace);
    }
    if (f.profile) q = q.where(profileStatusCondition(f.profile.uuid, f.profile.status));
    if (f.osSettings) {
      q = q.where(
        sql<SqlBool>`((${appleMdmOn} AND hosts.uuid IN (${hostsInAggregate(appleStatusRows, f.osSettings)}))
          OR (${windowsMdmOn} AND hosts.uuid IN (${hostsInAggregate(windowsStatusRows, f.osSettings)}))
          OR (${androidMdmOn} AND hosts.uuid IN (${hostsInAggregate(androidStatusRows, f.osSettings)})))`,
      );
    }
    if (f.macosSettings) {
      q = q.where(
        sql<SqlBool>`(${appleMdmOn} AND hosts.uuid IN (${hostsInAggregate(appleStatusRows, f.macosSettings)}))`,
      );
    }
    // Disk encryption: hosts by FileVault status (and BitLocker status for os_settings), in SQL.
    for (const [status, includeWindows] of [
      [f.osSettingsDiskEncryption, true],
      [f.macosSettingsDiskEncryption, false],
    ] as const) {
      if (!status) continue;
      const now = f.now ?? new Date();
      q = q.where(diskEncryptionStatusFilter({ dialect: dialectOf(this.db), status, includeWindows, now }));
    }
    // Bootstrap package (Fleet's rule): Macs installed from ADE, by the device's answer to their
    // InstallEnterpriseApplication; no command or no answer yet is pending (as the summary counts).
    if (f.bootstrapPackage) {
      const b = f.bootstrapPackage;
      const statusCond =
        b === 'pending' ? sql`(hb.status IS NULL OR hb.status = 'pending')` : sql`hb.status = ${b}`;
      q = q.where(
        sql<SqlBool>`EXISTS (SELECT 1 FROM host_mdm hbm
          LEFT JOIN host_mdm_apple_bootstrap_packages hb ON hb.host_uuid = hosts.uuid
          WHERE hbm.host_id = hosts.id AND hbm.installed_from_dep = 1 AND ${statusCond})
          AND hosts.platform = 'darwin'`,
      );
    }
    const settingsFilter =
      f.osSettings ||
      f.macosSettings ||
      f.osSettingsDiskEncryption ||
      f.macosSettingsDiskEncryption ||
      f.bootstrapPackage;
    // Fleet: the OS-settings and setup filters do not work across teams; without a team they
    // mean "No team".
    if (settingsFilter && f.teamId === undefined) q = q.where('hosts.team_id', 'is', null);
    return q;
  }

  async list(
    f: HostFilter,
    opts: { limit?: number; offset?: number; orderKey?: string; desc?: boolean } = {},
  ): Promise<HostRow[]> {
    let q = this.applyFilter(this.select(), f);
    const key = opts.orderKey === 'display_name' ? 'computer_name' : (opts.orderKey ?? 'id');
    const dir = opts.desc ? 'desc' : 'asc';
    q = key === 'seen_time' ? q.orderBy(lastSeenSql, dir) : q.orderBy(`hosts.${key}` as 'hosts.id', dir);
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

  /** The ids of the hosts matching the filter, in id order. */
  async listIds(f: HostFilter): Promise<number[]> {
    const q = this.applyFilter(this.db.selectFrom('hosts').select('hosts.id').orderBy('hosts.id'), f);
    return (await q.execute()).map((r: { id: number }) => r.id);
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
      .select(['id', 'uuid', 'platform', 'hardware_serial', 'hardware_model'])
      .where('id', 'in', ids)
      .execute();
    if (rows.length === 0) return [];
    const found = rows.map((r) => r.id);
    await trx.deleteFrom('host_mdm').where('host_id', 'in', found).execute();
    await trx.deleteFrom('label_membership').where('host_id', 'in', found).execute();
    // Agent state goes with the host; escrowed keys stay in the archive (as Fleet keeps them).
    await trx.deleteFrom('host_device_auth').where('host_id', 'in', found).execute();
    await trx.deleteFrom('host_emails').where('host_id', 'in', found).execute();
    await trx
      .insertInto('host_disk_encryption_keys_archive')
      .columns([
        'host_id',
        'hardware_serial',
        'base64_encrypted',
        'base64_encrypted_salt',
        'key_slot',
        'created_at',
      ])
      .expression((eb) =>
        eb
          .selectFrom('host_disk_encryption_keys as k')
          .innerJoin('hosts as h', 'h.id', 'k.host_id')
          .select([
            'k.host_id',
            'h.hardware_serial',
            'k.base64_encrypted',
            'k.base64_encrypted_salt',
            'k.key_slot',
            'k.updated_at',
          ])
          .where('k.host_id', 'in', found)
          .where('k.base64_encrypted', '<>', ''),
      )
      .execute();
    await trx.deleteFrom('host_disk_encryption_keys').where('host_id', 'in', found).execute();
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

const mdmPlatforms = ['darwin', 'windows', 'ios', 'ipados'];

/** `hostSeenAt` in SQL: the agent's seen_time, else the later of detail_updated_at and created_at. */
const lastSeenSql = sql`(CASE WHEN hosts.seen_time IS NOT NULL THEN hosts.seen_time
    WHEN hosts.detail_updated_at > hosts.created_at THEN hosts.detail_updated_at ELSE hosts.created_at END)`;

/**
 * Fleet's host status buckets at `now`, with the same last-seen time and online windows as
 * `hostSeenAt` / `hostStatusAt`: an agent's seen_time and interval when the host has an agent,
 * otherwise the later of detail_updated_at and created_at and the fixed window.
 */
function statusCondition(status: HostStatusFilter, now: Date, dialect: DialectName): Expression<SqlBool> {
  const at = (offsetMs: number) => toDbTime(new Date(now.getTime() - offsetMs));
  const seen = lastSeenSql;
  const agentWindow = sql`(CASE WHEN hosts.distributed_interval < hosts.config_tls_refresh
    THEN hosts.distributed_interval ELSE hosts.config_tls_refresh END) + ${onlineIntervalBufferSeconds}`;
  const onlineSince = sql`(CASE WHEN hosts.seen_time IS NOT NULL
    THEN ${minusSeconds(dialect, toDbTime(now), agentWindow)} ELSE ${at(hostOnlineWindowMs)} END)`;
  switch (status) {
    case 'online':
      return sql<SqlBool>`${seen} > ${onlineSince}`;
    case 'offline':
      return sql<SqlBool>`${seen} <= ${onlineSince}`;
    case 'new':
      return sql<SqlBool>`hosts.created_at >= ${at(hostNewWindowMs)}`;
    case 'missing':
    case 'mia':
      return sql<SqlBool>`${seen} <= ${at(hostMissingAfterMs)}`;
  }
}

/** Hosts with a row for this profile or declaration (any platform) in this status; NULL is pending. */
function profileStatusCondition(uuid: string, status: OsSettingsStatus): Expression<SqlBool> {
  return sql<SqlBool>`hosts.uuid IN (
    SELECT host_uuid FROM host_mdm_apple_profiles WHERE profile_uuid = ${uuid} AND COALESCE(status, 'pending') = ${status}
    UNION SELECT host_uuid FROM host_mdm_apple_declarations WHERE declaration_uuid = ${uuid} AND COALESCE(status, 'pending') = ${status}
    UNION SELECT host_uuid FROM host_mdm_windows_profiles WHERE profile_uuid = ${uuid} AND COALESCE(status, 'pending') = ${status}
    UNION SELECT host_uuid FROM host_mdm_android_profiles WHERE profile_uuid = ${uuid} AND COALESCE(status, 'pending') = ${status})`;
}

/** UUIDs of hosts with an enabled Apple device channel (device or BYOD enrollment). */
const appleDeviceChannels = sql`SELECT device_id FROM nano_enrollments
  WHERE enabled = 1 AND type IN ('Device', 'User Enrollment (Device)')`;
/** UUIDs of hosts with a live Windows MDM enrollment. */
const windowsEnrollments = sql`SELECT host_uuid FROM mdm_windows_enrollments
  WHERE device_state = 'MDMDeviceEnrolledEnrolled'`;

/** Apple hosts with MDM on: host_mdm says enrolled and the device channel is enabled. */
const appleMdmOn = sql`(hosts.platform IN ('darwin', 'ios', 'ipados')
  AND hosts.id IN (SELECT host_id FROM host_mdm WHERE enrolled = 1)
  AND hosts.uuid IN (${appleDeviceChannels}))`;

/** Windows hosts with MDM on (servers excluded): host_mdm says enrolled and an enrollment is live. */
const windowsMdmOn = sql`(hosts.platform = 'windows'
  AND hosts.id IN (SELECT host_id FROM host_mdm WHERE enrolled = 1 AND is_server = 0)
  AND hosts.uuid IN (${windowsEnrollments}))`;

/** Android hosts with MDM on: host_mdm says enrolled and the AMAPI device is known. */
const androidMdmOn = sql`(hosts.platform = 'android'
  AND hosts.id IN (SELECT host_id FROM host_mdm WHERE enrolled = 1)
  AND hosts.id IN (SELECT host_id FROM android_devices))`;

/**
 * The status rows of a host's OS settings, as Fleet aggregates them: every Apple profile row,
 * install rows of declarations; every Windows profile row.
 */
const appleStatusRows = sql`SELECT host_uuid, status, operation_type FROM host_mdm_apple_profiles
  UNION ALL SELECT host_uuid, status, operation_type FROM host_mdm_apple_declarations WHERE operation_type = 'install'`;
const windowsStatusRows = sql`SELECT host_uuid, status, operation_type FROM host_mdm_windows_profiles`;
/** Android: install rows (a removal is settled by the next policy the device applies). */
const androidStatusRows = sql`SELECT host_uuid, status, operation_type FROM host_mdm_android_profiles
  WHERE operation_type = 'install'`;

/**
 * UUIDs of hosts whose aggregate OS-settings status is `status` (Fleet's precedence): failed if any
 * row failed, else pending if any row is pending or NULL, else verifying if any install row is,
 * else verified if any install row is. A host whose rows reach none of these (only removals that
 * finished) has no status.
 */
function hostsInAggregate(rows: ReturnType<typeof sql>, status: OsSettingsStatus) {
  return sql`SELECT s.host_uuid FROM (${rows}) s GROUP BY s.host_uuid HAVING (CASE
      WHEN SUM(CASE WHEN s.status = 'failed' THEN 1 ELSE 0 END) > 0 THEN 'failed'
      WHEN SUM(CASE WHEN s.status IS NULL OR s.status = 'pending' THEN 1 ELSE 0 END) > 0 THEN 'pending'
      WHEN SUM(CASE WHEN s.status = 'verifying' AND s.operation_type = 'install' THEN 1 ELSE 0 END) > 0 THEN 'verifying'
      WHEN SUM(CASE WHEN s.status = 'verified' AND s.operation_type = 'install' THEN 1 ELSE 0 END) > 0 THEN 'verified'
    END) = ${status}`;
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
/**
 * A host's built-in label memberships, which follow from its platform alone (every process that
 * creates or re-platforms a host writes them the same way).
 */
export async function writeBuiltinMemberships(
  trx: Transaction<DB>,
  hostId: number,
  platform: string,
  now = dbNow(),
): Promise<void> {
  const labels = await trx.selectFrom('labels').select(['id', 'name']).where('label_type', '=', 1).execute();
  const rows = labels.flatMap((l) => {
    const def = builtinLabels.find((b) => b.name === l.name);
    if (!def) return [];
    const isMember = builtinMatches(def, platform) ? 1 : 0;
    return [{ host_id: hostId, label_id: l.id, is_member: isMember, created_at: now, updated_at: now }];
  });
  await upsert(trx, 'label_membership', rows, ['host_id', 'label_id'], ['is_member', 'updated_at']);
}

/** The id of the mdm_solutions row (name, server URL), created on first sight (race-safe upsert). */
export async function mdmSolutionIdIn(db: AnyDb, name: string, serverUrl: string): Promise<number> {
  const find = () =>
    db
      .selectFrom('mdm_solutions')
      .select('id')
      .where('name', '=', name)
      .where('server_url', '=', serverUrl)
      .executeTakeFirst();
  const found = await find();
  if (found) return found.id;
  const now = dbNow();
  await upsert(
    db,
    'mdm_solutions',
    { name, server_url: serverUrl, created_at: now, updated_at: now },
    ['name', 'server_url'],
    [],
  );
  return (await find())!.id;
}

export function enrollmentStatusText(m: HostMdmRow | undefined): string | null {
  if (!m || m.is_server) return null;
  if (m.enrolled && !m.installed_from_dep && m.is_personal_enrollment) return 'On (personal)';
  if (m.enrolled && !m.installed_from_dep) return 'On (manual)';
  if (m.enrolled && m.installed_from_dep) return 'On (automatic)';
  if (!m.enrolled && m.installed_from_dep) return 'Pending';
  return 'Off';
}
