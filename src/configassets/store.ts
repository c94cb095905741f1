import { createHash, randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { dbNow, forUpdate } from '../db/dialect.js';
import type { DB } from '../db/schema.js';

/**
 * Soft-deletes the live row of an asset: a unique deletion_uuid takes it out of the
 * (name, deletion_uuid = '') key, so a new live row can take its place and history stays.
 */
async function retireLive(trx: Kysely<DB>, name: string, now: string): Promise<void> {
  await trx
    .updateTable('mdm_config_assets')
    .set({ deleted_at: now, deletion_uuid: randomUUID() })
    .where('name', '=', name)
    .where('deletion_uuid', '=', '')
    .execute();
}

/** Inserts the live row of an asset (deletion_uuid '' marks it live). */
async function insertLive(
  trx: Kysely<DB>,
  name: string,
  value: Buffer,
  md5Checksum: string,
  now: string,
): Promise<void> {
  await trx
    .insertInto('mdm_config_assets')
    .values({ name, value, md5_checksum: md5Checksum, created_at: now, deletion_uuid: '' })
    .execute();
}

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
        await retireLive(trx, name, now);
        await insertLive(trx, name, values[name], checksums[name], now);
      }
    });
  }

  /**
   * Like `replaceSealed`, but only when the live rows of `expected` still carry those checksums
   * (null: no live row), read under lock; `alongside` runs in the same transaction. False, with
   * nothing written, when one differs.
   */
  async replaceSealedIf(
    expected: Record<string, string | null>,
    values: Record<string, Buffer>,
    checksums: Record<string, string>,
    alongside?: (trx: Transaction<DB>) => Promise<unknown>,
  ): Promise<boolean> {
    const now = dbNow();
    return this.db.transaction().execute(async (trx) => {
      const names = Object.keys(expected);
      const rows = names.length
        ? await forUpdate(
            trx,
            trx
              .selectFrom('mdm_config_assets')
              .select(['name', 'md5_checksum'])
              .where('name', 'in', names)
              .where('deletion_uuid', '=', ''),
          ).execute()
        : [];
      const live = new Map(rows.map((r) => [r.name, r.md5_checksum]));
      if (names.some((n) => (live.get(n) ?? null) !== expected[n])) return false;
      for (const name of Object.keys(values)) {
        await retireLive(trx, name, now);
        await insertLive(trx, name, values[name], checksums[name], now);
      }
      await alongside?.(trx);
      return true;
    });
  }

  /** Inserts only names that have no live row yet; returns the names inserted. */
  async insertMissingSealed(
    values: Record<string, Buffer>,
    checksums: Record<string, string>,
  ): Promise<string[]> {
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
        await insertLive(trx, name, values[name], checksums[name], now);
      }
      return missing;
    });
  }

  async softDelete(names: string[]): Promise<void> {
    if (names.length === 0) return;
    const now = dbNow();
    await this.db.transaction().execute(async (trx) => {
      for (const name of names) await retireLive(trx, name, now);
    });
  }
}

export function md5Hex(value: Buffer | string): string {
  return createHash('md5').update(value).digest('hex');
}
