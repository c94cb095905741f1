import type { Kysely } from 'kysely';
import { dbNow } from '../src/db/dialect.js';
import { builtinLabels } from '../src/labels/builtin.js';

/**
 * Seeds the built-in labels (label_type 1) and adds the indexes the admin host list uses.
 * Built-in labels added to the list later need their own migration: this one has already run.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const now = dbNow();
  await db
    .insertInto('labels')
    .values(
      builtinLabels.map((l) => ({
        name: l.name,
        description: l.description,
        query: l.query,
        platform: l.platform,
        label_type: 1,
        label_membership_type: l.membershipType,
        created_at: now,
        updated_at: now,
      })),
    )
    .execute();
  await db.schema.createIndex('idx_hosts_computer_name').on('hosts').column('computer_name').execute();
  await db.schema
    .createIndex('idx_enroll_secrets_team_created')
    .on('enroll_secrets')
    .columns(['team_id', 'created_at'])
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
