import type { DiskEncryptionStatus } from '../hosts/store.js';
import { sql, type RawBuilder } from 'kysely';
import { toDbTime, type DialectName } from '../db/dialect.js';
import { fileVaultProfileIdentifier } from './fileVaultProfile.js';

/**
 * Disk-encryption status in SQL, written once and used by the summary, the host detail and the
 * host-list filters. Each builder yields rows `(host_id, status, detail)` for one platform, over
 * `hosts h`; callers add their own conditions on `h` through `where`.
 */

/** How long after a BitLocker key arrives an unencrypted disk still counts as "verifying". */
export const bitLockerGraceMs = 60 * 60 * 1000;

const trueSql = sql`1 = 1`;

/**
 * macOS (FileVault), from the host's FileVault profile row and its escrowed key (table 6.4): the
 * profile being installed is `enforcing`; once the Mac acknowledged it, a key nobody could decrypt
 * (or no key at all) is `action_required` (rotate the key), a key not yet checked is `verifying`,
 * and a decryptable key is `verifying` until the profile is verified, then `verified`. A failed
 * profile is `failed`; a removal not yet acknowledged is `removing_enforcement`. A host with both
 * an install and a removal row (it changed team) is judged by the install.
 */
export function fileVaultStatusRows(where: RawBuilder<unknown> = trueSql): RawBuilder<unknown> {
  return sql`SELECT h.id AS host_id,
      CASE
        WHEN fv.operation_type = 'install' THEN CASE
          WHEN fv.status = 'failed' THEN 'failed'
          WHEN fv.status IN ('verifying', 'verified') THEN CASE
            WHEN hdek.host_id IS NULL OR hdek.decryptable = 0 THEN 'action_required'
            WHEN hdek.decryptable IS NULL THEN 'verifying'
            WHEN fv.status = 'verified' THEN 'verified'
            ELSE 'verifying'
          END
          ELSE 'enforcing'
        END
        WHEN fv.status = 'failed' THEN 'failed'
        WHEN fv.status IN ('verifying', 'verified') THEN NULL
        ELSE 'removing_enforcement'
      END AS status,
      CASE
        WHEN fv.operation_type = 'install' AND fv.status IN ('verifying', 'verified')
          AND (hdek.host_id IS NULL OR hdek.decryptable = 0) THEN 'rotate_key'
      END AS action_required,
      COALESCE(fv.detail, '') AS detail,
      fv.profile_uuid AS profile_uuid
    FROM hosts h
    JOIN host_mdm_apple_profiles fv ON fv.host_uuid = h.uuid AND fv.profile_identifier = ${fileVaultProfileIdentifier}
    LEFT JOIN host_disk_encryption_keys hdek ON hdek.host_id = h.id
    WHERE h.platform = 'darwin'
      AND (fv.operation_type = 'install' OR NOT EXISTS (
        SELECT 1 FROM host_mdm_apple_profiles fi
        WHERE fi.host_uuid = fv.host_uuid AND fi.profile_identifier = fv.profile_identifier AND fi.operation_type = 'install'))
      AND ${where}`;
}

/**
 * Windows (BitLocker), as Fleet derives it from the escrowed key, the disk state the host reports
 * (`hosts.disk_encryption_enabled`, refreshed with the host's details at `detail_updated_at`) and
 * the client error fleetd reported: an error is `failed`; a decryptable key on a disk reported
 * encrypted after the key arrived is `verified`; reported encrypted before it arrived, or not yet
 * encrypted within the hour after it arrived, `verifying`; no usable key, or a disk still
 * unencrypted past that hour, `enforcing`. Only PCs in Flotilla's Windows MDM (not servers) whose
 * team enforces disk encryption (`enabled`) have a status. Fleet's `action_required` for BitLocker
 * (protection suspended, PIN missing) needs data fleetd does not report here, so it never occurs.
 */
export function bitLockerStatusRows(opts: {
  enabled: RawBuilder<unknown>;
  graceStart: string;
  where?: RawBuilder<unknown>;
}): RawBuilder<unknown> {
  const keyAvailable = sql`(COALESCE(hdek.base64_encrypted, '') <> '' AND COALESCE(hdek.decryptable, 0) = 1)`;
  const encrypted = sql`(COALESCE(h.disk_encryption_enabled, 0) = 1)`;
  const disksUpdated = sql`(hdek.updated_at IS NOT NULL AND h.detail_updated_at >= hdek.updated_at)`;
  const clientError = sql`(COALESCE(hdek.client_error, '') <> '')`;
  const inGrace = sql`(hdek.updated_at IS NOT NULL AND hdek.updated_at >= ${opts.graceStart})`;
  return sql`SELECT h.id AS host_id,
      CASE
        WHEN ${clientError} THEN 'failed'
        WHEN ${keyAvailable} AND ${encrypted} AND ${disksUpdated} THEN 'verified'
        WHEN ${keyAvailable} AND ((${encrypted} AND NOT ${disksUpdated})
          OR (NOT ${encrypted} AND ${disksUpdated} AND ${inGrace})) THEN 'verifying'
        ELSE 'enforcing'
      END AS status,
      NULL AS action_required,
      COALESCE(hdek.client_error, '') AS detail,
      NULL AS profile_uuid
    FROM hosts h
    JOIN host_mdm hmdm ON hmdm.host_id = h.id AND hmdm.is_server = 0 AND hmdm.enrolled = 1
    LEFT JOIN host_disk_encryption_keys hdek ON hdek.host_id = h.id
    WHERE h.platform = 'windows'
      AND h.uuid IN (SELECT we.host_uuid FROM mdm_windows_enrollments we WHERE we.device_state = 'MDMDeviceEnrolledEnrolled')
      AND ${opts.enabled}
      AND ${opts.where ?? trueSql}`;
}

/**
 * "Disk encryption is on for this host's team" in SQL (team settings, or the global settings for
 * hosts in no team), read from the stored settings documents (`mdm.enable_disk_encryption`).
 */
export function diskEncryptionEnabledSql(dialect: DialectName, hostAlias = 'h'): RawBuilder<unknown> {
  const teamId = sql.ref(`${hostAlias}.team_id`);
  const path = '$.mdm.enable_disk_encryption';
  if (dialect === 'mysql') {
    return sql`(CASE WHEN ${teamId} IS NULL
        THEN (SELECT JSON_UNQUOTE(JSON_EXTRACT(a.json_value, ${path})) FROM app_config_json a WHERE a.id = 1)
        ELSE (SELECT JSON_UNQUOTE(JSON_EXTRACT(t.config, ${path})) FROM teams t WHERE t.id = ${teamId})
      END) = 'true'`;
  }
  return sql`(CASE WHEN ${teamId} IS NULL
      THEN (SELECT json_extract(a.json_value, ${path}) FROM app_config_json a WHERE a.id = 1)
      ELSE (SELECT json_extract(t.config, ${path}) FROM teams t WHERE t.id = ${teamId})
    END) = 1`;
}

/**
 * The host-list filter `os_settings_disk_encryption` / `macos_settings_disk_encryption`: hosts
 * (outer alias `hosts`) whose disk-encryption status is `status`. Windows PCs count only for
 * `os_settings_disk_encryption` (`includeWindows`).
 */
export function diskEncryptionStatusFilter(opts: {
  dialect: DialectName;
  status: DiskEncryptionStatus;
  includeWindows: boolean;
  now: Date;
}): RawBuilder<boolean> {
  const mac = sql`hosts.id IN (SELECT s.host_id FROM (${fileVaultStatusRows()}) s WHERE s.status = ${opts.status})`;
  if (!opts.includeWindows) return sql<boolean>`${mac}`;
  const win = bitLockerStatusRows({
    enabled: diskEncryptionEnabledSql(opts.dialect),
    graceStart: graceStartAt(opts.now),
  });
  return sql<boolean>`(${mac} OR hosts.id IN (SELECT w.host_id FROM (${win}) w WHERE w.status = ${opts.status}))`;
}

/** The start of the BitLocker grace window at `now`, as the database stores times. */
export function graceStartAt(now: Date): string {
  return toDbTime(new Date(now.getTime() - bitLockerGraceMs));
}
