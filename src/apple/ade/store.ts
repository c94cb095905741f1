import { sql, type Kysely, type SqlBool, type Transaction } from 'kysely';
import { dbNow, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';

/** An ADE host as the enroll endpoint sees it (found by serial among live DEP assignments). */
export interface DepHost {
  id: number;
  uuid: string;
  teamId: number | null;
  platform: string;
}

/** An end user known from the identity provider. */
export interface IdpAccount {
  uuid: string;
  username: string;
  fullname: string;
  email: string;
}

/** What the setup experience needs about a host that just turned MDM on. */
export interface SetupHost {
  id: number;
  uuid: string;
  teamId: number | null;
  platform: string;
  installedFromDep: boolean;
  depAssigned: boolean;
  fleetEnrollRef: string;
  /** The ADE migration deadline (OS 26 ABM migration), when the assignment carries one. */
  migrationDeadline: string | null;
  migrationCompleted: boolean;
  /** The raw TokenUpdate plist the device sent last. */
  tokenUpdate: string | null;
}

/** A held device the release job looks at. */
export interface HeldDevice {
  hostUuid: string;
  startedAt: string;
  /** Everything settled (profiles, bootstrap package, AccountConfiguration answered). */
  settled: boolean;
}

const finalStatuses = ['Acknowledged', 'Error', 'CommandFormatError'];

/**
 * The ADE enrollment and setup-experience queries: DEP hosts by serial, IdP accounts,
 * host_mdm_apple_awaiting_configuration, and the release job's "has everything settled" test, which
 * SQL answers for a batch of held devices at once.
 */
export class AdeStore {
  constructor(readonly db: Kysely<DB>) {}

  async depHostBySerial(serial: string): Promise<DepHost | undefined> {
    if (!serial) return undefined;
    const r = await this.db
      .selectFrom('hosts as h')
      .innerJoin('host_dep_assignments as d', 'd.host_id', 'h.id')
      .select(['h.id', 'h.uuid', 'h.team_id', 'h.platform'])
      .where('h.hardware_serial', '=', serial)
      .where('d.deleted_at', 'is', null)
      .orderBy('h.id')
      .executeTakeFirst();
    return r ? { id: r.id, uuid: r.uuid, teamId: r.team_id, platform: r.platform } : undefined;
  }

  /** Is the host assigned to this server in ABM (a live host_dep_assignments row)? */
  async isDepAssigned(hostId: number): Promise<boolean> {
    const r = await this.db
      .selectFrom('host_dep_assignments')
      .select('host_id')
      .where('host_id', '=', hostId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return Boolean(r);
  }

  /**
   * A pending ADE host (placeholder, no UUID yet) becomes the device that just enrolled: it takes
   * the device's UDID, so every table keyed by host UUID finds it.
   */
  async adoptPlaceholder(hostId: number, uuid: string): Promise<void> {
    await this.db
      .updateTable('hosts')
      .set({ uuid, updated_at: dbNow() })
      .where('id', '=', hostId)
      .where('uuid', '=', '')
      .execute();
  }

  async idpAccount(uuid: string): Promise<IdpAccount | undefined> {
    if (!uuid) return undefined;
    const r = await this.db
      .selectFrom('mdm_idp_accounts')
      .select(['uuid', 'username', 'fullname', 'email'])
      .where('uuid', '=', uuid)
      .executeTakeFirst();
    return r;
  }

  /** The account linked to a host (host_mdm_idp_accounts). */
  async idpAccountOfHost(hostUuid: string): Promise<IdpAccount | undefined> {
    if (!hostUuid) return undefined;
    return this.db
      .selectFrom('host_mdm_idp_accounts as l')
      .innerJoin('mdm_idp_accounts as a', 'a.uuid', 'l.account_uuid')
      .select(['a.uuid', 'a.username', 'a.fullname', 'a.email'])
      .where('l.host_uuid', '=', hostUuid)
      .executeTakeFirst();
  }

  async linkIdpAccount(hostUuid: string, accountUuid: string): Promise<void> {
    const now = dbNow();
    await upsert(
      this.db,
      'host_mdm_idp_accounts',
      { host_uuid: hostUuid, account_uuid: accountUuid, created_at: now, updated_at: now },
      ['host_uuid'],
      ['account_uuid', 'updated_at'],
    );
  }

  async setupHost(hostId: number): Promise<SetupHost | undefined> {
    const r = await this.db
      .selectFrom('hosts as h')
      .leftJoin('host_mdm as hm', 'hm.host_id', 'h.id')
      .leftJoin('host_dep_assignments as d', (j) =>
        j.onRef('d.host_id', '=', 'h.id').on('d.deleted_at', 'is', null),
      )
      .leftJoin('nano_devices as n', 'n.id', 'h.uuid')
      .select([
        'h.id',
        'h.uuid',
        'h.team_id',
        'h.platform',
        'hm.installed_from_dep',
        'hm.fleet_enroll_ref',
        'd.host_id as dep_host_id',
        'd.mdm_migration_deadline',
        'd.mdm_migration_completed',
        'n.token_update',
      ])
      .where('h.id', '=', hostId)
      .executeTakeFirst();
    if (!r) return undefined;
    return {
      id: r.id,
      uuid: r.uuid,
      teamId: r.team_id,
      platform: r.platform,
      installedFromDep: Boolean(Number(r.installed_from_dep ?? 0)),
      depAssigned: r.dep_host_id !== null,
      fleetEnrollRef: r.fleet_enroll_ref ?? '',
      migrationDeadline: r.mdm_migration_deadline ?? null,
      migrationCompleted: Boolean(Number(r.mdm_migration_completed ?? 0)),
      tokenUpdate: r.token_update ?? null,
    };
  }

  async markMigrationCompleted(hostId: number): Promise<void> {
    await this.db
      .updateTable('host_dep_assignments')
      .set({ mdm_migration_completed: 1 })
      .where('host_id', '=', hostId)
      .execute();
  }

  /** Starts (or restarts, on a re-enrollment) a device's hold in Setup Assistant. */
  async startHold(h: {
    hostUuid: string;
    awaiting: boolean;
    teamId: number | null;
    platform: string;
    bootstrapCommandUuid: string | null;
    accountCommandUuid: string | null;
    manualRelease: boolean;
  }): Promise<void> {
    const now = dbNow();
    await upsert(
      this.db,
      'host_mdm_apple_awaiting_configuration',
      {
        host_uuid: h.hostUuid,
        awaiting_configuration: h.awaiting ? 1 : 0,
        team_id: h.teamId,
        platform: h.platform,
        bootstrap_command_uuid: h.bootstrapCommandUuid,
        account_command_uuid: h.accountCommandUuid,
        manual_release: h.manualRelease ? 1 : 0,
        started_at: now,
        release_command_uuid: null,
        released_at: null,
        release_reason: null,
        configured_at: null,
        created_at: now,
        updated_at: now,
      },
      ['host_uuid'],
      [
        'awaiting_configuration',
        'team_id',
        'platform',
        'bootstrap_command_uuid',
        'account_command_uuid',
        'manual_release',
        'started_at',
        'release_command_uuid',
        'released_at',
        'release_reason',
        'configured_at',
        'updated_at',
      ],
    );
  }

  async hold(hostUuid: string) {
    return this.db
      .selectFrom('host_mdm_apple_awaiting_configuration')
      .selectAll()
      .where('host_uuid', '=', hostUuid)
      .executeTakeFirst();
  }

  /**
   * Held devices the release job releases now: still awaiting configuration, DeviceConfigured not
   * sent, released automatically, and either held since before `cutoff` or `settled` — no Apple
   * profile pending on the host (declarations do not count: a device in Setup Assistant runs no DDM
   * session, as Fleet notes) and every command sent at enrollment answered with a final status.
   */
  async heldDevices(cutoff: string, limit: number): Promise<HeldDevice[]> {
    const answered = (col: 'a.bootstrap_command_uuid' | 'a.account_command_uuid') =>
      sql<boolean>`(${sql.ref(col)} IS NULL OR EXISTS (
        SELECT 1 FROM nano_command_results r
        WHERE r.id = a.host_uuid AND r.command_uuid = ${sql.ref(col)}
          AND r.status IN (${sql.join(finalStatuses)})))`;
    const settled = sql<SqlBool>`(NOT EXISTS (
        SELECT 1 FROM host_mdm_apple_profiles p
        WHERE p.host_uuid = a.host_uuid AND (p.status IS NULL OR p.status = 'pending'))
      AND ${answered('a.bootstrap_command_uuid')}
      AND ${answered('a.account_command_uuid')})`;
    const rows = await this.db
      .selectFrom('host_mdm_apple_awaiting_configuration as a')
      .select([
        'a.host_uuid',
        'a.started_at',
        sql<number>`(CASE WHEN ${settled} THEN 1 ELSE 0 END)`.as('settled'),
      ])
      .where('a.awaiting_configuration', '=', 1)
      .where('a.release_command_uuid', 'is', null)
      .where('a.manual_release', '=', 0)
      .where((eb) => eb.or([eb('a.started_at', '<=', cutoff), settled]))
      .orderBy('a.started_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      hostUuid: r.host_uuid,
      startedAt: r.started_at,
      settled: Number(r.settled) === 1,
    }));
  }

  /** Records that DeviceConfigured was queued; false when another process got there first. */
  async markReleased(
    hostUuid: string,
    commandUuid: string,
    reason: 'completed' | 'timeout',
    db: Kysely<DB> | Transaction<DB> = this.db,
  ): Promise<boolean> {
    const now = dbNow();
    const res = await db
      .updateTable('host_mdm_apple_awaiting_configuration')
      .set({ release_command_uuid: commandUuid, released_at: now, release_reason: reason, updated_at: now })
      .where('host_uuid', '=', hostUuid)
      .where('release_command_uuid', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** The device acknowledged DeviceConfigured: it left Setup Assistant (Fleet's flag goes false). */
  async markConfigured(hostUuid: string): Promise<void> {
    const now = dbNow();
    await this.db
      .updateTable('host_mdm_apple_awaiting_configuration')
      .set({ awaiting_configuration: 0, configured_at: now, updated_at: now })
      .where('host_uuid', '=', hostUuid)
      .execute();
  }

  async forgetHosts(hostUuids: string[]): Promise<void> {
    const uuids = hostUuids.filter(Boolean);
    if (!uuids.length) return;
    await this.db
      .deleteFrom('host_mdm_apple_awaiting_configuration')
      .where('host_uuid', 'in', uuids)
      .execute();
  }
}
