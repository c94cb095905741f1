/** Lock errors after which a whole transaction can simply run again. */
const lockConflictCodes = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'SQLITE_BUSY']);

/** InnoDB chose this transaction as a deadlock victim, or a lock wait (SQLite: busy) timed out. */
export function isLockConflict(err: unknown): boolean {
  return lockConflictCodes.has((err as { code?: string } | null)?.code ?? '');
}

/**
 * Runs `fn` (one whole transaction) again when it lost a lock conflict, up to `attempts` times in
 * all. Concurrent writers of shared rows (a new key many insert at once, new software titles) can
 * deadlock on InnoDB's gap locks; the victim's work was rolled back, so running it again is safe.
 * `alsoRetry` names other errors after which running again is right (e.g. a lost insert race).
 */
export async function retryOnLockConflict<T>(
  fn: () => Promise<T>,
  attempts = 3,
  alsoRetry: (err: unknown) => boolean = () => false,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !(isLockConflict(err) || alsoRetry(err))) throw err;
      // A short random pause, so the transactions that met do not meet again at once.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}
