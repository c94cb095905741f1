import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { dbNow } from '../../src/db/dialect.js';
import type { DB } from '../../src/db/schema.js';
import { enrolledState } from '../../src/windows/store.js';
import { credentialsHash } from '../../src/windows/syncml/digest.js';

/** A seeded PC: what its digest needs (MD5(DeviceID:password)) and the nonce for its next message. */
export interface SeededWindowsDevice {
  deviceId: string;
  hash: Buffer;
  nonce: Buffer;
}

/**
 * Writes `count` PCs as fully enrolled (MS-MDE2 done, digest credentials issued), 500 per INSERT,
 * named `<namePrefix><n>`, and returns them in insertion order.
 */
export async function seedWindowsEnrollments(
  db: Kysely<DB>,
  count: number,
  namePrefix: string,
): Promise<SeededWindowsDevice[]> {
  const devices: SeededWindowsDevice[] = [];
  const now = dbNow();
  const nonceExpires = dbNow(3_600_000);
  for (let i = 0; i < count; i += 500) {
    const rows = [];
    for (let j = i; j < Math.min(count, i + 500); j++) {
      const deviceId = randomBytes(16).toString('hex').toUpperCase();
      const nonce = randomUUID();
      const hash = credentialsHash(deviceId, randomUUID());
      devices.push({ deviceId, hash, nonce: Buffer.from(nonce) });
      rows.push({
        mdm_device_id: deviceId,
        mdm_hardware_id: randomBytes(32).toString('hex').toUpperCase(),
        device_state: enrolledState,
        device_type: 'CIMClient_Windows',
        device_name: `${namePrefix}${j}`,
        enroll_type: 'Full',
        enroll_user_id: randomBytes(8).toString('hex'),
        enroll_proto_version: '5.0',
        enroll_client_version: '10.0',
        host_uuid: randomUUID().toUpperCase(),
        credentials_hash: hash,
        auth_nonce: nonce,
        auth_nonce_expires_at: nonceExpires,
        created_at: now,
        updated_at: now,
      });
    }
    await db.insertInto('mdm_windows_enrollments').values(rows).execute();
  }
  return devices;
}
