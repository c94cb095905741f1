import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../src/db/dialect.js';

/**
 * Session and API tokens are stored as the SHA-256 (lowercase hex) of the token instead of the
 * token itself, in the same `sessions.key` column (64 characters fit its varchar(255)); lookups
 * hash the presented token first (see `sessionKeyHash` in src/admin/userStore.ts). This converts
 * the rows written before, so tokens already handed out keep working.
 */
export async function up(db: Kysely<any>): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    // SHA2() hashes the column's UTF-8 bytes and answers lowercase hex, as node:crypto does.
    await db
      .updateTable('sessions')
      .set({ key: sql`SHA2(${sql.ref('key')}, 256)` })
      .execute();
    return;
  }
  // SQLite has no SHA-256 function: hash in batches by id, in one transaction.
  await db.transaction().execute(async (trx) => {
    let after = 0;
    for (;;) {
      const rows = await trx
        .selectFrom('sessions')
        .select(['id', 'key'])
        .where('id', '>', after)
        .orderBy('id')
        .limit(500)
        .execute();
      if (rows.length === 0) break;
      for (const r of rows) {
        const hash = createHash('sha256').update(String(r.key), 'utf8').digest('hex');
        await trx.updateTable('sessions').set({ key: hash }).where('id', '=', r.id).execute();
      }
      after = Number(rows[rows.length - 1].id);
    }
  });
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
