import type { Kysely } from 'kysely';
import { dbNow } from '../../src/db/dialect.js';
import type { DB } from '../../src/db/schema.js';

const platforms = ['darwin', 'windows', 'ios', 'ipados', 'ubuntu'];

/** Inserts `count` hosts (with host_mdm rows) in batches, each batch one transaction. */
export async function seedHosts(db: Kysely<DB>, count: number, batchSize = 1000): Promise<void> {
  const now = dbNow();
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    await db.transaction().execute(async (trx) => {
      const rows = Array.from({ length: n }, (_, i) => {
        const k = start + i;
        const hex = k.toString(16).padStart(12, '0');
        return {
          uuid: `BENCH000-0000-4000-8000-${hex}`.toUpperCase(),
          hardware_serial: `BSN${k.toString().padStart(9, '0')}`,
          platform: platforms[k % platforms.length],
          hostname: `bench-host-${k}.example.com`,
          computer_name: `Bench Host ${k}`,
          hardware_model: k % 2 ? 'MacBookPro18,3' : 'Surface Laptop 5',
          os_version: k % 2 ? 'macOS 14.5' : 'Windows 11 23H2',
          created_at: now,
          updated_at: now,
        };
      });
      await trx.insertInto('hosts').values(rows).execute();
      const ids = await trx
        .selectFrom('hosts')
        .select('id')
        .where(
          'uuid',
          'in',
          rows.map((r) => r.uuid),
        )
        .execute();
      await trx
        .insertInto('host_mdm')
        .values(
          ids.map((r) => ({
            host_id: r.id,
            enrolled: 1,
            server_url: 'https://bench.example.com/mdm/apple/mdm',
            mdm_name: 'Fleet',
          })),
        )
        .execute();
    });
  }
}
