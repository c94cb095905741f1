import type { Kysely, Transaction } from 'kysely';
import { dbNow, forUpdate, toDbTime, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { mdmSolutionIdIn, writeBuiltinMemberships } from '../../hosts/store.js';
import type { DeviceFacts } from './deviceFields.js';

/** The MDM name Fleet shows for hosts enrolled in its own MDM (host_mdm.mdm_name). */
export const fleetMdmName = 'Fleet';

/** An Android host as the device ingest needs it (with its android_devices and host_mdm state). */
export interface AndroidHostRow {
  id: number;
  uuid: string;
  platform: string;
  team_id: number | null;
  hostname: string;
  computer_name: string;
  hardware_serial: string;
  /** host_mdm.enrolled (false without a host_mdm row). */
  enrolled: boolean;
  /** android_devices.device_id (null without an android_devices row). */
  device_id: string | null;
  is_personal: boolean;
  last_status_report_time: string | null;
  /** MD5 of the app list last written ('' when none). */
  software_checksum: string;
  /** An unlock is pending (Android unlocks on the device; the next report settles it). */
  unlock_pending: boolean;
}

/** The bound enterprise's ID (without `enterprises/`), or undefined while none is bound. */
export async function boundEnterpriseId(db: Kysely<DB>): Promise<string | undefined> {
  const r = await db
    .selectFrom('android_enterprises')
    .select('enterprise_id')
    .where('enterprise_id', '<>', '')
    .orderBy('id')
    .executeTakeFirst();
  return r?.enterprise_id;
}

const time = (d: Date | undefined) => (d ? toDbTime(d) : undefined);

/**
 * hosts, host_mdm, android_devices and the IdP link as Android device notifications write them.
 * Every write takes the transaction of the Pub/Sub message it belongs to.
 */
export class AndroidDeviceStore {
  constructor(private readonly db: Kysely<DB>) {}

  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  boundEnterpriseId(): Promise<string | undefined> {
    return boundEnterpriseId(this.db);
  }

  private selectHost(db: Kysely<DB>) {
    return db
      .selectFrom('hosts as h')
      .leftJoin('android_devices as d', 'd.host_id', 'h.id')
      .leftJoin('host_mdm as m', 'm.host_id', 'h.id')
      .leftJoin('host_mdm_actions as a', (j) =>
        j.onRef('a.host_id', '=', 'h.id').on('a.fleet_platform', '=', 'android'),
      )
      .select([
        'd.software_checksum',
        'a.unlock_ref',
        'h.id',
        'h.uuid',
        'h.platform',
        'h.team_id',
        'h.hostname',
        'h.computer_name',
        'h.hardware_serial',
        'm.enrolled',
        'd.device_id',
        'd.is_personal',
        'd.last_status_report_time',
      ]);
  }

  private toRow(r: Record<string, unknown> | undefined): AndroidHostRow | undefined {
    if (!r) return undefined;
    return {
      id: Number(r.id),
      uuid: String(r.uuid),
      platform: String(r.platform),
      team_id: r.team_id === null ? null : Number(r.team_id),
      hostname: String(r.hostname),
      computer_name: String(r.computer_name),
      hardware_serial: String(r.hardware_serial),
      enrolled: Boolean(Number(r.enrolled ?? 0)),
      device_id: (r.device_id as string | null) ?? null,
      is_personal: Boolean(Number(r.is_personal ?? 0)),
      last_status_report_time: (r.last_status_report_time as string | null) ?? null,
      software_checksum: (r.software_checksum as string | null) ?? '',
      unlock_pending: r.unlock_ref !== null && r.unlock_ref !== undefined,
    };
  }

  /**
   * The host with this UUID, its row locked for the rest of the transaction (MySQL), so two
   * notifications of one device apply one after the other and never create it twice.
   */
  async hostByUuidForUpdate(trx: Transaction<DB>, uuid: string): Promise<AndroidHostRow | undefined> {
    const q = this.selectHost(trx).where('h.uuid', '=', uuid).orderBy('h.id').limit(1);
    return this.toRow(await forUpdate(trx, q).executeTakeFirst());
  }

  /** The host whose AMAPI device has this ID (a DELETED device may come without hardwareInfo). */
  async hostByDeviceId(db: Kysely<DB>, deviceId: string): Promise<AndroidHostRow | undefined> {
    return this.toRow(await this.selectHost(db).where('d.device_id', '=', deviceId).executeTakeFirst());
  }

  /** An Android host by id (for host actions). */
  async hostById(id: number): Promise<AndroidHostRow | undefined> {
    return this.toRow(await this.selectHost(this.db).where('h.id', '=', id).executeTakeFirst());
  }

  private hostColumns(f: DeviceFacts, now: string) {
    const h = f.host;
    return {
      platform: 'android',
      hostname: h.hostname,
      computer_name: h.computer_name,
      hardware_serial: h.hardware_serial,
      hardware_model: h.hardware_model,
      hardware_vendor: h.hardware_vendor,
      cpu_type: h.cpu_type,
      os_version: h.os_version,
      build: h.build,
      memory: h.memory,
      gigs_total_disk_space: h.gigs_total_disk_space,
      gigs_disk_space_available: h.gigs_disk_space_available,
      percent_disk_space_available: h.percent_disk_space_available,
      // Android hosts have no dynamic labels; keeping this fresh keeps label logic uniform (Fleet).
      label_updated_at: now,
      ...(h.detail_updated_at ? { detail_updated_at: toDbTime(h.detail_updated_at) } : {}),
      updated_at: now,
    };
  }

  /** Inserts the host with its built-in label memberships; returns its id. */
  async createHost(trx: Transaction<DB>, f: DeviceFacts, teamId: number | null): Promise<number> {
    const now = dbNow();
    const res = await trx
      .insertInto('hosts')
      .values({
        uuid: f.host.uuid,
        team_id: teamId,
        last_enrolled_at: now,
        created_at: now,
        ...this.hostColumns(f, now),
      })
      .executeTakeFirstOrThrow();
    const id = Number(res.insertId);
    await writeBuiltinMemberships(trx, id, 'android', now);
    return id;
  }

  /** Updates the host's vitals; `enrolled` also sets its team and enrollment time. */
  async updateHost(
    trx: Transaction<DB>,
    host: AndroidHostRow,
    f: DeviceFacts,
    enrolled: { teamId: number | null } | undefined,
  ): Promise<void> {
    const now = dbNow();
    await trx
      .updateTable('hosts')
      .set({
        ...this.hostColumns(f, now),
        ...(enrolled ? { team_id: enrolled.teamId, last_enrolled_at: now } : {}),
      })
      .where('id', '=', host.id)
      .execute();
    if (host.platform !== 'android') await writeBuiltinMemberships(trx, host.id, 'android', now);
  }

  /** host_mdm: enrolled in this server's MDM, personal (work profile) or not. */
  async setEnrolled(
    trx: Transaction<DB>,
    hostId: number,
    serverUrl: string,
    isPersonal: boolean,
  ): Promise<void> {
    const mdmId = serverUrl ? await mdmSolutionIdIn(trx, fleetMdmName, serverUrl) : null;
    await upsert(
      trx,
      'host_mdm',
      {
        host_id: hostId,
        enrolled: 1,
        server_url: serverUrl,
        installed_from_dep: 0,
        is_personal_enrollment: isPersonal ? 1 : 0,
        mdm_name: fleetMdmName,
        mdm_id: mdmId,
      },
      ['host_id'],
      ['enrolled', 'server_url', 'installed_from_dep', 'is_personal_enrollment', 'mdm_name', 'mdm_id'],
    );
  }

  /**
   * The device left management: host_mdm no longer enrolled and its android_devices row gone.
   * Returns whether the host was enrolled until now (so the caller records the change once).
   */
  async setUnenrolled(trx: Transaction<DB>, hostId: number): Promise<boolean> {
    const res = await trx
      .updateTable('host_mdm')
      .set({ enrolled: 0, server_url: '', mdm_id: null })
      .where('host_id', '=', hostId)
      .where('enrolled', '=', 1)
      .executeTakeFirst();
    await trx.deleteFrom('android_devices').where('host_id', '=', hostId).execute();
    return Number(res.numUpdatedRows) > 0;
  }

  /**
   * The host's android_devices row: the device's IDs, ownership and the policy state it reported.
   * A row left by an earlier enrollment of the same device (same ID or enterprise-specific ID
   * under another host) is replaced.
   */
  async upsertDevice(
    trx: Transaction<DB>,
    hostId: number,
    f: DeviceFacts,
    opts: { replaceOthers: boolean; softwareChecksum?: string },
  ): Promise<void> {
    const now = dbNow();
    if (opts.replaceOthers) {
      // One statement per unique key: an OR of the two makes InnoDB scan (and lock) the table.
      await trx
        .deleteFrom('android_devices')
        .where('device_id', '=', f.deviceId)
        .where('host_id', '<>', hostId)
        .execute();
      await trx
        .deleteFrom('android_devices')
        .where('enterprise_specific_id', '=', f.host.uuid)
        .where('host_id', '<>', hostId)
        .execute();
    }
    const policy =
      f.appliedPolicyId !== null
        ? {
            applied_policy_id: f.appliedPolicyId,
            applied_policy_version: f.appliedPolicyVersion,
            last_policy_sync_time: time(f.lastPolicySyncTime) ?? null,
          }
        : {};
    const reported = {
      ...(f.lastStatusReportTime ? { last_status_report_time: toDbTime(f.lastStatusReportTime) } : {}),
      ...(opts.softwareChecksum !== undefined ? { software_checksum: opts.softwareChecksum } : {}),
    };
    await upsert(
      trx,
      'android_devices',
      {
        host_id: hostId,
        device_id: f.deviceId,
        enterprise_specific_id: f.host.uuid,
        is_personal: f.isPersonal ? 1 : 0,
        ...policy,
        ...reported,
        created_at: now,
        updated_at: now,
      },
      ['host_id'],
      [
        'device_id',
        'enterprise_specific_id',
        'is_personal',
        ...Object.keys(policy),
        ...Object.keys(reported),
        'updated_at',
      ],
    );
  }

  /** Links the host to the identity-provider account the enrollment token named, if it exists. */
  async linkIdpAccount(trx: Transaction<DB>, hostUuid: string, accountUuid: string): Promise<boolean> {
    const account = await trx
      .selectFrom('mdm_idp_accounts')
      .select('uuid')
      .where('uuid', '=', accountUuid)
      .executeTakeFirst();
    if (!account) return false;
    const now = dbNow();
    await upsert(
      trx,
      'host_mdm_idp_accounts',
      { host_uuid: hostUuid, account_uuid: accountUuid, created_at: now, updated_at: now },
      ['host_uuid'],
      ['account_uuid', 'updated_at'],
    );
    return true;
  }

  /**
   * Android's LOCK is a screen lock the user lifts with their own passcode, so an unlock the admin
   * asked for is over once the device reports again (as Fleet clears a Mac's after its PIN was taken).
   */
  async clearUnlockedLock(trx: Transaction<DB>, hostId: number): Promise<void> {
    await trx
      .updateTable('host_mdm_actions')
      .set({ lock_ref: null, unlock_ref: null, unlock_pin: null })
      .where('host_id', '=', hostId)
      .where('fleet_platform', '=', 'android')
      .where('unlock_ref', 'is not', null)
      .execute();
  }

  /** Deleted hosts take their Android device rows and software links with them. */
  async forgetHosts(hostIds: number[]): Promise<void> {
    if (hostIds.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('android_devices').where('host_id', 'in', hostIds).execute();
      await trx.deleteFrom('host_software').where('host_id', 'in', hostIds).execute();
    });
  }
}
