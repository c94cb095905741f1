import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';

export type ProbeResult = { ok: true } | { ok: false; reason: string; code?: string };

class RollBack extends Error {}

/** Settles within `ms`: a database that hangs is as unready as one that refuses. */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'PROBE_TIMEOUT' })), ms);
  });
  work.catch(() => {}); // a late failure after the timeout must not go unhandled
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function failed(reason: string, err: unknown): ProbeResult {
  const code = (err as { code?: string })?.code;
  return { ok: false, reason: code === 'PROBE_TIMEOUT' ? 'database timed out' : reason, code };
}

/** `SELECT 1`: the database answers. */
export async function probeRead(db: Kysely<any>, timeoutMs = 3000): Promise<ProbeResult> {
  try {
    await within(timeoutMs, sql`select 1`.execute(db));
    return { ok: true };
  } catch (err) {
    return failed('database cannot be read', err);
  }
}

/**
 * A read, then a write that is rolled back: one row into `rate_limits` (a tiny table with no
 * foreign keys) inside a transaction that is then abandoned. It catches what `SELECT 1` does not:
 * a read-only server or file, a user without write grants, a lock that never clears. Nothing is
 * kept, so probes from many processes cost a row lock each and leave no trace.
 */
export async function probeReadWrite(db: Kysely<any>, timeoutMs = 3000): Promise<ProbeResult> {
  const read = await probeRead(db, timeoutMs);
  if (!read.ok) return read;
  const probe = {
    key_hash: `probe-${randomBytes(16).toString('hex')}`,
    window_start: 0,
    hits: 0,
    expires_at: 0,
  };
  try {
    await within(
      timeoutMs,
      db.transaction().execute(async (trx) => {
        await trx.insertInto('rate_limits').values(probe).execute();
        throw new RollBack();
      }),
    );
  } catch (err) {
    if (!(err instanceof RollBack)) return failed('database refuses writes', err);
  }
  return { ok: true };
}
