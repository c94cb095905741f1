import { sql, type Kysely, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import { dbNow, dialectOf, forUpdate, type DialectName } from '../db/dialect.js';
import type { DB, HostDiskEncryptionKeysTable } from '../db/schema.js';
import { fileVaultProfileIdentifier } from './fileVaultProfile.js';
import type { DiskEncryptionStatus } from '../hosts/store.js';
import { bitLockerStatusRows, fileVaultStatusRows } from './statusSql.js';

type Db = Kysely<DB> | Transaction<DB>;

export type DiskEncryptionKeyRow = Selectable<HostDiskEncryptionKeysTable>;

/** What an agent reported, as the store writes it. */
export interface IncomingKey {
  /** The blob as stored: the Mac's CMS envelope, or the server's envelope of a BitLocker key; '' for none. */
  base64: string;
  clientError: string;
  /** NULL: not yet checked; 0: cannot be decrypted (or missing while the disk is encrypted); 1: decryptable. */
  decryptable: 0 | 1 | null;
}

/** One host's status row, as the status SQL yields it. */
export interface HostStatusRow {
  host_id: number;
  /** The FileVault profile the status comes from (macOS only). */
  profile_uuid: string | null;
  status: DiskEncryptionStatus | null;
  action_required: string | null;
  detail: string;
}

export type PlatformCounts = Record<DiskEncryptionStatus, number>;

const toBool = (v: unknown): 0 | 1 | null => (v === null || v === undefined ? null : Number(v) ? 1 : 0);

/**
 * `host_disk_encryption_keys` (+ `_archive`), the FileVault profile definitions, and the status
 * queries over them. Every statement of the disk-encryption area is here.
 */
export class DiskEncryptionStore {
  constructor(readonly db: Kysely<DB>) {}

  get dialect(): DialectName {
    return dialectOf(this.db);
  }

  async getKey(hostId: number, db: Db = this.db): Promise<DiskEncryptionKeyRow | undefined> {
    const row = await db
      .selectFrom('host_disk_encryption_keys')
      .selectAll()
      .where('host_id', '=', hostId)
      .executeTakeFirst();
    return row ? { ...row, decryptable: toBool(row.decryptable) } : undefined;
  }

  /**
   * Fleet's SetOrUpdateHostDiskEncryptionKey, in one transaction: a new, non-empty key that differs
   * from the stored one goes to the archive (as does the key it replaces, if the archive lacks it);
   * a first report inserts the row; a report of an error without a key (`keepKeyOnClientError`)
   * records the error and leaves the stored key alone; otherwise the row takes the new values, and
   * `decryptable` is kept only when the same non-empty key arrives again. `updated_at` moves only
   * when something changed (the verification job compares it with its start time).
   */
  async setOrUpdate(
    host: { id: number; hardware_serial: string },
    incoming: IncomingKey,
    opts: { keepKeyOnClientError?: boolean } = {},
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const now = dbNow();
      const existing = await forUpdate(
        trx,
        trx.selectFrom('host_disk_encryption_keys').selectAll().where('host_id', '=', host.id),
      ).executeTakeFirst();
      const oldKey = existing?.base64_encrypted ?? '';
      if (incoming.base64 !== '' && incoming.base64 !== oldKey) {
        if (oldKey !== '') await this.archiveIfMissing(trx, host, oldKey, existing!.updated_at);
        await trx
          .insertInto('host_disk_encryption_keys_archive')
          .values({
            host_id: host.id,
            hardware_serial: host.hardware_serial,
            base64_encrypted: incoming.base64,
            key_slot: null,
            created_at: now,
          })
          .execute();
      }
      if (!existing) {
        await trx
          .insertInto('host_disk_encryption_keys')
          .values({
            host_id: host.id,
            base64_encrypted: incoming.base64,
            client_error: incoming.clientError,
            decryptable: incoming.decryptable,
            created_at: now,
            updated_at: now,
          })
          .execute();
        return;
      }
      if (opts.keepKeyOnClientError && incoming.base64 === '' && incoming.clientError !== '') {
        if (existing.client_error !== incoming.clientError) {
          await trx
            .updateTable('host_disk_encryption_keys')
            .set({ client_error: incoming.clientError, updated_at: now })
            .where('host_id', '=', host.id)
            .execute();
        }
        return;
      }
      const sameKey = incoming.base64 !== '' && incoming.base64 === oldKey;
      const decryptable = sameKey ? toBool(existing.decryptable) : incoming.decryptable;
      const changed =
        !sameKey ||
        existing.client_error !== incoming.clientError ||
        toBool(existing.decryptable) !== decryptable;
      if (!changed) return;
      await trx
        .updateTable('host_disk_encryption_keys')
        .set({
          base64_encrypted: incoming.base64,
          client_error: incoming.clientError,
          decryptable,
          updated_at: now,
        })
        .where('host_id', '=', host.id)
        .execute();
    });
  }

  private async archiveIfMissing(
    trx: Transaction<DB>,
    host: { id: number; hardware_serial: string },
    key: string,
    at: string,
  ): Promise<void> {
    const have = await trx
      .selectFrom('host_disk_encryption_keys_archive')
      .select('id')
      .where('host_id', '=', host.id)
      .where('base64_encrypted', '=', key)
      .executeTakeFirst();
    if (have) return;
    await trx
      .insertInto('host_disk_encryption_keys_archive')
      .values({
        host_id: host.id,
        hardware_serial: host.hardware_serial,
        base64_encrypted: key,
        key_slot: null,
        created_at: at,
      })
      .execute();
  }

  /** Keys not yet checked (decryptable NULL) that have a blob and did not change after `changedUpTo`. */
  async unverified(
    limit: number,
    changedUpTo: string,
  ): Promise<{ host_id: number; base64_encrypted: string }[]> {
    return this.db
      .selectFrom('host_disk_encryption_keys')
      .select(['host_id', 'base64_encrypted'])
      .where('decryptable', 'is', null)
      .where('base64_encrypted', '<>', '')
      .where('updated_at', '<=', changedUpTo)
      .orderBy('updated_at')
      .orderBy('host_id')
      .limit(limit)
      .execute();
  }

  /**
   * Records the verification result, only on rows not changed since `threshold` (a key that
   * arrived during the run is checked by the next one).
   */
  async setDecryptable(hostIds: number[], decryptable: 0 | 1, threshold: string): Promise<number> {
    let n = 0;
    for (let i = 0; i < hostIds.length; i += 500) {
      const res = await this.db
        .updateTable('host_disk_encryption_keys')
        .set({ decryptable })
        .where('host_id', 'in', hostIds.slice(i, i + 500))
        .where('updated_at', '<=', threshold)
        .executeTakeFirst();
      n += Number(res.numUpdatedRows);
    }
    return n;
  }

  /** Is the Mac connected to Flotilla's Apple MDM (device channel enabled, host_mdm enrolled)? */
  async appleConnected(host: { id: number; uuid: string }): Promise<boolean> {
    const row = await this.db
      .selectFrom('nano_enrollments as ne')
      .innerJoin('host_mdm as hm', (j) => j.on('hm.host_id', '=', host.id))
      .select('ne.id')
      .where('ne.device_id', '=', host.uuid)
      .where('ne.enabled', '=', 1)
      .where('ne.type', 'in', ['Device', 'User Enrollment (Device)'])
      .where('hm.enrolled', '=', 1)
      .executeTakeFirst();
    return !!row;
  }

  /** Is the PC connected to Flotilla's Windows MDM (a live enrollment, host_mdm enrolled)? */
  async windowsConnected(host: { id: number; uuid: string }): Promise<boolean> {
    if (!host.uuid) return false;
    const row = await this.db
      .selectFrom('mdm_windows_enrollments as we')
      .innerJoin('host_mdm as hm', (j) => j.on('hm.host_id', '=', host.id))
      .select('we.id')
      .where('we.host_uuid', '=', host.uuid)
      .where('we.device_state', '=', 'MDMDeviceEnrolledEnrolled')
      .where('hm.enrolled', '=', 1)
      .executeTakeFirst();
    return !!row;
  }

  // ---- the FileVault profile definitions ----

  /** The team's FileVault profile definition (team 0 = no team), if any. */
  async fileVaultDefinition(
    teamId: number,
    db: Db = this.db,
  ): Promise<{ profile_uuid: string; checksum: string } | undefined> {
    return db
      .selectFrom('mdm_apple_configuration_profiles')
      .select(['profile_uuid', 'checksum'])
      .where('team_id', '=', teamId)
      .where('identifier', '=', fileVaultProfileIdentifier)
      .executeTakeFirst();
  }

  /** Team ids (0 = no team) that have a FileVault profile definition. */
  async teamsWithFileVaultDefinition(): Promise<number[]> {
    const rows = await this.db
      .selectFrom('mdm_apple_configuration_profiles')
      .select('team_id')
      .where('identifier', '=', fileVaultProfileIdentifier)
      .execute();
    return rows.map((r) => Number(r.team_id));
  }

  // ---- statuses ----

  /** macOS and Windows counts per status for the hosts in a team (null = no team). */
  async summary(
    teamId: number | null,
    opts: { windowsEnabled: boolean; graceStart: string },
  ): Promise<{ macos: PlatformCounts; windows: PlatformCounts }> {
    const team = teamId === null ? sql`h.team_id IS NULL` : sql`h.team_id = ${teamId}`;
    const count = async (rows: RawBuilder<unknown>) => {
      const res = await sql<{ status: DiskEncryptionStatus | null; n: number | string }>`
        SELECT s.status AS status, COUNT(DISTINCT s.host_id) AS n FROM (${rows}) s GROUP BY s.status`.execute(
        this.db,
      );
      const out = emptyCounts();
      for (const r of res.rows) if (r.status) out[r.status] = Number(r.n);
      return out;
    };
    const macos = await count(fileVaultStatusRows(team));
    const windows = opts.windowsEnabled
      ? await count(bitLockerStatusRows({ enabled: sql`1 = 1`, graceStart: opts.graceStart, where: team }))
      : emptyCounts();
    return { macos, windows };
  }

  /** One Mac's FileVault status row, if it has a FileVault profile row. */
  async fileVaultStatusOf(hostId: number): Promise<HostStatusRow | undefined> {
    const res = await sql<HostStatusRow>`${fileVaultStatusRows(sql`h.id = ${hostId}`)}`.execute(this.db);
    return res.rows[0] ? normalize(res.rows[0]) : undefined;
  }

  /** One PC's BitLocker status row, if it is in Flotilla's Windows MDM (not a server). */
  async bitLockerStatusOf(hostId: number, graceStart: string): Promise<HostStatusRow | undefined> {
    const res = await sql<HostStatusRow>`${bitLockerStatusRows({
      enabled: sql`1 = 1`,
      graceStart,
      where: sql`h.id = ${hostId}`,
    })}`.execute(this.db);
    return res.rows[0] ? normalize(res.rows[0]) : undefined;
  }

  /** How many keys are escrowed (a stored blob) for Windows hosts, or for Apple hosts. */
  async countEscrowed(platform: 'windows' | 'apple'): Promise<number> {
    const r = await this.db
      .selectFrom('host_disk_encryption_keys as k')
      .innerJoin('hosts as h', 'h.id', 'k.host_id')
      .where('k.base64_encrypted', '<>', '')
      .where('h.platform', platform === 'windows' ? '=' : '<>', 'windows')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }
}

function normalize(r: HostStatusRow): HostStatusRow {
  return {
    host_id: Number(r.host_id),
    profile_uuid: r.profile_uuid ?? null,
    status: r.status ?? null,
    action_required: r.action_required ?? null,
    detail: r.detail ?? '',
  };
}

export function emptyCounts(): PlatformCounts {
  return {
    verified: 0,
    verifying: 0,
    action_required: 0,
    enforcing: 0,
    failed: 0,
    removing_enforcement: 0,
  };
}
