import { chmodSync, closeSync, constants, fchmodSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Files only this server's user may read: the SQLite database (with its -wal and -shm files) and
 * the generated server key. Modes are set explicitly after creation, so the umask (which only
 * ever removes bits, and may be 0 in containers) does not decide them.
 */

/**
 * Creates `dir` and any missing parents with mode 0700. A directory that already existed is left
 * as it is: it may be shared, and its owner chose its mode.
 */
export function ensurePrivateDir(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  const top = resolve(first);
  for (let d = resolve(dir); ; d = dirname(d)) {
    chmodSync(d, 0o700);
    if (d === top || dirname(d) === d) break;
  }
}

/** Takes group and other permissions off an existing file we own; a missing file is fine. */
export function tightenFileMode(file: string): void {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return;
    throw err;
  }
  const ours = typeof process.getuid !== 'function' || st.uid === process.getuid();
  if (ours && (st.mode & 0o077) !== 0) chmodSync(file, 0o600);
}

/** Creates `file` empty with mode 0600, or tightens it when it already exists. */
export function ensurePrivateFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
    tightenFileMode(file);
    return;
  }
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}
