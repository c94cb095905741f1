import type { Kysely } from 'kysely';
import { forUpdate, isUniqueViolation, toDbTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';

/** The outcome of registering a token for a host. */
export type TokenWrite = 'created' | 'rotated' | 'unchanged' | 'conflict';

/**
 * `host_device_auth`: each host's Fleet Desktop token as a SHA-256 hash (never the token), the hash
 * of the one it replaced and until when that one still counts.
 */
export class DeviceAuthStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Sets the host's token. The same token again changes nothing (its age keeps counting, as in
   * Fleet); a new one becomes current with `now` as its rotation time, and the old one stays valid
   * until `previousValidUntil`. A token another host holds (current, or previous still in grace)
   * is a conflict and nothing is written.
   */
  async setToken(
    hostId: number,
    tokenHash: string,
    now: Date,
    previousValidUntil: Date,
  ): Promise<TokenWrite> {
    const nowDb = toDbTime(now);
    try {
      return await this.write(hostId, tokenHash, nowDb, toDbTime(previousValidUntil));
    } catch (err) {
      // Another host (or this host's other request) wrote the same hash in between.
      if (isUniqueViolation(err)) return 'conflict';
      throw err;
    }
  }

  private write(hostId: number, tokenHash: string, nowDb: string, previousValidUntil: string) {
    return this.db.transaction().execute(async (trx): Promise<TokenWrite> => {
      const others = await trx
        .selectFrom('host_device_auth')
        .select('host_id')
        .where('host_id', '!=', hostId)
        .where((eb) =>
          eb.or([
            eb('token_hash', '=', tokenHash),
            eb.and([eb('previous_token_hash', '=', tokenHash), eb('previous_valid_until', '>', nowDb)]),
          ]),
        )
        .executeTakeFirst();
      if (others) return 'conflict';
      const current = await forUpdate(
        trx,
        trx.selectFrom('host_device_auth').select(['token_hash']).where('host_id', '=', hostId),
      ).executeTakeFirst();
      if (!current) {
        await trx
          .insertInto('host_device_auth')
          .values({ host_id: hostId, token_hash: tokenHash, created_at: nowDb, updated_at: nowDb })
          .execute();
        return 'created';
      }
      if (current.token_hash === tokenHash) return 'unchanged';
      await trx
        .updateTable('host_device_auth')
        .set({
          token_hash: tokenHash,
          previous_token_hash: current.token_hash,
          previous_valid_until: previousValidUntil,
          updated_at: nowDb,
        })
        .where('host_id', '=', hostId)
        .execute();
      return 'rotated';
    });
  }

  /**
   * The host a token belongs to: the current token while younger than `currentNotBefore` allows,
   * or the previous one until its grace ends. One statement, both halves on an index.
   */
  async hostIdForToken(tokenHash: string, now: Date, currentNotBefore: Date): Promise<number | undefined> {
    const current = this.db
      .selectFrom('host_device_auth')
      .select('host_id')
      .where('token_hash', '=', tokenHash)
      .where('updated_at', '>=', toDbTime(currentNotBefore));
    const previous = this.db
      .selectFrom('host_device_auth')
      .select('host_id')
      .where('previous_token_hash', '=', tokenHash)
      .where('previous_valid_until', '>', toDbTime(now));
    const row = await current.unionAll(previous).executeTakeFirst();
    return row?.host_id;
  }
}
