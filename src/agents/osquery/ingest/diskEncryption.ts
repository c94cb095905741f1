import { IngestError, type Row } from './hostUpdate.js';

/** `disk_encryption_darwin` / `disk_encryption_windows`: a row means the system disk is encrypted. */
export function diskEncrypted(rows: Row[]): boolean {
  return rows.length > 0;
}

/** `disk_encryption_linux`: the volume mounted at / is encrypted. */
export function linuxDiskEncrypted(rows: Row[]): boolean {
  return rows.some((r) => r.path === '/' && r.encrypted === '1');
}

/**
 * `mdm_disk_encryption_key_file_darwin`: the FileVault key to escrow, base64 (the CMS envelope of
 * /var/db/FileVaultPRK.dat), '' when the disk is encrypted but no escrow file exists, or undefined
 * when there is nothing to escrow (no rows, or the disk is not encrypted).
 */
export function fileVaultKeyFromKeyFile(rows: Row[]): string | undefined {
  if (rows.length === 0 || rows[0].encrypted !== '1') return undefined;
  const key = (rows[0].filevault_key ?? '').trim();
  if (key && !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) throw new IngestError('filevault_key is not base64');
  return key;
}

/**
 * `mdm_disk_encryption_key_file_lines_darwin` (fleetd without the filevault_prk table): the file's
 * lines, each hex-encoded; joined with the newline file_lines split them on, then base64.
 */
export function fileVaultKeyFromLines(rows: Row[]): string | undefined {
  if (rows.length === 0 || rows.some((r) => r.encrypted !== '1')) return undefined;
  const hex = rows.map((r) => r.hex_line ?? '').join('0A');
  if (!/^([0-9A-Fa-f]{2})*$/.test(hex)) throw new IngestError('hex_line is not hexadecimal');
  return Buffer.from(hex, 'hex').toString('base64');
}
