import { sql, type Kysely, type Transaction } from 'kysely';
import { dbNow, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { SecurityFacts } from './securityInfo.js';

/**
 * The facts the refetch jobs keep fresh, and the `host_mdm_commands` type that marks a command for
 * them in flight: Fleet's `REFETCH-DEVICE-` for DeviceInformation, ours for SecurityInfo.
 */
export type FactsKind = 'device' | 'security';

export const inFlightCommandType: Record<FactsKind, string> = {
  device: 'REFETCH-DEVICE-',
  security: 'REFETCH-SECURITY-',
};

const deviceEnrollmentTypes = ['Device', 'User Enrollment (Device)'];

/** An Apple MDM host whose facts are due, with the device-channel enrollment to queue for. */
export interface DueHost {
  hostId: number;
  uuid: string;
  enrollmentId: string;
  personal: boolean;
}

export interface DueHostQuery {
  platforms: string[];
  /** Facts fetched before this (stored time) are stale. */
  staleBefore: string;
  /** A command marked in flight after this still blocks a new one. */
  inFlightAfter: string;
  limit: number;
  /** Only hosts without osquery (osquery keeps a Mac's vitals and detail_updated_at itself). */
  withoutOsquery?: boolean;
}

/** Vitals from DeviceInformation that Fleet's iPhone/iPad refetch writes besides name, model and OS. */
export interface MdmVitals {
  primaryMac?: string;
  gigsTotalDiskSpace?: number;
  gigsDiskSpaceAvailable?: number;
  percentDiskSpaceAvailable?: number;
  /** When the host's details were last refreshed (Fleet's detail_updated_at). */
  detailUpdatedAt?: string;
}

export interface SecurityInfoRow {
  fde_enabled: boolean | null;
  fde_has_personal_recovery_key: boolean | null;
  system_integrity_protection_enabled: boolean | null;
  firewall_enabled: boolean | null;
  firewall_block_all_incoming: boolean | null;
  firewall_stealth_mode: boolean | null;
  enrolled_via_dep: boolean | null;
  user_approved_enrollment: boolean | null;
  is_user_enrollment: boolean | null;
  passcode_present: boolean | null;
  passcode_compliant: boolean | null;
  hardware_encryption_caps: number | null;
  secure_boot_level: string | null;
  fetched_at: string;
}

const boolColumns = [
  'fde_enabled',
  'fde_has_personal_recovery_key',
  'system_integrity_protection_enabled',
  'firewall_enabled',
  'firewall_block_all_incoming',
  'firewall_stealth_mode',
  'enrolled_via_dep',
  'user_approved_enrollment',
  'is_user_enrollment',
  'passcode_present',
  'passcode_compliant',
] as const;

function dbBool(v: boolean | undefined): number | null {
  return v === undefined ? null : v ? 1 : 0;
}

function readBool(v: unknown): boolean | null {
  return v === null || v === undefined ? null : Boolean(Number(v));
}

/** SQL of the Apple device facts: due hosts, in-flight markers, SecurityInfo rows, MDM vitals. */
export class AppleFactsStore {
  constructor(private readonly db: Kysely<DB>) {}

  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  /**
   * Apple hosts with MDM on and an enabled device-channel enrollment whose `kind` facts are older
   * than `staleBefore` (never fetched counts as old) and that have no such command in flight.
   */
  async dueHosts(kind: FactsKind, q: DueHostQuery): Promise<DueHost[]> {
    const type = inFlightCommandType[kind];
    let query = this.db
      .selectFrom('hosts as h')
      .innerJoin('host_mdm as m', 'm.host_id', 'h.id')
      .innerJoin('nano_enrollments as e', (j) =>
        j
          .onRef('e.device_id', '=', 'h.uuid')
          .on('e.enabled', '=', 1)
          .on('e.type', 'in', deviceEnrollmentTypes),
      )
      .select(['h.id as host_id', 'h.uuid', 'e.id as enrollment_id', 'm.is_personal_enrollment'])
      .where('m.enrolled', '=', 1)
      .where('h.platform', 'in', q.platforms)
      .where(
        sql<boolean>`NOT EXISTS (SELECT 1 FROM host_mdm_commands c WHERE c.host_id = h.id
          AND c.command_type = ${type} AND c.updated_at > ${q.inFlightAfter})`,
      );
    query =
      kind === 'device'
        ? query.where('h.detail_updated_at', '<', q.staleBefore)
        : query.where(
            sql<boolean>`NOT EXISTS (SELECT 1 FROM host_apple_security_info s WHERE s.host_id = h.id
              AND s.fetched_at >= ${q.staleBefore})`,
          );
    if (q.withoutOsquery) query = query.where('h.osquery_host_id', 'is', null);
    const rows = await query.orderBy('h.id').limit(q.limit).execute();
    return rows.map((r) => ({
      hostId: r.host_id,
      uuid: r.uuid,
      enrollmentId: r.enrollment_id,
      personal: Boolean(Number(r.is_personal_enrollment)),
    }));
  }

  /** Notes a refetch command of `type` in flight for these hosts (Fleet's host_mdm_commands). */
  async markInFlight(trx: Transaction<DB>, hostIds: number[], type: string): Promise<void> {
    const now = dbNow();
    await upsert(
      trx,
      'host_mdm_commands',
      hostIds.map((id) => ({ host_id: id, command_type: type, created_at: now, updated_at: now })),
      ['host_id', 'command_type'],
      ['updated_at'],
    );
  }

  async clearInFlight(hostId: number, type: string): Promise<void> {
    await this.db
      .deleteFrom('host_mdm_commands')
      .where('host_id', '=', hostId)
      .where('command_type', '=', type)
      .execute();
  }

  async hostByUuid(uuid: string): Promise<{ id: number; platform: string } | undefined> {
    if (!uuid) return undefined;
    return this.db.selectFrom('hosts').select(['id', 'platform']).where('uuid', '=', uuid).executeTakeFirst();
  }

  /**
   * Stores a SecurityInfo answer: our row, FileVault in Fleet's `disk_encryption_enabled` (Macs),
   * and the management status the device reports in host_mdm (EnrolledViaDEP is the device's own
   * "installed from DEP", as osquery's mdm table reports it to Fleet; a User Enrollment is a
   * personal enrollment). The in-flight marker goes in the same transaction.
   */
  async saveSecurityInfo(hostId: number, platform: string, f: SecurityFacts): Promise<void> {
    const row = {
      host_id: hostId,
      fde_enabled: dbBool(f.fdeEnabled),
      fde_has_personal_recovery_key: dbBool(f.fdeHasPersonalRecoveryKey),
      system_integrity_protection_enabled: dbBool(f.systemIntegrityProtectionEnabled),
      firewall_enabled: dbBool(f.firewallEnabled),
      firewall_block_all_incoming: dbBool(f.firewallBlockAllIncoming),
      firewall_stealth_mode: dbBool(f.firewallStealthMode),
      enrolled_via_dep: dbBool(f.enrolledViaDep),
      user_approved_enrollment: dbBool(f.userApprovedEnrollment),
      is_user_enrollment: dbBool(f.isUserEnrollment),
      passcode_present: dbBool(f.passcodePresent),
      passcode_compliant: dbBool(f.passcodeCompliant),
      hardware_encryption_caps: f.hardwareEncryptionCaps ?? null,
      secure_boot_level: f.secureBootLevel ?? null,
      fetched_at: dbNow(),
    };
    await this.transaction(async (trx) => {
      await upsert(
        trx,
        'host_apple_security_info',
        row,
        ['host_id'],
        Object.keys(row).filter((k) => k !== 'host_id'),
      );
      if (platform === 'darwin' && f.fdeEnabled !== undefined) {
        await trx
          .updateTable('hosts')
          .set({ disk_encryption_enabled: f.fdeEnabled ? 1 : 0 })
          .where('id', '=', hostId)
          .execute();
      }
      const mdm: { installed_from_dep?: number; is_personal_enrollment?: number } = {};
      if (f.enrolledViaDep !== undefined) mdm.installed_from_dep = f.enrolledViaDep ? 1 : 0;
      // A personal device enrollment (`byod=1`) is not a User Enrollment, so false changes nothing.
      if (f.isUserEnrollment === true) mdm.is_personal_enrollment = 1;
      if (Object.keys(mdm).length) {
        await trx
          .updateTable('host_mdm')
          .set(mdm)
          .where('host_id', '=', hostId)
          .where('enrolled', '=', 1)
          .execute();
      }
      await trx
        .deleteFrom('host_mdm_commands')
        .where('host_id', '=', hostId)
        .where('command_type', '=', inFlightCommandType.security)
        .execute();
    });
  }

  /** Writes the DeviceInformation vitals Fleet keeps for MDM-only hosts (one statement). */
  async applyMdmVitals(hostId: number, v: MdmVitals): Promise<void> {
    const set: Record<string, unknown> = {};
    if (v.primaryMac !== undefined) set.primary_mac = v.primaryMac;
    if (v.gigsTotalDiskSpace !== undefined) set.gigs_total_disk_space = v.gigsTotalDiskSpace;
    if (v.gigsDiskSpaceAvailable !== undefined) set.gigs_disk_space_available = v.gigsDiskSpaceAvailable;
    if (v.percentDiskSpaceAvailable !== undefined)
      set.percent_disk_space_available = v.percentDiskSpaceAvailable;
    if (v.detailUpdatedAt !== undefined) set.detail_updated_at = v.detailUpdatedAt;
    if (Object.keys(set).length === 0) return;
    await this.db.updateTable('hosts').set(set).where('id', '=', hostId).execute();
  }

  async securityInfo(hostId: number): Promise<SecurityInfoRow | undefined> {
    const r = await this.db
      .selectFrom('host_apple_security_info')
      .selectAll()
      .where('host_id', '=', hostId)
      .executeTakeFirst();
    if (!r) return undefined;
    const out = {
      hardware_encryption_caps:
        r.hardware_encryption_caps === null ? null : Number(r.hardware_encryption_caps),
      secure_boot_level: r.secure_boot_level,
      fetched_at: r.fetched_at,
    } as SecurityInfoRow;
    for (const c of boolColumns) out[c] = readBool(r[c]);
    return out;
  }

  async deleteForHosts(hostIds: number[]): Promise<void> {
    if (hostIds.length === 0) return;
    await this.db.deleteFrom('host_apple_security_info').where('host_id', 'in', hostIds).execute();
  }
}
