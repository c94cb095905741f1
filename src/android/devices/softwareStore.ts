import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { dbNow, insertIgnore } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { InstalledApp } from './deviceFields.js';

/** Fleet's `software.source` for apps an Android device reports. */
export const androidAppsSource = 'android_apps';

/** Rows per statement, well under both dialects' placeholder limits. */
const chunk = 500;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += chunk) out.push(items.slice(i, i + chunk));
  return out;
}

/** The unique key of a software row: MD5 hex of its identifying fields. */
export function softwareChecksum(
  name: string,
  version: string,
  source: string,
  bundleIdentifier: string,
): string {
  return createHash('md5').update([name, version, source, bundleIdentifier].join('\u0000')).digest('hex');
}

/** MD5 hex of an app list whatever its order: a report with the same apps as the last one is skipped. */
export function appListChecksum(source: string, apps: InstalledApp[]): string {
  const keys = apps.map((a) => softwareChecksum(a.name, a.version, source, a.bundleIdentifier)).sort();
  return createHash('md5').update(keys.join(',')).digest('hex');
}

/**
 * Writes a host's software inventory (the `software` and `host_software` tables) as a difference:
 * read the titles' ids and the host's current links, insert only the titles not yet known and the
 * links missing, delete only the links gone. A status report with the same apps as the last one
 * (nearly all of them) writes nothing: no row locks, so concurrent reports of hosts that share
 * titles never wait on each other. Statements only ever touch this host's key range of
 * host_software (a DELETE with a subquery on `software` made InnoDB lock other hosts' rows).
 */
export class SoftwareInventoryStore {
  async replaceHostSoftware(
    trx: Transaction<DB>,
    hostId: number,
    source: string,
    apps: InstalledApp[],
  ): Promise<void> {
    const byChecksum = new Map<string, InstalledApp>();
    for (const a of apps) byChecksum.set(softwareChecksum(a.name, a.version, source, a.bundleIdentifier), a);
    const ids = await this.softwareIds(trx, [...byChecksum.keys()]);
    const unknown = [...byChecksum.keys()].filter((c) => !ids.has(c));
    if (unknown.length) {
      const now = dbNow();
      for (const part of chunks(unknown.sort())) {
        await insertIgnore(
          trx,
          'software',
          part.map((c) => {
            const a = byChecksum.get(c)!;
            return {
              name: a.name,
              version: a.version,
              source,
              bundle_identifier: a.bundleIdentifier,
              checksum: c,
              created_at: now,
            };
          }),
        );
      }
      for (const [c, id] of await this.softwareIds(trx, unknown)) ids.set(c, id);
    }
    const wanted = new Set(ids.values());
    // Only this source's links are replaced (other sources of inventory keep theirs).
    const current = await trx
      .selectFrom('host_software as hs')
      .innerJoin('software as s', 's.id', 'hs.software_id')
      .select('hs.software_id')
      .where('hs.host_id', '=', hostId)
      .where('s.source', '=', source)
      .execute();
    const have = new Set(current.map((r) => Number(r.software_id)));
    const stale = [...have].filter((id) => !wanted.has(id)).sort((a, b) => a - b);
    const missing = [...wanted].filter((id) => !have.has(id)).sort((a, b) => a - b);
    for (const part of chunks(stale)) {
      await trx
        .deleteFrom('host_software')
        .where('host_id', '=', hostId)
        .where('software_id', 'in', part)
        .execute();
    }
    for (const part of chunks(missing)) {
      await insertIgnore(
        trx,
        'host_software',
        part.map((id) => ({ host_id: hostId, software_id: id, last_opened_at: null })),
      );
    }
  }

  private async softwareIds(trx: Transaction<DB>, checksums: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const part of chunks(checksums)) {
      const rows = await trx
        .selectFrom('software')
        .select(['id', 'checksum'])
        .where('checksum', 'in', part)
        .execute();
      for (const r of rows) out.set(String(r.checksum), Number(r.id));
    }
    return out;
  }

  /** The host's software as Fleet's host detail lists it (`software`), by name then version. */
  async hostSoftware(db: Kysely<DB>, hostId: number) {
    return db
      .selectFrom('host_software as hs')
      .innerJoin('software as s', 's.id', 'hs.software_id')
      .select(['s.id', 's.name', 's.version', 's.source', 's.bundle_identifier'])
      .where('hs.host_id', '=', hostId)
      .orderBy('s.name')
      .orderBy('s.version')
      .execute();
  }
}
