import type { Transaction } from 'kysely';
import type { DB } from '../db/schema.js';
import type { UserRow } from './userStore.js';
import type { ActivityStore } from './activityStore.js';

/** Who did something: an admin (a viewer fits) or the server itself (null). */
export type Actor = { user: Pick<UserRow, 'id' | 'name' | 'email'> } | null;

/** Writes the audit log. Every admin change records one typed activity. */
export class ActivityService {
  constructor(private readonly store: ActivityStore) {}

  async record(
    actor: Actor,
    type: string,
    details: Record<string, unknown>,
    opts: { hostIds?: number[]; trx?: Transaction<DB> } = {},
  ): Promise<number> {
    return this.store.insert(
      {
        userId: actor?.user.id ?? null,
        userName: actor?.user.name ?? null,
        userEmail: actor?.user.email ?? null,
        type,
        details,
        hostIds: opts.hostIds,
      },
      opts.trx,
    );
  }

  list(opts: Parameters<ActivityStore['list']>[0]) {
    return this.store.list(opts);
  }
}
