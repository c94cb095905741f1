import type { Kysely, Transaction } from 'kysely';
import { dbNow, insertIgnore } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { retryOnLockConflict } from '../../db/lockRetry.js';

/** `android_pubsub_messages`: the Pub/Sub message IDs already handled. */
export class AndroidPubsubStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * One message's transaction, run again if it lost a deadlock: new devices enrolling at once meet
   * on the gap locks of the host lookup (which keep one device from becoming two hosts) and on new
   * software rows.
   */
  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return retryOnLockConflict(() => this.db.transaction().execute(fn), 5);
  }

  /**
   * Records a message as handled, inside the transaction of its effects; false when it already
   * was (a redelivery, or a concurrent delivery that committed first: MySQL waits on its key).
   */
  async recordMessage(trx: Transaction<DB>, messageId: string): Promise<boolean> {
    return (
      (await insertIgnore(trx, 'android_pubsub_messages', { message_id: messageId, received_at: dbNow() })) >
      0
    );
  }

  /** Forgets messages older than `cutoff` (Pub/Sub redelivers for at most its retention, 24 h). */
  async pruneBefore(cutoff: string): Promise<number> {
    const res = await this.db
      .deleteFrom('android_pubsub_messages')
      .where('received_at', '<', cutoff)
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
