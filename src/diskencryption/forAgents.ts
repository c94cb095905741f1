import type { HostRow } from '../hosts/store.js';

/**
 * What the agent endpoints ask of disk encryption: osquery hands over the FileVault key it read,
 * orbit hands over the BitLocker key and asks which disk-encryption notifications a host needs.
 * The disk-encryption area implements it; the agents area only calls it.
 */
export interface DiskEncryptionForAgents {
  /**
   * osquery `mdm_disk_encryption_key_file_darwin` (or its file_lines fallback) on a host whose disk
   * is encrypted: `base64Cms` is the escrowed PRK blob, or '' when the disk is encrypted but no
   * escrow file exists (Fleet then stores decryptable = 0, which asks for a key rotation).
   */
  escrowFileVaultKey(host: Pick<HostRow, 'id' | 'hardware_serial'>, base64Cms: string): Promise<void>;

  /**
   * orbit `POST /api/fleet/orbit/disk_encryption_key`: `recoveryKey` is the decoded
   * `encryption_key` (the 48-digit recovery password) or null; a non-empty `clientError` is stored
   * instead of a key. Throws an HttpError (400 "host is not enrolled with fleet") when the host is
   * not connected to Flotilla's Windows MDM, or when Windows MDM is off.
   */
  escrowBitLockerKey(host: HostRow, recoveryKey: Buffer | null, clientError: string): Promise<void>;

  /**
   * The disk-encryption part of orbit's config notifications. `capabilities` is the client's
   * X-Fleet-Capabilities list (`escrow_buddy` gates `rotate_disk_encryption_key`).
   */
  orbitNotifications(
    host: HostRow,
    capabilities: ReadonlySet<string>,
  ): Promise<{ rotate_disk_encryption_key?: boolean; enforce_bitlocker_encryption?: boolean }>;
}
