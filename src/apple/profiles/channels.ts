import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

const CHUNK = 500;

/**
 * Which MDM channel a profile travels on: the device channel (enrollment id = UDID) or a macOS
 * user channel (`UDID:UserID`, type `User`), read from the NanoMDM enrollment tables.
 */
export class AppleChannelStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** The enabled user channel of each host that has one (the oldest, if a Mac has several). */
  async userEnrollments(hostUuids: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < hostUuids.length; i += CHUNK) {
      const rows = await this.db
        .selectFrom('nano_enrollments')
        .select(['id', 'device_id'])
        .where('device_id', 'in', hostUuids.slice(i, i + CHUNK))
        .where('type', '=', 'User')
        .where('enabled', '=', 1)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      for (const r of rows) if (!out.has(r.device_id)) out.set(r.device_id, r.id);
    }
    return out;
  }

  /** When each device last sent Authenticate (its enrollment time, as Fleet reads it). */
  async deviceEnrolledAt(hostUuids: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < hostUuids.length; i += CHUNK) {
      const rows = await this.db
        .selectFrom('nano_devices')
        .select(['id', 'authenticate_at'])
        .where('id', 'in', hostUuids.slice(i, i + CHUNK))
        .execute();
      for (const r of rows) out.set(r.id, r.authenticate_at);
    }
    return out;
  }

  /** The device (host UUID) an enrollment id belongs to. */
  async deviceOf(enrollmentId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('nano_enrollments')
      .select('device_id')
      .where('id', '=', enrollmentId)
      .executeTakeFirst();
    return row?.device_id;
  }
}
