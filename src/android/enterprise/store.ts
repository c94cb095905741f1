import type { Kysely } from 'kysely';
import { dbNow } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';

/** The bound Android Enterprise, as the rest of the Android code needs it. */
export interface BoundEnterprise {
  /** Row id in `android_enterprises`. */
  id: number;
  /** Google's ID without the prefix (`LC0…`). */
  enterpriseId: string;
  /** Google's full name, `enterprises/LC0…`. */
  name: string;
  /** The Pub/Sub topic (and push subscription) ID, `a<uuid>`. */
  pubsubTopicId: string;
}

/** A signup in progress: the row the callback's token hash points at, with the admin who began it. */
export interface PendingSignup {
  id: number;
  signupName: string;
  user: { id: number; name: string; email: string } | null;
}

/**
 * `android_enterprises`: one row per signup begun (its Google signup URL name and the SHA-256 of the
 * callback token) until the callback binds one; then that row holds the enterprise and the others go.
 */
export class AndroidEnterpriseStore {
  constructor(private readonly db: Kysely<DB>) {}

  async bound(): Promise<BoundEnterprise | undefined> {
    const row = await this.db
      .selectFrom('android_enterprises')
      .select(['id', 'enterprise_id', 'pubsub_topic_id'])
      .where('enterprise_id', '!=', '')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      enterpriseId: row.enterprise_id,
      name: `enterprises/${row.enterprise_id}`,
      pubsubTopicId: row.pubsub_topic_id,
    };
  }

  /**
   * Records a signup begun by `userId`. The same admin's earlier unfinished signups are dropped (their
   * callback URLs stop working); other admins' stay, as Fleet keeps them, until one is bound.
   */
  async beginSignup(userId: number, signupName: string, tokenHash: string): Promise<void> {
    const now = dbNow();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('android_enterprises')
        .where('enterprise_id', '=', '')
        .where('user_id', '=', userId)
        .execute();
      await trx
        .insertInto('android_enterprises')
        .values({
          signup_name: signupName,
          signup_token_hash: tokenHash,
          user_id: userId,
          created_at: now,
          updated_at: now,
        })
        .execute();
    });
  }

  async pendingSignup(tokenHash: string): Promise<PendingSignup | undefined> {
    const row = await this.db
      .selectFrom('android_enterprises as e')
      .leftJoin('users as u', 'u.id', 'e.user_id')
      .select(['e.id', 'e.signup_name', 'u.id as user_id', 'u.name as user_name', 'u.email as user_email'])
      .where('e.signup_token_hash', '=', tokenHash)
      .where('e.enterprise_id', '=', '')
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.id,
      signupName: row.signup_name,
      user:
        row.user_id != null
          ? { id: row.user_id, name: row.user_name ?? '', email: row.user_email ?? '' }
          : null,
    };
  }

  /**
   * Binds the signup row to the enterprise Google created and deletes every other row, in one
   * transaction. False when the row was bound or removed meanwhile (a concurrent callback won).
   */
  async completeSignup(
    rowId: number,
    tokenHash: string,
    enterpriseId: string,
    pubsubTopicId: string,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('android_enterprises')
        .set({
          enterprise_id: enterpriseId,
          pubsub_topic_id: pubsubTopicId,
          signup_token_hash: '',
          updated_at: dbNow(),
        })
        .where('id', '=', rowId)
        .where('signup_token_hash', '=', tokenHash)
        .where('enterprise_id', '=', '')
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      await trx.deleteFrom('android_enterprises').where('id', '!=', rowId).execute();
      return true;
    });
  }

  /**
   * Forgets every enterprise and signup, and turns MDM off for every Android host: host_mdm no
   * longer enrolled (no MDM server), and their AMAPI device rows gone. One transaction; answers the
   * ids of the hosts that were enrolled.
   */
  async unbindAll(): Promise<number[]> {
    return this.db.transaction().execute(async (trx) => {
      const enrolled = await trx
        .selectFrom('host_mdm as m')
        .innerJoin('hosts as h', 'h.id', 'm.host_id')
        .select('h.id')
        .where('h.platform', '=', 'android')
        .where('m.enrolled', '=', 1)
        .execute();
      await trx
        .updateTable('host_mdm')
        .set({ enrolled: 0, server_url: '', mdm_id: null })
        .where('host_id', 'in', (qb) => qb.selectFrom('hosts').select('id').where('platform', '=', 'android'))
        .execute();
      await trx.deleteFrom('android_devices').execute();
      await trx.deleteFrom('android_enterprises').execute();
      return enrolled.map((r) => r.id);
    });
  }
}
