import type { Kysely, Selectable } from 'kysely';
import { dbNow, insertIgnore, upsert } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import type { HostMdmManagedCertificatesTable } from '../certificateAuthorities/tables.js';

/** Rows per INSERT statement, well under both dialects' placeholder limits. */
const batchRows = 500;

export interface ProxyChallenge {
  challengeSha256: string;
  hostUuid: string;
  profileUuid: string;
  caName: string;
}

export interface ManagedCertificateKey {
  hostUuid: string;
  profileUuid: string;
  caName: string;
}

export type ManagedCertificateRow = Selectable<HostMdmManagedCertificatesTable>;

function batches<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += batchRows) out.push(items.slice(i, i + batchRows));
  return out;
}

/** `scep_proxy_challenges` and `host_mdm_managed_certificates`: the SCEP proxy's state. */
type ManagedCertificateWrite = ManagedCertificateKey & { type: string; challengeRetrievedAt: string | null };

/** `host_mdm_managed_certificates` rows for these writes, stamped now. */
function managedCertificateRows(rows: ManagedCertificateWrite[]) {
  const now = dbNow();
  return rows.map((r) => ({
    host_uuid: r.hostUuid,
    profile_uuid: r.profileUuid,
    ca_name: r.caName,
    type: r.type,
    challenge_retrieved_at: r.challengeRetrievedAt,
    created_at: now,
    updated_at: now,
  }));
}

export class ScepProxyStore {
  constructor(private readonly db: Kysely<DB>) {}

  async insertChallenges(challenges: ProxyChallenge[]): Promise<void> {
    const createdAt = dbNow();
    for (const part of batches(challenges)) {
      await this.db
        .insertInto('scep_proxy_challenges')
        .values(
          part.map((c) => ({
            challenge_sha256: c.challengeSha256,
            host_uuid: c.hostUuid,
            profile_uuid: c.profileUuid,
            ca_name: c.caName,
            created_at: createdAt,
          })),
        )
        .execute();
    }
  }

  /**
   * Uses up a challenge made for exactly this host, profile and CA and issued after `notBefore`:
   * one DELETE, so two requests racing with the same challenge cannot both succeed. False (and
   * nothing changed) for an unknown, used, expired or misdirected challenge.
   */
  async consumeChallenge(c: ProxyChallenge, notBefore: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('scep_proxy_challenges')
      .where('challenge_sha256', '=', c.challengeSha256)
      .where('host_uuid', '=', c.hostUuid)
      .where('profile_uuid', '=', c.profileUuid)
      .where('ca_name', '=', c.caName)
      .where('created_at', '>=', notBefore)
      .executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  async deleteChallengesBefore(cutoff: string): Promise<number> {
    const res = await this.db
      .deleteFrom('scep_proxy_challenges')
      .where('created_at', '<', cutoff)
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  /**
   * Records that these hosts' profiles get a certificate from a CA through the proxy (Fleet's
   * BulkUpsertMDMManagedCertificates). `challengeRetrievedAt` is set for NDES, whose challenge
   * expires; the facts of a certificate already issued stay until the next one replaces them.
   */
  async upsertManagedCertificates(rows: ManagedCertificateWrite[]): Promise<void> {
    for (const part of batches(managedCertificateRows(rows))) {
      await upsert(
        this.db,
        'host_mdm_managed_certificates',
        part,
        ['host_uuid', 'profile_uuid', 'ca_name'],
        ['type', 'challenge_retrieved_at', 'updated_at'],
      );
    }
  }

  /** Like upsertManagedCertificates, but leaves rows that already exist as they are. */
  async addManagedCertificates(rows: ManagedCertificateWrite[]): Promise<void> {
    for (const part of batches(managedCertificateRows(rows))) {
      await insertIgnore(this.db, 'host_mdm_managed_certificates', part);
    }
  }

  async managedCertificate(key: ManagedCertificateKey): Promise<ManagedCertificateRow | undefined> {
    return this.db
      .selectFrom('host_mdm_managed_certificates')
      .selectAll()
      .where('host_uuid', '=', key.hostUuid)
      .where('profile_uuid', '=', key.profileUuid)
      .where('ca_name', '=', key.caName)
      .executeTakeFirst();
  }

  /** The certificate the upstream issued through the proxy: its validity and serial (hex). */
  async recordIssued(
    key: ManagedCertificateKey,
    cert: { notBefore: string; notAfter: string; serial: string },
  ): Promise<void> {
    await this.db
      .updateTable('host_mdm_managed_certificates')
      .set({
        not_valid_before: cert.notBefore,
        not_valid_after: cert.notAfter,
        serial: cert.serial,
        updated_at: dbNow(),
      })
      .where('host_uuid', '=', key.hostUuid)
      .where('profile_uuid', '=', key.profileUuid)
      .where('ca_name', '=', key.caName)
      .execute();
  }
}
