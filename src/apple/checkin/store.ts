import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { dbNow, dialectOf, insertIgnore, insertedValue, toDbTime, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { NanoEnrollmentsTable } from '../tables.js';

type AnyDb = Kysely<DB> | Transaction<DB>;

export interface DeviceRow {
  id: string;
  serial_number: string | null;
  platform: string;
  authenticate: string;
  identity_cert: string | null;
}

/** The nano_enrollments columns check-in reads. */
const enrollmentColumns = [
  'id',
  'device_id',
  'user_id',
  'type',
  'topic',
  'push_magic',
  'token_hex',
  'enabled',
  'token_update_tally',
  'enrolled_from_migration',
  'last_seen_at',
] as const;

/** An enrollment as check-in uses it (flags as booleans). */
export type EnrollmentRow = Omit<
  Pick<Selectable<NanoEnrollmentsTable>, (typeof enrollmentColumns)[number]>,
  'enabled' | 'enrolled_from_migration'
> & {
  enabled: boolean;
  enrolled_from_migration: boolean;
};

/** nano_devices, nano_users, nano_enrollments and nano_cert_auth_associations. */
export class EnrollmentStore {
  constructor(readonly db: Kysely<DB>) {}

  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  async getDevice(id: string, db: AnyDb = this.db): Promise<DeviceRow | undefined> {
    return db
      .selectFrom('nano_devices')
      .select(['id', 'serial_number', 'platform', 'authenticate', 'identity_cert'])
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async getEnrollment(id: string, db: AnyDb = this.db): Promise<EnrollmentRow | undefined> {
    const r = await db
      .selectFrom('nano_enrollments')
      .select(enrollmentColumns)
      .where('id', '=', id)
      .executeTakeFirst();
    return r
      ? { ...r, enabled: Boolean(r.enabled), enrolled_from_migration: Boolean(r.enrolled_from_migration) }
      : undefined;
  }

  /**
   * Stores an Authenticate. With `reset` the device's bootstrap and unlock tokens are cleared, as a
   * new enrollment must escrow them again.
   */
  async upsertAuthenticatedDevice(
    trx: AnyDb,
    d: {
      id: string;
      identityCertPem: string | null;
      serial: string | null;
      raw: string;
      platform: string;
      reset: boolean;
    },
  ): Promise<void> {
    const now = dbNow();
    const values: Record<string, unknown> = {
      id: d.id,
      identity_cert: d.identityCertPem,
      serial_number: d.serial || null,
      authenticate: d.raw,
      authenticate_at: now,
      platform: d.platform,
      created_at: now,
      updated_at: now,
    };
    const update = [
      'identity_cert',
      'serial_number',
      'authenticate',
      'authenticate_at',
      'platform',
      'updated_at',
    ];
    if (d.reset) {
      Object.assign(values, {
        bootstrap_token_b64: null,
        bootstrap_token_at: null,
        unlock_token: null,
        unlock_token_at: null,
      });
      update.push('bootstrap_token_b64', 'bootstrap_token_at', 'unlock_token', 'unlock_token_at');
    }
    await upsert(trx, 'nano_devices', values, ['id'], update);
  }

  /** Disables the device's enrollments (device and user channels) until their next TokenUpdate. */
  async disableDeviceEnrollments(trx: AnyDb, deviceId: string): Promise<void> {
    await trx
      .updateTable('nano_enrollments')
      .set({ enabled: 0, token_update_tally: 0, updated_at: dbNow() })
      .where('device_id', '=', deviceId)
      .execute();
  }

  async disableEnrollment(id: string): Promise<void> {
    await this.db
      .updateTable('nano_enrollments')
      .set({ enabled: 0, token_update_tally: 0, updated_at: dbNow() })
      .where('id', '=', id)
      .execute();
  }

  async clearMigrationFlag(trx: AnyDb, deviceId: string): Promise<void> {
    await trx
      .updateTable('nano_enrollments')
      .set({ enrolled_from_migration: 0, updated_at: dbNow() })
      .where('device_id', '=', deviceId)
      .execute();
  }

  async storeDeviceTokenUpdate(
    trx: AnyDb,
    deviceId: string,
    raw: string,
    unlockToken: Buffer | undefined,
  ): Promise<void> {
    const now = dbNow();
    const set: Record<string, unknown> = { token_update: raw, token_update_at: now, updated_at: now };
    if (unlockToken && unlockToken.length)
      Object.assign(set, { unlock_token: unlockToken, unlock_token_at: now });
    await trx.updateTable('nano_devices').set(set).where('id', '=', deviceId).execute();
  }

  async upsertUser(
    trx: AnyDb,
    u: {
      id: string;
      deviceId: string;
      shortName?: string;
      longName?: string;
      tokenUpdate?: string;
      userAuthenticate?: string;
      userAuthenticateDigest?: string;
    },
  ): Promise<void> {
    const now = dbNow();
    const values: Record<string, unknown> = {
      id: u.id,
      device_id: u.deviceId,
      user_short_name: u.shortName ?? null,
      user_long_name: u.longName ?? null,
      created_at: now,
      updated_at: now,
    };
    const update = ['updated_at'];
    if (u.shortName !== undefined) update.push('user_short_name');
    if (u.longName !== undefined) update.push('user_long_name');
    if (u.tokenUpdate !== undefined) {
      Object.assign(values, { token_update: u.tokenUpdate, token_update_at: now });
      update.push('token_update', 'token_update_at');
    }
    if (u.userAuthenticate !== undefined) {
      Object.assign(values, { user_authenticate: u.userAuthenticate, user_authenticate_at: now });
      update.push('user_authenticate', 'user_authenticate_at');
    }
    if (u.userAuthenticateDigest !== undefined) {
      Object.assign(values, {
        user_authenticate_digest: u.userAuthenticateDigest,
        user_authenticate_digest_at: now,
      });
      update.push('user_authenticate_digest', 'user_authenticate_digest_at');
    }
    await upsert(trx, 'nano_users', values, ['id', 'device_id'], update);
  }

  /**
   * Stores push info from a TokenUpdate and enables the enrollment. The tally counts TokenUpdates
   * since the last Authenticate: 1 means "first one", which turns MDM on. Returns the new tally.
   */
  async upsertEnrollmentTokens(
    trx: Transaction<DB>,
    e: {
      id: string;
      deviceId: string;
      userId: string | null;
      type: string;
      topic: string;
      pushMagic: string;
      tokenHex: string;
    },
  ): Promise<number> {
    const now = dbNow();
    const dialect = dialectOf(trx);
    const set = {
      topic: insertedValue(dialect, 'topic'),
      push_magic: insertedValue(dialect, 'push_magic'),
      token_hex: insertedValue(dialect, 'token_hex'),
      type: insertedValue(dialect, 'type'),
      enabled: sql`1`,
      token_update_tally: sql`token_update_tally + 1`,
      last_seen_at: insertedValue(dialect, 'last_seen_at'),
      // A new token is worth pushing to right away.
      push_failures: sql`0`,
      next_push_at: sql`NULL`,
      last_push_error: sql`NULL`,
      updated_at: insertedValue(dialect, 'updated_at'),
    } as Record<string, any>;
    const base = trx.insertInto('nano_enrollments').values({
      id: e.id,
      device_id: e.deviceId,
      user_id: e.userId,
      type: e.type,
      topic: e.topic,
      push_magic: e.pushMagic,
      token_hex: e.tokenHex,
      enabled: 1,
      token_update_tally: 1,
      last_seen_at: now,
      created_at: now,
      updated_at: now,
    });
    if (dialect === 'mysql') await base.onDuplicateKeyUpdate(set).execute();
    else await base.onConflict((oc) => oc.column('id').doUpdateSet(set)).execute();
    const row = await trx
      .selectFrom('nano_enrollments')
      .select('token_update_tally')
      .where('id', '=', e.id)
      .executeTakeFirstOrThrow();
    return Number(row.token_update_tally);
  }

  async setBootstrapToken(deviceId: string, b64: string | null): Promise<void> {
    await this.db
      .updateTable('nano_devices')
      .set({ bootstrap_token_b64: b64, bootstrap_token_at: b64 ? dbNow() : null, updated_at: dbNow() })
      .where('id', '=', deviceId)
      .execute();
  }

  async getBootstrapToken(deviceId: string): Promise<string | null> {
    const r = await this.db
      .selectFrom('nano_devices')
      .select('bootstrap_token_b64')
      .where('id', '=', deviceId)
      .executeTakeFirst();
    return r?.bootstrap_token_b64 ?? null;
  }

  /** Marks enrollments as seen; called in batches from a buffer, not per request. */
  async touchLastSeen(ids: string[], time: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('nano_enrollments')
      .set({ last_seen_at: time })
      .where('id', 'in', ids)
      .execute();
  }

  /**
   * Removes everything stored about these devices (enrollments, queue, results, users, certificate
   * associations, recorded conflicts) and revokes every certificate issued to or used by them.
   */
  async deleteDevices(deviceIds: string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    await this.transaction(async (trx) => {
      const usedCertificates = trx
        .selectFrom('nano_cert_auth_associations')
        .select('sha256')
        .where('id', 'in', deviceIds);
      await trx
        .updateTable('scep_certificates')
        .set({ revoked: 1, updated_at: dbNow() })
        .where((eb) =>
          eb.or([
            eb('sha256', 'in', usedCertificates),
            eb('enrollment_id', 'in', deviceIds),
            eb('bound_device_id', 'in', deviceIds),
          ]),
        )
        .execute();
      await trx.deleteFrom('mdm_apple_enrollment_conflicts').where('device_id', 'in', deviceIds).execute();
      const enrollmentIds = trx
        .selectFrom('nano_enrollments')
        .select('id')
        .where('device_id', 'in', deviceIds);
      await trx.deleteFrom('nano_command_results').where('id', 'in', enrollmentIds).execute();
      await trx.deleteFrom('nano_enrollment_queue').where('id', 'in', enrollmentIds).execute();
      await trx.deleteFrom('nano_enrollments').where('device_id', 'in', deviceIds).execute();
      await trx.deleteFrom('nano_users').where('device_id', 'in', deviceIds).execute();
      await trx.deleteFrom('nano_cert_auth_associations').where('id', 'in', deviceIds).execute();
      await trx.deleteFrom('nano_devices').where('id', 'in', deviceIds).execute();
    });
  }

  // --- certificate associations -------------------------------------------------------------

  /** Device-channel ids that a certificate hash is associated with. */
  async idsForCertificate(sha256: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('nano_cert_auth_associations')
      .select('id')
      .where('sha256', '=', sha256)
      .execute();
    return rows.map((r) => r.id);
  }

  async hasCertificateAssociation(id: string, sha256: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('nano_cert_auth_associations')
      .select('id')
      .where('id', '=', id)
      .where('sha256', '=', sha256)
      .executeTakeFirst();
    return r !== undefined;
  }

  async associateCertificate(id: string, sha256: string, notAfter: Date): Promise<void> {
    const now = dbNow();
    await insertIgnore(this.db, 'nano_cert_auth_associations', {
      id,
      sha256,
      cert_not_valid_after: toDbTime(notAfter),
      created_at: now,
      updated_at: now,
    });
  }

  /** True when a SCEP identity renewal was sent to this device and has not completed yet. */
  async renewalInProgress(id: string, db: AnyDb = this.db): Promise<boolean> {
    const r = await db
      .selectFrom('nano_cert_auth_associations')
      .select('id')
      .where('id', '=', id)
      .where('renew_command_uuid', 'is not', null)
      .executeTakeFirst();
    return r !== undefined;
  }

  /** Records the command that asks the device to renew its identity (the renewal cron calls this). */
  async markRenewal(id: string, sha256: string, commandUuid: string): Promise<void> {
    await this.db
      .updateTable('nano_cert_auth_associations')
      .set({ renew_command_uuid: commandUuid, updated_at: dbNow() })
      .where('id', '=', id)
      .where('sha256', '=', sha256)
      .execute();
  }
}
