import { DiskEncryptionService } from './service.js';

/** Builds the disk-encryption area. */
export function createDiskEncryption() {
  return { diskEncryption: new DiskEncryptionService() };
}
