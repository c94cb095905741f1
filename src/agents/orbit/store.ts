import { sql, type Kysely, type Transaction } from 'kysely';
import { dbNow, isUniqueViolation, toDbTime, upsert } from '../../db/dialect.js';
import { retryOnLockConflict } from '../../db/lockRetry.js';
import type { DB } from '../../db/schema.js';
import { writeBuiltinMemberships } from '../../hosts/store.js';

/** What orbit sends about the device when it enrolls. */
export interface OrbitHostInfo {
  hardwareUuid: string;
  hardwareSerial: string;
  hostname: string;
  platform: string;
  /** The identifier osquery will enroll with; '' means the hardware UUID. */
  osqueryIdentifier: string;
  computerName: string;
  hardwareModel: string;
}

/** The host an orbit enrollment landed on. */
export interface EnrolledHost {
  id: number;
  created: boolean;
  /** The team before this enrollment (undefined for a new host). */
  previousTeamId: number | null | undefined;
  hardwareSerial: string;
  hostname: string;
  computerName: string;
  hardwareModel: string;
}

/** Apple platforms a serial-number match may land on (ADE placeholders and MDM-only hosts). */
const serialMatchPlatforms = ['darwin', 'ios', 'ipados'];

/**
 * Orbit's own SQL: matching and writing the host on enroll, the facts config needs beyond the host
 * row (connected to our MDM, team agent options, labels, CPU type) and the host_emails row orbit
 * reports. Hosts and host_mdm stay owned by HostStore; this only adds orbit's columns and rows.
 */
export class OrbitStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Finds the host this device already has, else creates it, and gives it the node key and team.
   * Matching follows Fleet: the osquery identifier (the hardware UUID when orbit sends none); then,
   * for MDM-only hosts that have no osquery identifier yet, the hardware UUID (Apple's UDID of a Mac
   * is its hardware UUID); then, when `matchSerial`, the serial of an Apple host (ADE placeholders).
   * An existing host keeps its identity and vitals and only fills what it lacks; its team becomes
   * the secret's. Two enrollments racing for a new device meet on osquery_host_id's unique key, and
   * the loser retries into the match.
   */
  async enroll(
    info: OrbitHostInfo,
    nodeKey: string,
    teamId: number | null,
    matchSerial: boolean,
  ): Promise<EnrolledHost> {
    return retryOnLockConflict(
      () => this.db.transaction().execute((trx) => this.enrollIn(trx, info, nodeKey, teamId, matchSerial)),
      3,
      isUniqueViolation,
    );
  }

  private async enrollIn(
    trx: Transaction<DB>,
    info: OrbitHostInfo,
    nodeKey: string,
    teamId: number | null,
    matchSerial: boolean,
  ): Promise<EnrolledHost> {
    const identifier = info.osqueryIdentifier || info.hardwareUuid;
    const byUuid = !info.osqueryIdentifier;
    const bySerial = matchSerial && Boolean(info.hardwareSerial) && !info.osqueryIdentifier;
    const rows = await trx
      .selectFrom('hosts')
      .select([
        'id',
        'osquery_host_id',
        'uuid',
        'hardware_serial',
        'platform',
        'team_id',
        'hostname',
        'computer_name',
        'hardware_model',
      ])
      .where((eb) => {
        const ors = [eb('osquery_host_id', '=', identifier)];
        if (byUuid) ors.push(eb('uuid', '=', info.hardwareUuid));
        if (bySerial) ors.push(eb('hardware_serial', '=', info.hardwareSerial));
        return eb.or(ors);
      })
      .orderBy('id')
      .execute();
    const priority = (r: (typeof rows)[number]): number => {
      if (r.osquery_host_id !== null && r.osquery_host_id.toLowerCase() === identifier.toLowerCase())
        return 1;
      if (byUuid && r.uuid === info.hardwareUuid && !r.osquery_host_id) return 2;
      if (bySerial && r.hardware_serial === info.hardwareSerial && serialMatchPlatforms.includes(r.platform))
        return 3;
      return 0;
    };
    const match = rows
      .map((r) => ({ r, p: priority(r) }))
      .filter((m) => m.p > 0)
      .sort((a, b) => a.p - b.p || a.r.id - b.r.id)[0]?.r;
    const now = dbNow();

    if (match) {
      const fill = (current: string, sent: string) => current || sent;
      const next = {
        uuid: fill(match.uuid, info.hardwareUuid),
        osquery_host_id: match.osquery_host_id || identifier,
        hardware_serial: fill(match.hardware_serial, info.hardwareSerial),
        computer_name: fill(match.computer_name, info.computerName),
        hardware_model: fill(match.hardware_model, info.hardwareModel),
        hostname: fill(match.hostname, info.hostname),
      };
      await trx
        .updateTable('hosts')
        .set({ ...next, orbit_node_key: nodeKey, team_id: teamId, updated_at: now })
        .where('id', '=', match.id)
        .execute();
      // A re-enrolled device starts without pending lock/wipe state, as in Fleet.
      await trx.deleteFrom('host_mdm_actions').where('host_id', '=', match.id).execute();
      return {
        id: match.id,
        created: false,
        previousTeamId: match.team_id,
        hardwareSerial: next.hardware_serial,
        hostname: next.hostname,
        computerName: next.computer_name,
        hardwareModel: next.hardware_model,
      };
    }

    const res = await trx
      .insertInto('hosts')
      .values({
        osquery_host_id: identifier,
        orbit_node_key: nodeKey,
        uuid: info.hardwareUuid,
        hardware_serial: info.hardwareSerial,
        platform: info.platform,
        hostname: info.hostname,
        computer_name: info.computerName,
        hardware_model: info.hardwareModel,
        team_id: teamId,
        // New hosts ask for their details at once, as Fleet creates them.
        refetch_requested: 1,
        created_at: now,
        updated_at: now,
      })
      .executeTakeFirstOrThrow();
    const id = Number(res.insertId);
    // The built-in labels follow from the platform, as for every host Flotilla creates.
    await writeBuiltinMemberships(trx, id, info.platform, now);
    return {
      id,
      created: true,
      previousTeamId: undefined,
      hardwareSerial: info.hardwareSerial,
      hostname: info.hostname,
      computerName: info.computerName,
      hardwareModel: info.hardwareModel,
    };
  }

  /**
   * Whether the host is connected to Flotilla's MDM (Fleet's IsHostConnectedToFleetMDM): host_mdm
   * says enrolled and there is a live enrollment with us, an enabled Apple device channel for Apple
   * hosts or an enrolled MS-MDE2 enrollment for Windows.
   */
  async connectedToFleetMdm(host: { id: number; uuid: string; platform: string }): Promise<boolean> {
    if (!host.uuid) return false;
    const enrolled = this.db
      .selectFrom('host_mdm')
      .select('host_id')
      .where('host_id', '=', host.id)
      .where('enrolled', '=', 1);
    if (host.platform === 'windows') {
      const r = await this.db
        .selectFrom('mdm_windows_enrollments')
        .select(sql<number>`1`.as('one'))
        .where('host_uuid', '=', host.uuid)
        .where('device_state', '=', 'MDMDeviceEnrolledEnrolled')
        .where(({ exists }) => exists(enrolled))
        .executeTakeFirst();
      return Boolean(r);
    }
    if (!['darwin', 'ios', 'ipados'].includes(host.platform)) return false;
    const r = await this.db
      .selectFrom('nano_enrollments')
      .select(sql<number>`1`.as('one'))
      .where('device_id', '=', host.uuid)
      .where('enabled', '=', 1)
      .where('type', 'in', ['Device', 'User Enrollment (Device)'])
      .where(({ exists }) => exists(enrolled))
      .executeTakeFirst();
    return Boolean(r);
  }

  /**
   * The team's agent options, or undefined when the team stores none (Flotilla's teams do not carry
   * agent options yet, unlike Fleet's, which copy the defaults at creation).
   */
  async teamAgentOptions(teamId: number): Promise<Record<string, unknown> | undefined> {
    const row = await this.db
      .selectFrom('teams')
      .select('config')
      .where('id', '=', teamId)
      .executeTakeFirst();
    if (!row?.config) return undefined;
    try {
      const cfg = JSON.parse(row.config) as Record<string, unknown>;
      const opts = cfg.agent_options;
      return typeof opts === 'object' && opts !== null && !Array.isArray(opts)
        ? (opts as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether the host is a member of every label with these names (an unknown name fails). */
  async memberOfAllLabels(hostId: number, names: string[]): Promise<boolean> {
    const unique = [...new Set(names)];
    if (unique.length === 0) return true;
    const r = await this.db
      .selectFrom('label_membership')
      .innerJoin('labels', 'labels.id', 'label_membership.label_id')
      .select((eb) => eb.fn.count<number>('labels.name').distinct().as('n'))
      .where('label_membership.host_id', '=', hostId)
      .where('label_membership.is_member', '=', 1)
      .where('labels.name', 'in', unique)
      .executeTakeFirst();
    return Number(r?.n ?? 0) === unique.length;
  }

  /** Opens the critical-query window unless one is set already (one statement, no read). */
  async setRefetchCriticalQueriesUntilIfUnset(hostId: number, until: Date): Promise<void> {
    await this.db
      .updateTable('hosts')
      .set({ refetch_critical_queries_until: toDbTime(until) })
      .where('id', '=', hostId)
      .where('refetch_critical_queries_until', 'is', null)
      .execute();
  }

  /** Opens (or moves) the critical-query window. */
  async setRefetchCriticalQueriesUntil(hostId: number, until: Date): Promise<void> {
    await this.db
      .updateTable('hosts')
      .set({ refetch_critical_queries_until: toDbTime(until) })
      .where('id', '=', hostId)
      .execute();
  }

  /** The host's email from this source, replaced (one row per host and source). */
  async setHostEmail(hostId: number, email: string, source: string): Promise<void> {
    const now = dbNow();
    await upsert(
      this.db,
      'host_emails',
      { host_id: hostId, email, source, created_at: now, updated_at: now },
      ['host_id', 'source'],
      ['email', 'updated_at'],
    );
  }
}
