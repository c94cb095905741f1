import { createHash, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { dbNow } from '../db/dialect.js';
import type { DB } from '../db/schema.js';

/** Rows of mdm_config_assets. Values arrive here already sealed; this store never sees plaintext. */
export class ConfigAssetStore {
  constructor(private readonly db: Kysely<DB>) {}

  async getSealed(names: string[]): Promise<Map<string, Buffer>> {
    if (names.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('mdm_config_assets')
      .select(['name', 'value'])
      .where('name', 'in', names)
      .where('deletion_uuid', '=', '')
      .execute();
    return new Map(rows.map((r) => [r.name, Buffer.from(r.value)]));
  }

  /** Replaces the live rows for these names in one transaction (old rows are soft-deleted). */
  async replaceSealed(values: Record<string, Buffer>, checksums: Record<string, string>): Promise<void> {
    const names = Object.keys(values);
    const now = dbNow();
    await this.db.transaction().execute(async (trx) => {
      for (const name of names) {
        await trx
          .updateTable('mdm_config_assets')
          .set({ deleted_at: now, deletion_uuid: randomUUID() })
          .where('name', '=', name)
          .where('deletion_uuid', '=', '')
          .execute();
        await trx
          .insertInto('mdm_config_assets')
          .values({ name, value: values[name], md5_checksum: checksums[name], created_at: now, deletion_uuid: '' })
          .execute();
      }
    });
  }

  /** Inserts only names that have no live row yet; returns the names inserted. */
  async insertMissingSealed(values: Record<string, Buffer>, checksums: Record<string, string>): Promise<string[]> {
    const now = dbNow();
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('mdm_config_assets')
        .select('name')
        .where('name', 'in', Object.keys(values))
        .where('deletion_uuid', '=', '')
        .execute();
      const have = new Set(existing.map((r) => r.name));
      const missing = Object.keys(values).filter((n) => !have.has(n));
      for (const name of missing) {
        await trx
          .insertInto('mdm_config_assets')
          .values({ name, value: values[name], md5_checksum: checksums[name], created_at: now, deletion_uuid: '' })
          .execute();
      }
      return missing;
    });
  }

  async softDelete(names: string[]): Promise<void> {
    if (names.length === 0) return;
    const now = dbNow();
    await this.db.transaction().execute(async (trx) => {
      for (const name of names) {
        await trx
          .updateTable('mdm_config_assets')
          .set({ deleted_at: now, deletion_uuid: randomUUID() })
          .where('name', '=', name)
          .where('deletion_uuid', '=', '')
          .execute();
      }
    });
  }
}

export function md5Hex(value: Buffer | string): string {
  return createHash('md5').update(value).digest('hex');
}
