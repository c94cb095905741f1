import { sql, type Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

/** SQL for the fleetd install on a PC's first session: does the host run fleetd, was it sent. */
export class FleetdInstallStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** The host's team and whether fleetd (orbit) has enrolled from it; undefined for no such host. */
  async host(hostUuid: string): Promise<{ teamId: number | null; hasFleetd: boolean } | undefined> {
    if (!hostUuid) return undefined;
    const r = await this.db
      .selectFrom('hosts')
      .select(['team_id', 'orbit_node_key', 'orbit_version'])
      .where('uuid', '=', hostUuid)
      .orderBy('id')
      .executeTakeFirst();
    if (!r) return undefined;
    return {
      teamId: r.team_id === null ? null : Number(r.team_id),
      hasFleetd: r.orbit_node_key !== null || (r.orbit_version ?? '') !== '',
    };
  }

  /**
   * Whether a command on `locUri` was queued for this enrollment since `since` (still queued or
   * answered): the install goes once per enrollment.
   */
  async sentSince(enrollmentId: number, locUri: string, since: string): Promise<boolean> {
    const inQueue = await this.db
      .selectFrom('windows_mdm_command_queue as x')
      .innerJoin('windows_mdm_commands as c', 'c.command_uuid', 'x.command_uuid')
      .select(sql`1`.as('one'))
      .where('x.enrollment_id', '=', enrollmentId)
      .where('c.target_loc_uri', '=', locUri)
      .where('c.created_at', '>=', since)
      .limit(1)
      .executeTakeFirst();
    if (inQueue) return true;
    const answered = await this.db
      .selectFrom('windows_mdm_command_results as x')
      .innerJoin('windows_mdm_commands as c', 'c.command_uuid', 'x.command_uuid')
      .select(sql`1`.as('one'))
      .where('x.enrollment_id', '=', enrollmentId)
      .where('c.target_loc_uri', '=', locUri)
      .where('c.created_at', '>=', since)
      .limit(1)
      .executeTakeFirst();
    return answered !== undefined;
  }
}
