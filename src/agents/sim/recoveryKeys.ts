import { randomInt } from 'node:crypto';

// FileVault personal recovery keys avoid look-alike characters (no 0/O, 1/I/L).
const prkAlphabet = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

/** A FileVault personal recovery key as `fdesetup` shows it: six groups of four, e.g. `ABCD-EF23-...`. */
export function newPersonalRecoveryKey(): string {
  const groups: string[] = [];
  for (let g = 0; g < 6; g++) {
    let s = '';
    for (let i = 0; i < 4; i++) s += prkAlphabet[randomInt(prkAlphabet.length)];
    groups.push(s);
  }
  return groups.join('-');
}

/**
 * A BitLocker recovery password: eight groups of six digits. Windows makes every group a multiple
 * of 11 below 720,896 (each group encodes 16 bits as value × 11), and `manage-bde` checks that.
 */
export function newBitLockerRecoveryPassword(): string {
  const groups: string[] = [];
  for (let g = 0; g < 8; g++) groups.push(String(randomInt(65536) * 11).padStart(6, '0'));
  return groups.join('-');
}

/** True for a well-formed BitLocker recovery password (the check `manage-bde` makes). */
export function isBitLockerRecoveryPassword(s: string): boolean {
  const groups = s.split('-');
  return (
    groups.length === 8 &&
    groups.every((g) => /^\d{6}$/.test(g) && Number(g) % 11 === 0 && Number(g) < 720896)
  );
}
