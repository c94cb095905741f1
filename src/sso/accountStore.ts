import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { upsert } from '../db/dialect.js';
import type { DB } from '../db/schema.js';

export interface IdpAccount {
  uuid: string;
  username: string;
  fullname: string;
  email: string;
}

/**
 * End users known from the IdP (`mdm_idp_accounts`, migration 0020). As in Fleet, an account is
 * keyed by e-mail: signing in again keeps its uuid (the enrollment reference) and refreshes the
 * user name and full name.
 */
export class IdpAccountStore {
  constructor(private readonly db: Kysely<DB>) {}

  async upsert(
    account: Omit<IdpAccount, 'uuid'>,
    now: string,
    trx: Transaction<DB> | Kysely<DB> = this.db,
  ): Promise<IdpAccount> {
    await upsert(
      trx,
      'mdm_idp_accounts',
      {
        uuid: randomUUID(),
        username: account.username,
        fullname: account.fullname,
        email: account.email,
        created_at: now,
        updated_at: now,
      },
      ['email'],
      ['username', 'fullname', 'updated_at'],
    );
    const row = await trx
      .selectFrom('mdm_idp_accounts')
      .select(['uuid', 'username', 'fullname', 'email'])
      .where('email', '=', account.email)
      .executeTakeFirstOrThrow();
    return row;
  }

  async getByUuid(uuid: string): Promise<IdpAccount | undefined> {
    return this.db
      .selectFrom('mdm_idp_accounts')
      .select(['uuid', 'username', 'fullname', 'email'])
      .where('uuid', '=', uuid)
      .executeTakeFirst();
  }
}
