import type { Kysely } from 'kysely';
import { columnTypes, dialectOf } from '../src/db/dialect.js';

/**
 * Apple device facts that Fleet has no column for: the last `SecurityInfo` answer of each Apple
 * MDM host (firewall, System Integrity Protection, the management status the device reports,
 * passcode presence on iPhone and iPad). FileVault and the DEP / user-enrollment flags also go to
 * Fleet's own columns (hosts.disk_encryption_enabled, host_mdm); this row keeps what the device
 * said and when, which also tells the refetch jobs whose facts are stale. NULL = not reported.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = columnTypes(dialectOf(db));
  await db.schema
    .createTable('host_apple_security_info')
    .addColumn('host_id', 'integer', (c) => c.primaryKey())
    .addColumn('fde_enabled', 'boolean')
    .addColumn('fde_has_personal_recovery_key', 'boolean')
    .addColumn('system_integrity_protection_enabled', 'boolean')
    .addColumn('firewall_enabled', 'boolean')
    .addColumn('firewall_block_all_incoming', 'boolean')
    .addColumn('firewall_stealth_mode', 'boolean')
    .addColumn('enrolled_via_dep', 'boolean')
    .addColumn('user_approved_enrollment', 'boolean')
    .addColumn('is_user_enrollment', 'boolean')
    .addColumn('passcode_present', 'boolean')
    .addColumn('passcode_compliant', 'boolean')
    .addColumn('hardware_encryption_caps', 'integer')
    .addColumn('secure_boot_level', 'varchar(32)')
    .addColumn('fetched_at', t.datetime, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idx_host_apple_security_info_fetched_at')
    .on('host_apple_security_info')
    .column('fetched_at')
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('migrations are forward only');
}
