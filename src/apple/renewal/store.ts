import type { Kysely, Transaction } from 'kysely';
import { dbNow } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';

type AnyDb = Kysely<DB> | Transaction<DB>;

/** The states of one identity certificate's renewal (`nano_cert_auth_associations.renew_state`). */
export const RenewState = {
  /** Due, picked by the cron, its command not yet queued (a crash leaves it to the next run). */
  requested: 'requested',
  /** The InstallProfile is queued (`renew_command_uuid`); waiting for the new identity. */
  commandSent: 'command_sent',
  /** The device authenticated with a newer identity (`renewed_by_sha256`). */
  renewed: 'renewed',
  /** The device refused or never answered, or no profile could be sent; tried again at `renew_retry_at`. */
  failed: 'failed',
} as const;

/** Which enrollment profile a renewal sends. */
export type RenewKind = 'enrollment' | 'user_enrollment' | 'migration';

/** States in which a renewal is under way (a newer identity completes it). */
const openStates = [RenewState.requested, RenewState.commandSent, RenewState.failed];

/** Identifies one identity certificate of one device. */
export interface AssociationKey {
  id: string;
  sha256: string;
}

/** The host behind an enrollment, for activities (absent when no host row exists). */
export interface RenewalHost {
  hostId: number | null;
  hostSerial: string | null;
  hostDisplayName: string;
}

/** A device-channel identity due for renewal, with what the renewal profile needs. */
export interface DueRenewal extends AssociationKey, RenewalHost {
  notValidAfter: string | null;
  state: string | null;
  attempts: number;
  enrollmentType: string;
  topic: string;
  /** Imported from another MDM, or renewed before through the migration profile. */
  fromMigration: boolean;
  installedFromDep: boolean;
  personal: boolean;
  /** host_mdm.server_url: the MDM URL the device enrolled with (without query). */
  hostServerUrl: string;
  /** The end user's IdP account reference (`?enroll_reference=` on ServerURL). */
  enrollReference: string;
  /** The Managed Apple Account of a User Enrollment, when an IdP account is linked. */
  managedAppleId: string | null;
}

/** A renewal whose command is queued, with the device's answer so far. */
export interface SentRenewal extends AssociationKey, RenewalHost {
  commandUuid: string;
  kind: RenewKind | null;
  sentAt: string | null;
  attempts: number;
  /** The device's last answer to the command (undefined: none yet). */
  status?: string;
  result?: Buffer;
  /** The command's queue row: still active, left the queue, or gone. */
  queued: 'active' | 'inactive' | 'missing';
}

/** A renewal completed by a newer identity. */
export interface CompletedRenewal extends AssociationKey {
  commandUuid: string | null;
  kind: string | null;
  notValidAfter: string | null;
  renewedBy: string;
}

function displayName(r: {
  computer_name: string | null;
  hostname: string | null;
  hardware_serial: string | null;
  id: string;
}): string {
  return r.computer_name || r.hostname || r.hardware_serial || r.id;
}

/**
 * The renewal state of device identity certificates: columns of `nano_cert_auth_associations`
 * (Fleet's `renew_command_uuid` plus our state machine), read with the enrollment and host facts
 * the renewal profile depends on.
 */
export class ScepRenewalStore {
  constructor(private readonly db: Kysely<DB>) {}

  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  /**
   * Device identities expiring before `cutoff` whose renewal is not under way (or failed and due
   * for a retry, or was requested by a run that did not finish): the device's newest certificate
   * only, on an enabled device channel, soonest expiry first.
   */
  async due(cutoff: string, now: string, limit: number): Promise<DueRenewal[]> {
    const rows = await this.db
      .selectFrom('nano_cert_auth_associations as a')
      .innerJoin('nano_enrollments as e', 'e.id', 'a.id')
      .leftJoin('hosts as h', 'h.uuid', 'a.id')
      .leftJoin('host_mdm as hm', 'hm.host_id', 'h.id')
      .leftJoin('host_mdm_idp_accounts as hia', 'hia.host_uuid', 'a.id')
      .leftJoin('mdm_idp_accounts as ia', 'ia.uuid', 'hia.account_uuid')
      .leftJoin('mdm_idp_accounts as ref', 'ref.uuid', 'hm.fleet_enroll_ref')
      .select([
        'a.id',
        'a.sha256',
        'a.cert_not_valid_after',
        'a.renew_state',
        'a.renew_attempts',
        'a.from_migration',
        'e.type',
        'e.topic',
        'e.enrolled_from_migration',
        'h.id as host_id',
        'h.hardware_serial',
        'h.computer_name',
        'h.hostname',
        'hm.installed_from_dep',
        'hm.is_personal_enrollment',
        'hm.server_url',
        'hm.fleet_enroll_ref',
        'ia.email as account_email',
        'ref.email as reference_email',
      ])
      .where('a.cert_not_valid_after', 'is not', null)
      .where('a.cert_not_valid_after', '<=', cutoff)
      .where('e.enabled', '=', 1)
      .where('e.type', 'in', ['Device', 'User Enrollment (Device)'])
      .where((eb) =>
        eb.or([
          eb.and([eb('a.renew_state', 'is', null), eb('a.renew_command_uuid', 'is', null)]),
          eb('a.renew_state', '=', RenewState.requested),
          eb.and([eb('a.renew_state', '=', RenewState.failed), eb('a.renew_retry_at', '<=', now)]),
        ]),
      )
      // The device's current identity: no association of the device is newer.
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('nano_cert_auth_associations as b')
              .select('b.id')
              .whereRef('b.id', '=', 'a.id')
              .whereRef('b.sha256', '<>', 'a.sha256')
              .where((eb) =>
                eb.or([
                  eb('b.created_at', '>', eb.ref('a.created_at')),
                  eb.and([
                    eb('b.created_at', '=', eb.ref('a.created_at')),
                    eb('b.cert_not_valid_after', '>', eb.ref('a.cert_not_valid_after')),
                  ]),
                ]),
              ),
          ),
        ),
      )
      .orderBy('a.cert_not_valid_after')
      .orderBy('a.id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      sha256: r.sha256,
      notValidAfter: r.cert_not_valid_after,
      state: r.renew_state,
      attempts: Number(r.renew_attempts),
      enrollmentType: r.type,
      topic: r.topic,
      fromMigration: Boolean(Number(r.from_migration)) || Boolean(Number(r.enrolled_from_migration)),
      hostId: r.host_id === null ? null : Number(r.host_id),
      hostSerial: r.hardware_serial,
      hostDisplayName: displayName(r),
      installedFromDep: Boolean(Number(r.installed_from_dep ?? 0)),
      personal: Boolean(Number(r.is_personal_enrollment ?? 0)),
      hostServerUrl: r.server_url ?? '',
      enrollReference: r.fleet_enroll_ref ?? '',
      managedAppleId: r.account_email ?? r.reference_email ?? null,
    }));
  }

  /** Claims identities for this run (the lease keeps other processes out; a crash leaves them requested). */
  async markRequested(keys: AssociationKey[]): Promise<void> {
    await this.updateKeys(this.db, keys, { renew_state: RenewState.requested, updated_at: dbNow() });
  }

  /** Records the queued command (inside the transaction that queues it). */
  async markSent(trx: AnyDb, keys: AssociationKey[], commandUuid: string, kind: RenewKind): Promise<void> {
    const now = dbNow();
    await this.updateKeys(trx, keys, {
      renew_state: RenewState.commandSent,
      renew_command_uuid: commandUuid,
      renew_kind: kind,
      renew_sent_at: now,
      renew_retry_at: null,
      renew_error: null,
      updated_at: now,
    });
  }

  /**
   * Records a failed attempt: the command (if any) is over, the attempt counted, the retry time and
   * reason kept for admins.
   */
  async markFailed(
    failures: { key: AssociationKey; error: string; retryAt: string; kind?: RenewKind }[],
  ): Promise<void> {
    if (failures.length === 0) return;
    await this.transaction(async (trx) => {
      for (const f of failures) {
        await trx
          .updateTable('nano_cert_auth_associations')
          .set((eb) => ({
            renew_state: RenewState.failed,
            renew_command_uuid: null,
            renew_attempts: eb('renew_attempts', '+', 1),
            renew_retry_at: f.retryAt,
            renew_error: f.error.slice(0, 255),
            ...(f.kind ? { renew_kind: f.kind } : {}),
            updated_at: dbNow(),
          }))
          .where('id', '=', f.key.id)
          .where('sha256', '=', f.key.sha256)
          .execute();
      }
    });
  }

  /**
   * Renewals whose command is queued, with the device's answer and the queue row's state. A command
   * recorded without our state (Fleet's column alone, e.g. imported) counts as sent when last updated.
   */
  async sent(limit: number): Promise<SentRenewal[]> {
    const rows = await this.db
      .selectFrom('nano_cert_auth_associations as a')
      .leftJoin('nano_command_results as r', (j) =>
        j.onRef('r.id', '=', 'a.id').onRef('r.command_uuid', '=', 'a.renew_command_uuid'),
      )
      .leftJoin('nano_enrollment_queue as q', (j) =>
        j.onRef('q.id', '=', 'a.id').onRef('q.command_uuid', '=', 'a.renew_command_uuid'),
      )
      .leftJoin('hosts as h', 'h.uuid', 'a.id')
      .select([
        'a.id',
        'a.sha256',
        'a.renew_command_uuid',
        'a.renew_kind',
        'a.renew_sent_at',
        'a.updated_at',
        'a.renew_attempts',
        'r.status',
        'r.result',
        'q.active',
        'q.id as queue_id',
        'h.id as host_id',
        'h.hardware_serial',
        'h.computer_name',
        'h.hostname',
      ])
      .where((eb) =>
        eb.or([eb('a.renew_state', '=', RenewState.commandSent), eb('a.renew_state', 'is', null)]),
      )
      .where('a.renew_command_uuid', 'is not', null)
      .orderBy('a.renew_sent_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      sha256: r.sha256,
      commandUuid: r.renew_command_uuid!,
      kind: r.renew_kind as RenewKind | null,
      sentAt: r.renew_sent_at ?? r.updated_at,
      attempts: Number(r.renew_attempts),
      status: r.status ?? undefined,
      result: r.result ?? undefined,
      queued: r.queue_id === null ? 'missing' : Number(r.active) ? 'active' : 'inactive',
      hostId: r.host_id === null ? null : Number(r.host_id),
      hostSerial: r.hardware_serial,
      hostDisplayName: displayName(r),
    }));
  }

  /**
   * Completes the device's open renewals now that it authenticated with `newSha256`: each older
   * identity under renewal becomes `renewed` by it and its command reference is cleared (Fleet's
   * "renewal done"). With `inheritMigration`, a renewal made through the migration profile passes
   * that on to the new identity (the device still carries the previous vendor's profile).
   */
  async completeForDevice(
    deviceId: string,
    newSha256: string,
    inheritMigration: boolean,
  ): Promise<CompletedRenewal[]> {
    return this.transaction(async (trx) => {
      const open = await trx
        .selectFrom('nano_cert_auth_associations')
        .select(['id', 'sha256', 'renew_command_uuid', 'renew_kind', 'cert_not_valid_after'])
        .where('id', '=', deviceId)
        .where('sha256', '<>', newSha256)
        .where((eb) => eb.or([eb('renew_command_uuid', 'is not', null), eb('renew_state', 'in', openStates)]))
        .execute();
      if (open.length === 0) return [];
      await this.markRenewed(trx, open, newSha256);
      if (inheritMigration && open.some((o) => o.renew_kind === 'migration')) {
        await trx
          .updateTable('nano_cert_auth_associations')
          .set({ from_migration: 1, updated_at: dbNow() })
          .where('id', '=', deviceId)
          .where('sha256', '=', newSha256)
          .execute();
      }
      return open.map((o) => ({
        id: o.id,
        sha256: o.sha256,
        commandUuid: o.renew_command_uuid,
        kind: o.renew_kind,
        notValidAfter: o.cert_not_valid_after,
        renewedBy: newSha256,
      }));
    });
  }

  /**
   * Open renewals whose device already has a newer identity (completion missed at Authenticate,
   * e.g. by a hook failure, or a re-enrollment meanwhile): marked renewed by the newest one.
   */
  async completeReplaced(limit: number): Promise<CompletedRenewal[]> {
    const rows = await this.db
      .selectFrom('nano_cert_auth_associations as a')
      .innerJoin('nano_cert_auth_associations as b', (j) =>
        j
          .onRef('b.id', '=', 'a.id')
          .onRef('b.sha256', '<>', 'a.sha256')
          .onRef('b.created_at', '>', 'a.created_at'),
      )
      .select([
        'a.id',
        'a.sha256',
        'a.renew_command_uuid',
        'a.renew_kind',
        'a.cert_not_valid_after',
        'b.sha256 as newer',
        'b.created_at as newer_at',
      ])
      .where((eb) =>
        eb.or([eb('a.renew_command_uuid', 'is not', null), eb('a.renew_state', 'in', openStates)]),
      )
      .orderBy('a.id')
      .orderBy('b.created_at', 'desc')
      .limit(limit)
      .execute();
    const newest = new Map<string, CompletedRenewal>();
    for (const r of rows) {
      const key = `${r.id}\n${r.sha256}`;
      if (newest.has(key)) continue;
      newest.set(key, {
        id: r.id,
        sha256: r.sha256,
        commandUuid: r.renew_command_uuid,
        kind: r.renew_kind,
        notValidAfter: r.cert_not_valid_after,
        renewedBy: r.newer,
      });
    }
    const done = [...newest.values()];
    if (done.length) {
      await this.transaction(async (trx) => {
        for (const d of done) await this.markRenewed(trx, [d], d.renewedBy);
      });
    }
    return done;
  }

  private async markRenewed(trx: AnyDb, keys: AssociationKey[], renewedBy: string): Promise<void> {
    await this.updateKeys(trx, keys, {
      renew_state: RenewState.renewed,
      renew_command_uuid: null,
      renew_retry_at: null,
      renew_error: null,
      renewed_by_sha256: renewedBy,
      updated_at: dbNow(),
    });
  }

  /** The renewal columns of one identity (tests and the admin-facing summary read them). */
  async get(key: AssociationKey) {
    return this.db
      .selectFrom('nano_cert_auth_associations')
      .select([
        'id',
        'sha256',
        'cert_not_valid_after',
        'renew_command_uuid',
        'renew_state',
        'renew_kind',
        'renew_attempts',
        'renew_sent_at',
        'renew_retry_at',
        'renew_error',
        'renewed_by_sha256',
        'from_migration',
      ])
      .where('id', '=', key.id)
      .where('sha256', '=', key.sha256)
      .executeTakeFirst();
  }

  private async updateKeys(db: AnyDb, keys: AssociationKey[], set: Record<string, unknown>): Promise<void> {
    if (keys.length === 0) return;
    await db
      .updateTable('nano_cert_auth_associations')
      .set(set)
      .where((eb) =>
        eb(
          eb.refTuple('id', 'sha256'),
          'in',
          keys.map((k) => eb.tuple(k.id, k.sha256)),
        ),
      )
      .execute();
  }
}
