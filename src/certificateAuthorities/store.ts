import type { Kysely, Selectable, Transaction } from 'kysely';
import type { SecretBox } from '../crypto/secretbox.js';
import { dbNow } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import type { CertificateAuthoritiesTable } from './tables.js';

/** The CA types this server proxies (Fleet's names). DigiCert, Hydrant, Smallstep and EST are not served. */
export const caTypes = ['ndes_scep_proxy', 'custom_scep_proxy'] as const;
export type CaType = (typeof caTypes)[number];

/** A CA as stored, secrets still sealed: what the API shows (masked) and what lists need. */
export interface CertificateAuthority {
  id: number;
  type: CaType;
  name: string;
  url: string;
  adminUrl: string | null;
  username: string | null;
  hasPassword: boolean;
  hasChallenge: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A CA with its secrets opened, for the code that talks to it (never for API answers or logs). */
export interface CertificateAuthorityWithSecrets extends CertificateAuthority {
  password: string | null;
  challenge: string | null;
}

export interface NewCertificateAuthority {
  type: CaType;
  name: string;
  url: string;
  adminUrl?: string | null;
  username?: string | null;
  password?: string | null;
  challenge?: string | null;
}

/** Fields a PATCH changes; absent ones stay as they are. */
export type CertificateAuthorityChanges = Partial<
  Pick<NewCertificateAuthority, 'name' | 'url' | 'adminUrl' | 'username' | 'password' | 'challenge'>
>;

type Row = Selectable<CertificateAuthoritiesTable>;

/** `certificate_authorities`: every SQL statement about configured CAs; secrets sealed here. */
export class CertificateAuthorityStore {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly box: SecretBox,
  ) {}

  private record(r: Row): CertificateAuthority {
    return {
      id: r.id,
      type: r.type as CaType,
      name: r.name,
      url: r.url,
      adminUrl: r.admin_url,
      username: r.username,
      hasPassword: r.password_encrypted !== null,
      hasChallenge: r.challenge_encrypted !== null,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  private open(r: Row): CertificateAuthorityWithSecrets {
    return {
      ...this.record(r),
      password: r.password_encrypted ? this.box.open(r.password_encrypted).toString('utf8') : null,
      challenge: r.challenge_encrypted ? this.box.open(r.challenge_encrypted).toString('utf8') : null,
    };
  }

  private seal(v: string | null | undefined): Buffer | null {
    return v === null || v === undefined ? null : this.box.seal(v);
  }

  /** Every CA, by name (Fleet's order), without secrets. */
  async list(): Promise<CertificateAuthority[]> {
    const rows = await this.db
      .selectFrom('certificate_authorities')
      .selectAll()
      .orderBy('name')
      .orderBy('id')
      .execute();
    return rows.map((r) => this.record(r));
  }

  async get(id: number): Promise<CertificateAuthority | undefined> {
    const row = await this.db
      .selectFrom('certificate_authorities')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? this.record(row) : undefined;
  }

  /** The CAs of one type with their secrets opened (variable expansion and the SCEP proxy). */
  async byTypeWithSecrets(type: CaType): Promise<CertificateAuthorityWithSecrets[]> {
    const rows = await this.db
      .selectFrom('certificate_authorities')
      .selectAll()
      .where('type', '=', type)
      .orderBy('id')
      .execute();
    return rows.map((r) => this.open(r));
  }

  async getWithSecrets(id: number): Promise<CertificateAuthorityWithSecrets | undefined> {
    const row = await this.db
      .selectFrom('certificate_authorities')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? this.open(row) : undefined;
  }

  /** Inserts a CA; a taken `(type, name)` raises the database's unique violation. */
  async insert(ca: NewCertificateAuthority, trx?: Transaction<DB>): Promise<number> {
    const now = dbNow();
    const res = await (trx ?? this.db)
      .insertInto('certificate_authorities')
      .values({
        type: ca.type,
        name: ca.name,
        url: ca.url,
        admin_url: ca.adminUrl ?? null,
        username: ca.username ?? null,
        password_encrypted: this.seal(ca.password),
        challenge_encrypted: this.seal(ca.challenge),
        created_at: now,
        updated_at: now,
      })
      .executeTakeFirstOrThrow();
    return Number(res.insertId);
  }

  /** Applies the given changes; a taken name raises the database's unique violation. */
  async update(id: number, changes: CertificateAuthorityChanges, trx?: Transaction<DB>): Promise<void> {
    const set: Partial<Row> = { updated_at: dbNow() };
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.url !== undefined) set.url = changes.url;
    if (changes.adminUrl !== undefined) set.admin_url = changes.adminUrl;
    if (changes.username !== undefined) set.username = changes.username;
    if (changes.password !== undefined) set.password_encrypted = this.seal(changes.password);
    if (changes.challenge !== undefined) set.challenge_encrypted = this.seal(changes.challenge);
    await (trx ?? this.db).updateTable('certificate_authorities').set(set).where('id', '=', id).execute();
  }

  /** Deletes a CA; false when there was none. */
  async delete(id: number, trx?: Transaction<DB>): Promise<boolean> {
    const res = await (trx ?? this.db)
      .deleteFrom('certificate_authorities')
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
