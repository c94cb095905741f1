import { sql, type Kysely, type Transaction } from 'kysely';
import { dbNow, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { ReusableQuery } from '../../db/reusableQuery.js';
import type { HostUpdate } from './ingest/hostUpdate.js';

/**
 * The host as the osquery endpoints need it, read in one indexed query (the unique node key) on
 * every request: identity, platform and team, and the times that decide what is due.
 */
export interface AgentHost {
  id: number;
  osquery_host_id: string | null;
  uuid: string;
  hardware_serial: string;
  platform: string;
  hostname: string;
  team_id: number | null;
  detail_updated_at: string;
  label_updated_at: string;
  refetch_requested: boolean;
  refetch_critical_queries_until: string | null;
  seen_time: string | null;
  distributed_interval: number;
  config_tls_refresh: number;
  logger_tls_period: number;
  last_restarted_at: string | null;
}

const agentHostColumns = [
  'id',
  'osquery_host_id',
  'uuid',
  'hardware_serial',
  'platform',
  'hostname',
  'team_id',
  'detail_updated_at',
  'label_updated_at',
  'refetch_requested',
  'refetch_critical_queries_until',
  'seen_time',
  'distributed_interval',
  'config_tls_refresh',
  'logger_tls_period',
  'last_restarted_at',
] as const;

function toAgentHost(r: any): AgentHost {
  return {
    ...r,
    id: Number(r.id),
    team_id: r.team_id === null ? null : Number(r.team_id),
    refetch_requested: Boolean(Number(r.refetch_requested)),
    distributed_interval: Number(r.distributed_interval),
    config_tls_refresh: Number(r.config_tls_refresh),
    logger_tls_period: Number(r.logger_tls_period),
  };
}

/** Columns a HostUpdate may set, with booleans stored as 0/1. */
function toColumns(u: HostUpdate): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(u)) {
    if (v === undefined) continue;
    out[k] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  }
  return out;
}

type AnyDb = Kysely<DB> | Transaction<DB>;

/** What osquery reads and writes: hosts (agent columns), dynamic label membership, MDM links. */
export class OsqueryStore {
  private readonly byNodeKey: ReusableQuery<[string], Record<string, unknown>>;

  constructor(private readonly db: Kysely<DB>) {
    this.byNodeKey = new ReusableQuery(
      db,
      (nodeKey: string) => db.selectFrom('hosts').select(agentHostColumns).where('node_key', '=', nodeKey),
      1,
    );
  }

  /** The host holding this node key (the hot path's only read). */
  async hostByNodeKey(nodeKey: string): Promise<AgentHost | undefined> {
    const res = await this.byNodeKey.execute(nodeKey);
    return res.rows[0] ? toAgentHost(res.rows[0]) : undefined;
  }

  async hostById(id: number, db: AnyDb = this.db): Promise<AgentHost | undefined> {
    const r = await db.selectFrom('hosts').select(agentHostColumns).where('id', '=', id).executeTakeFirst();
    return r ? toAgentHost(r) : undefined;
  }

  /**
   * The existing host an enrolling agent is, in order: the one with its osquery identifier (it
   * enrolled before); the one with its hardware UUID (created by orbit or by Apple MDM); the one
   * with its serial that never ran osquery and has no UUID yet (an ADE placeholder).
   */
  async enrollMatch(identifier: string, uuid: string, serial: string): Promise<AgentHost | undefined> {
    const byIdentifier = await this.db
      .selectFrom('hosts')
      .select(agentHostColumns)
      .where('osquery_host_id', '=', identifier)
      .executeTakeFirst();
    if (byIdentifier) return toAgentHost(byIdentifier);
    if (uuid) {
      const byUuid = await this.db
        .selectFrom('hosts')
        .select(agentHostColumns)
        .where('uuid', '=', uuid)
        .orderBy('id')
        .executeTakeFirst();
      if (byUuid) return toAgentHost(byUuid);
    }
    if (serial) {
      const bySerial = await this.db
        .selectFrom('hosts')
        .select(agentHostColumns)
        .where('hardware_serial', '=', serial)
        .where('osquery_host_id', 'is', null)
        .where('uuid', '=', '')
        .orderBy('id')
        .executeTakeFirst();
      if (bySerial) return toAgentHost(bySerial);
    }
    return undefined;
  }

  /**
   * A new host for an agent no existing host matches. Its details and labels are due at once
   * (refetch requested, as Fleet creates them). A concurrent enrollment of the same agent loses on
   * the unique osquery identifier; the caller then matches again.
   */
  async insertEnrolledHost(v: {
    osquery_host_id: string;
    node_key: string;
    uuid: string;
    hardware_serial: string;
    team_id: number | null;
  }): Promise<number> {
    const now = dbNow();
    const res = await this.db
      .insertInto('hosts')
      .values({
        ...v,
        refetch_requested: 1,
        seen_time: now,
        last_enrolled_at: now,
        created_at: now,
        updated_at: now,
      })
      .executeTakeFirstOrThrow();
    return Number(res.insertId);
  }

  /** An enrollment of an existing host: new node key and identifier; UUID and serial filled if empty. */
  async reenroll(
    id: number,
    v: {
      osquery_host_id: string;
      node_key: string;
      uuid: string;
      hardware_serial: string;
      team_id: number | null;
    },
  ): Promise<void> {
    const now = dbNow();
    await this.db
      .updateTable('hosts')
      .set({
        osquery_host_id: v.osquery_host_id,
        node_key: v.node_key,
        team_id: v.team_id,
        uuid: sql<string>`COALESCE(NULLIF(uuid, ''), ${v.uuid})`,
        hardware_serial: sql<string>`COALESCE(NULLIF(hardware_serial, ''), ${v.hardware_serial})`,
        last_enrolled_at: now,
        seen_time: now,
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
  }

  /** Writes the changed host columns in one UPDATE (nothing when there is nothing to change). */
  async updateHost(id: number, u: HostUpdate, db: AnyDb = this.db): Promise<void> {
    const set = toColumns(u);
    if (Object.keys(set).length === 0) return;
    await db
      .updateTable('hosts')
      .set({ ...set, updated_at: dbNow() })
      .where('id', '=', id)
      .execute();
  }

  /** Agents' last contact, written in batches (see OsqueryService). */
  async touchSeen(hostIds: number[], time: string): Promise<void> {
    if (hostIds.length === 0) return;
    await this.db
      .updateTable('hosts')
      .set({ seen_time: time })
      .where(
        'id',
        'in',
        [...hostIds].sort((a, b) => a - b),
      )
      .execute();
  }

  /** Dynamic labels with a query for this platform (the label's platform '' = every platform). */
  async dynamicLabelQueries(platform: string): Promise<{ id: number; query: string }[]> {
    const rows = await this.db
      .selectFrom('labels')
      .select(['id', 'query'])
      .where('label_membership_type', '=', 0)
      .where('query', '<>', '')
      .where((eb) => eb.or([eb('platform', '=', ''), eb('platform', '=', platform)]))
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ id: Number(r.id), query: r.query }));
  }

  /**
   * The host's current standing in these dynamic labels: true / false when answered before, null
   * when never answered. Labels that are not dynamic (or no longer exist) are left out.
   */
  async dynamicLabelStates(hostId: number, labelIds: number[]): Promise<Map<number, boolean | null>> {
    const out = new Map<number, boolean | null>();
    if (labelIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('labels')
      .leftJoin('label_membership', (j) =>
        j.onRef('label_membership.label_id', '=', 'labels.id').on('label_membership.host_id', '=', hostId),
      )
      .select(['labels.id', 'label_membership.is_member'])
      .where('labels.id', 'in', labelIds)
      .where('labels.label_membership_type', '=', 0)
      .execute();
    for (const r of rows) {
      out.set(
        Number(r.id),
        r.is_member === null || r.is_member === undefined ? null : Boolean(Number(r.is_member)),
      );
    }
    return out;
  }

  /**
   * The host's changed columns and its answered label memberships (one statement), together. The
   * host row is updated first: the membership insert's foreign-key check then finds the row
   * already locked by this transaction, instead of taking a shared lock it would later have to
   * upgrade (which deadlocks against the batched last-contact update on MySQL).
   */
  async recordLabelResults(
    hostId: number,
    changes: { labelId: number; isMember: boolean }[],
    hostUpdate: HostUpdate,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const now = dbNow();
      await this.updateHost(hostId, hostUpdate, trx);
      await upsert(
        trx,
        'label_membership',
        changes.map((c) => ({
          host_id: hostId,
          label_id: c.labelId,
          is_member: c.isMember ? 1 : 0,
          created_at: now,
          updated_at: now,
        })),
        ['host_id', 'label_id'],
        ['is_member', 'updated_at'],
      );
    });
  }

  /** Points the Windows enrollment with this MDM device id at the host; true when it changed. */
  async linkWindowsEnrollment(mdmDeviceId: string, hostUuid: string): Promise<boolean> {
    const res = await this.db
      .updateTable('mdm_windows_enrollments')
      .set({ host_uuid: hostUuid, updated_at: dbNow() })
      .where('mdm_device_id', '=', mdmDeviceId)
      .where('host_uuid', '<>', hostUuid)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Whether the host's live Windows enrollment was started from Settings (not in OOBE); undefined without one. */
  async windowsEnrolledNotInOobe(hostUuid: string): Promise<boolean | undefined> {
    const r = await this.db
      .selectFrom('mdm_windows_enrollments')
      .select('not_in_oobe')
      .where('host_uuid', '=', hostUuid)
      .where('device_state', '=', 'MDMDeviceEnrolledEnrolled')
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    return r ? Boolean(Number(r.not_in_oobe)) : undefined;
  }

  /** The short name of the user on the host's Apple user channel, if it has one. */
  async appleUserChannelName(hostUuid: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('nano_enrollments as e')
      .innerJoin('nano_users as u', 'u.id', 'e.user_id')
      .select('u.user_short_name')
      .where('e.device_id', '=', hostUuid)
      .where('e.type', '=', 'User')
      .where('e.enabled', '=', 1)
      .executeTakeFirst();
    return r?.user_short_name ?? undefined;
  }
}
