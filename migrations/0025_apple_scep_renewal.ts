import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Apple SCEP identity renewal (the `renew_scep_certificates` cron). Fleet keeps the pending
 * command in `nano_cert_auth_associations.renew_command_uuid`; the state machine around it
 * (requested, command sent, renewed, failed with a retry time) lives in more columns of that row,
 * one per identity certificate. A renewal command's SCEP challenge is shared by the devices it
 * went to, so challenges and the certificates issued through them name that command.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  // SQLite adds one column per ALTER TABLE.
  const add = async (table: string, name: string, type: any, notNullDefault?: unknown) => {
    await db.schema
      .alterTable(table)
      .addColumn(name, type, (c) =>
        notNullDefault === undefined ? c : c.notNull().defaultTo(notNullDefault),
      )
      .execute();
  };
  const associations = 'nano_cert_auth_associations';
  await add(associations, 'renew_state', 'varchar(16)');
  await add(associations, 'renew_kind', 'varchar(16)');
  await add(associations, 'renew_attempts', 'integer', 0);
  await add(associations, 'renew_sent_at', t.datetime);
  await add(associations, 'renew_retry_at', t.datetime);
  await add(associations, 'renew_error', 'varchar(255)');
  await add(associations, 'renewed_by_sha256', 'char(64)');
  await add(associations, 'from_migration', 'boolean', false);
  await db.schema
    .createIndex('idx_nano_cert_auth_not_valid_after')
    .on('nano_cert_auth_associations')
    .column('cert_not_valid_after')
    .execute();
  await db.schema
    .createIndex('idx_nano_cert_auth_renew_state')
    .on('nano_cert_auth_associations')
    .column('renew_state')
    .execute();

  await add('scep_challenges', 'renew_command_uuid', 'varchar(127)');
  await add('scep_certificates', 'renew_command_uuid', 'varchar(127)');
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
