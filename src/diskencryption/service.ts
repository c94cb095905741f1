import type { HostRow } from '../hosts/store.js';
import type { DiskEncryptionForAgents } from './forAgents.js';

/** FileVault and BitLocker: enforcement settings, key escrow, verification and status. */
export class DiskEncryptionService implements DiskEncryptionForAgents {
  async escrowFileVaultKey(
    _host: Pick<HostRow, 'id' | 'hardware_serial'>,
    _base64Cms: string,
  ): Promise<void> {
    throw new Error('not built yet');
  }

  async escrowBitLockerKey(_host: HostRow, _recoveryKey: Buffer | null, _clientError: string): Promise<void> {
    throw new Error('not built yet');
  }

  async orbitNotifications(
    _host: HostRow,
    _capabilities: ReadonlySet<string>,
  ): Promise<{ rotate_disk_encryption_key?: boolean; enforce_bitlocker_encryption?: boolean }> {
    return {};
  }
}
