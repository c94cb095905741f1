import { sql, type Kysely, type Transaction } from 'kysely';
import { dbNow, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';

type AnyDb = Kysely<DB> | Transaction<DB>;

/** A team's package without its bytes. */
export interface BootstrapPackageMeta {
  teamId: number;
  name: string;
  sha256: Buffer;
  size: number;
  storageId: string;
  token: string;
  createdAt: string;
  updatedAt: string;
}

/** What the host detail shows for a host that got the bootstrap package. */
export interface HostBootstrapStatus {
  status: string;
  detail: string | null;
  packageName: string;
}

export type BootstrapStatus = 'installed' | 'pending' | 'failed';

function toMeta(r: {
  team_id: number;
  name: string;
  sha256: Buffer | Uint8Array;
  size: number | string;
  storage_id: string;
  token: string;
  created_at: string;
  updated_at: string;
}): BootstrapPackageMeta {
  return {
    teamId: Number(r.team_id),
    name: r.name,
    sha256: Buffer.from(r.sha256),
    size: Number(r.size),
    storageId: r.storage_id,
    token: r.token,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const metaColumns = [
  'team_id',
  'name',
  'sha256',
  'size',
  'storage_id',
  'token',
  'created_at',
  'updated_at',
] as const;

/**
 * mdm_apple_bootstrap_packages, their chunks, and host_mdm_apple_bootstrap_packages. Team 0 is
 * "No team" here, as in Fleet's table.
 */
export class BootstrapPackageStore {
  constructor(readonly db: Kysely<DB>) {}

  async writeChunk(storageId: string, seq: number, bytes: Buffer): Promise<void> {
    await this.db
      .insertInto('mdm_apple_bootstrap_package_chunks')
      .values({ storage_id: storageId, seq, bytes, created_at: dbNow() })
      .execute();
  }

  async deleteChunks(storageId: string, db: AnyDb = this.db): Promise<void> {
    await db.deleteFrom('mdm_apple_bootstrap_package_chunks').where('storage_id', '=', storageId).execute();
  }

  /**
   * Chunks no package points at and older than `before` (an upload that crashed half way, or the
   * leftovers of a delete that could not finish); returns how many storage ids were freed.
   */
  async deleteOrphanChunks(before: string): Promise<number> {
    const rows = await this.db
      .selectFrom('mdm_apple_bootstrap_package_chunks as c')
      .select('c.storage_id')
      .distinct()
      .where('c.created_at', '<', before)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('mdm_apple_bootstrap_packages as p')
              .select(sql`1`.as('one'))
              .whereRef('p.storage_id', '=', 'c.storage_id'),
          ),
        ),
      )
      .limit(100)
      .execute();
    for (const r of rows) await this.deleteChunks(r.storage_id);
    return rows.length;
  }

  /** Inserts the package row; throws the unique violation when the team already has one. */
  async insertPackage(p: {
    teamId: number;
    name: string;
    sha256: Buffer;
    size: number;
    storageId: string;
    token: string;
    tokenSha256: string;
  }): Promise<void> {
    const now = dbNow();
    await this.db
      .insertInto('mdm_apple_bootstrap_packages')
      .values({
        team_id: p.teamId,
        name: p.name,
        sha256: p.sha256,
        bytes: null,
        size: p.size,
        storage_id: p.storageId,
        token: p.token,
        token_sha256: p.tokenSha256,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }

  async meta(teamId: number): Promise<BootstrapPackageMeta | undefined> {
    const r = await this.db
      .selectFrom('mdm_apple_bootstrap_packages')
      .select(metaColumns)
      .where('team_id', '=', teamId)
      .executeTakeFirst();
    return r ? toMeta(r) : undefined;
  }

  async metaByTokenHash(tokenSha256: string): Promise<BootstrapPackageMeta | undefined> {
    const r = await this.db
      .selectFrom('mdm_apple_bootstrap_packages')
      .select(metaColumns)
      .where('token_sha256', '=', tokenSha256)
      .executeTakeFirst();
    return r ? toMeta(r) : undefined;
  }

  /** Deletes a team's package row and its bytes in one transaction; false when there was none. */
  async deletePackage(teamId: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('mdm_apple_bootstrap_packages')
        .select('storage_id')
        .where('team_id', '=', teamId)
        .executeTakeFirst();
      if (!row) return false;
      await trx.deleteFrom('mdm_apple_bootstrap_packages').where('team_id', '=', teamId).execute();
      await this.deleteChunks(row.storage_id, trx);
      return true;
    });
  }

  /** The chunks of a file from `firstSeq` on, a few at a time (for streaming). */
  async chunks(storageId: string, firstSeq: number, lastSeq: number, limit: number) {
    return this.db
      .selectFrom('mdm_apple_bootstrap_package_chunks')
      .select(['seq', 'bytes'])
      .where('storage_id', '=', storageId)
      .where('seq', '>=', firstSeq)
      .where('seq', '<=', lastSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
  }

  /** Records the command that carries the package to a host (a re-enrollment replaces it). */
  async recordHostCommand(hostUuid: string, commandUuid: string): Promise<void> {
    const now = dbNow();
    await upsert(
      this.db,
      'host_mdm_apple_bootstrap_packages',
      {
        host_uuid: hostUuid,
        command_uuid: commandUuid,
        status: 'pending',
        detail: null,
        created_at: now,
        updated_at: now,
      },
      ['host_uuid'],
      ['command_uuid', 'status', 'detail', 'updated_at'],
    );
  }

  /** The device's answer to the command; false when it carried no bootstrap package. */
  async recordResult(
    hostUuid: string,
    commandUuid: string,
    status: BootstrapStatus,
    detail: string | null,
  ): Promise<boolean> {
    const res = await this.db
      .updateTable('host_mdm_apple_bootstrap_packages')
      .set({ status, detail, updated_at: dbNow() })
      .where('host_uuid', '=', hostUuid)
      .where('command_uuid', '=', commandUuid)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async hostCommand(hostUuid: string): Promise<{ commandUuid: string; status: string } | undefined> {
    const r = await this.db
      .selectFrom('host_mdm_apple_bootstrap_packages')
      .select(['command_uuid', 'status'])
      .where('host_uuid', '=', hostUuid)
      .executeTakeFirst();
    return r ? { commandUuid: r.command_uuid, status: r.status } : undefined;
  }

  /**
   * Fleet's summary: the team's macOS hosts installed from ADE, by the answer to their bootstrap
   * command (none yet, or no command at all, counts as pending).
   */
  async summary(teamId: number): Promise<{ installed: number; pending: number; failed: number }> {
    const r = await this.db
      .selectFrom('hosts as h')
      .innerJoin('host_mdm as hm', 'hm.host_id', 'h.id')
      .leftJoin('host_mdm_apple_bootstrap_packages as b', 'b.host_uuid', 'h.uuid')
      .select([
        sql<number>`COALESCE(SUM(CASE WHEN b.status = 'installed' THEN 1 ELSE 0 END), 0)`.as('installed'),
        sql<number>`COALESCE(SUM(CASE WHEN b.status = 'failed' THEN 1 ELSE 0 END), 0)`.as('failed'),
        sql<number>`COALESCE(SUM(CASE WHEN b.status IS NULL OR b.status = 'pending' THEN 1 ELSE 0 END), 0)`.as(
          'pending',
        ),
      ])
      .where('hm.installed_from_dep', '=', 1)
      .where(sql<boolean>`COALESCE(h.team_id, 0) = ${teamId}`)
      .where('h.platform', '=', 'darwin')
      .executeTakeFirstOrThrow();
    return { installed: Number(r.installed), pending: Number(r.pending), failed: Number(r.failed) };
  }

  /** A host's bootstrap status, as Fleet shows it: only for ADE hosts whose team has a package. */
  async hostStatus(hostId: number): Promise<HostBootstrapStatus | undefined> {
    const r = await this.db
      .selectFrom('hosts as h')
      .innerJoin('host_mdm_apple_bootstrap_packages as b', 'b.host_uuid', 'h.uuid')
      .innerJoin('host_mdm as hm', 'hm.host_id', 'h.id')
      .innerJoin('mdm_apple_bootstrap_packages as p', (j) =>
        j.on(sql<boolean>`p.team_id = COALESCE(h.team_id, 0)`),
      )
      .select(['b.status', 'b.detail', 'p.name'])
      .where('h.id', '=', hostId)
      .where('hm.installed_from_dep', '=', 1)
      .executeTakeFirst();
    return r ? { status: r.status, detail: r.detail, packageName: r.name } : undefined;
  }

  async forgetHosts(hostUuids: string[]): Promise<void> {
    const uuids = hostUuids.filter(Boolean);
    if (!uuids.length) return;
    await this.db.deleteFrom('host_mdm_apple_bootstrap_packages').where('host_uuid', 'in', uuids).execute();
  }
}
