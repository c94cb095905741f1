import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * When a user was last seen signed in on a Windows enrollment (SyncML Alert 1224 LoginStatus
 * `user`, or an enrollment made by a signed-in user); NULL while no user is signed in. Profiles
 * with `./User/` settings are held until it is set.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema.alterTable('mdm_windows_enrollments').addColumn('user_signed_in_at', t.datetime).execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
