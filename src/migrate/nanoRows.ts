import type { ImportedAssociation, ImportedDevice, ImportedEnrollment, ImportedUser } from './model.js';
import { optBuffer, optString, ourTime, ourTimeOr, type SourceDb } from './sourceDb.js';

/**
 * NanoMDM's protocol tables, as NanoMDM names them (`prefix` '') or as Fleet does (`nano_`): the
 * columns the import reads, checked before anything is read.
 */
export function nanoSchema(prefix: string): Record<string, string[]> {
  return {
    [`${prefix}devices`]: [
      'id',
      'identity_cert',
      'serial_number',
      'unlock_token',
      'unlock_token_at',
      'authenticate',
      'authenticate_at',
      'token_update',
      'token_update_at',
      'bootstrap_token_b64',
      'bootstrap_token_at',
      'created_at',
    ],
    [`${prefix}users`]: [
      'id',
      'device_id',
      'user_short_name',
      'user_long_name',
      'token_update',
      'token_update_at',
    ],
    [`${prefix}enrollments`]: [
      'id',
      'device_id',
      'user_id',
      'type',
      'topic',
      'push_magic',
      'token_hex',
      'enabled',
      'token_update_tally',
      'last_seen_at',
      'created_at',
    ],
    [`${prefix}cert_auth_associations`]: ['id', 'sha256'],
  };
}

/** One batch of devices (ids after `cursor`, in id order) with their users, enrollments and associations. */
export async function readNanoBatch(
  src: SourceDb,
  prefix: string,
  cursor: string,
  limit: number,
  opts: { associationExpiry: boolean },
): Promise<{
  devices: ImportedDevice[];
  users: ImportedUser[];
  enrollments: ImportedEnrollment[];
  associations: ImportedAssociation[];
}> {
  const now = new Date().toISOString();
  const rows = await src.query(
    `SELECT * FROM \`${prefix}devices\` WHERE id > ? ORDER BY id LIMIT ${Number(limit)}`,
    [cursor],
  );
  const devices: ImportedDevice[] = rows.map((r) => ({
    id: String(r.id),
    identityCertPem: optString(r.identity_cert),
    serialNumber: optString(r.serial_number),
    unlockToken: optBuffer(r.unlock_token),
    unlockTokenAt: ourTime(r.unlock_token_at),
    authenticate: String(r.authenticate),
    authenticateAt: ourTimeOr(r.authenticate_at, now),
    tokenUpdate: optString(r.token_update),
    tokenUpdateAt: ourTime(r.token_update_at),
    bootstrapTokenB64: optString(r.bootstrap_token_b64),
    bootstrapTokenAt: ourTime(r.bootstrap_token_at),
    createdAt: ourTimeOr(r.created_at, now),
  }));
  if (devices.length === 0) return { devices, users: [], enrollments: [], associations: [] };
  const ids = devices.map((d) => d.id);
  const marks = ids.map(() => '?').join(',');
  const [userRows, enrollmentRows, associationRows] = await Promise.all([
    src.query(`SELECT * FROM \`${prefix}users\` WHERE device_id IN (${marks})`, ids),
    src.query(`SELECT * FROM \`${prefix}enrollments\` WHERE device_id IN (${marks})`, ids),
    src.query(
      `SELECT id, sha256${opts.associationExpiry ? ', cert_not_valid_after' : ''} FROM \`${prefix}cert_auth_associations\` WHERE id IN (${marks})`,
      ids,
    ),
  ]);
  return {
    devices,
    users: userRows.map((r) => ({
      id: String(r.id),
      deviceId: String(r.device_id),
      userShortName: optString(r.user_short_name),
      userLongName: optString(r.user_long_name),
      tokenUpdate: optString(r.token_update),
      tokenUpdateAt: ourTime(r.token_update_at),
    })),
    enrollments: enrollmentRows.map((r) => ({
      id: String(r.id),
      deviceId: String(r.device_id),
      userId: optString(r.user_id),
      type: String(r.type),
      topic: String(r.topic),
      pushMagic: String(r.push_magic),
      tokenHex: String(r.token_hex),
      enabled: Boolean(Number(r.enabled)),
      tokenUpdateTally: Number(r.token_update_tally ?? 1),
      lastSeenAt: ourTimeOr(r.last_seen_at, now),
      createdAt: ourTimeOr(r.created_at, now),
    })),
    associations: associationRows.map((r) => ({
      id: String(r.id),
      sha256: String(r.sha256).toLowerCase(),
      notValidAfter: opts.associationExpiry ? ourTime(r.cert_not_valid_after) : null,
    })),
  };
}
