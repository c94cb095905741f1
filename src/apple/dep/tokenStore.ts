import type { Kysely, Transaction } from 'kysely';
import { dbNow, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';

type AnyDb = Kysely<DB> | Transaction<DB>;

/** An abm_tokens row with its default teams' names (NULL team = No team). */
export interface AbmTokenRow {
  id: number;
  organization_name: string;
  apple_id: string;
  terms_expired: boolean;
  token_invalid: boolean;
  renew_at: string;
  /** The sealed credentials JSON; only the services open it. */
  token: Buffer;
  macos_default_team_id: number | null;
  ios_default_team_id: number | null;
  ipados_default_team_id: number | null;
  macos_team_name: string | null;
  ios_team_name: string | null;
  ipados_team_name: string | null;
  created_at: string;
  updated_at: string;
}

/** NanoDEP's state for one name (organisation). */
export interface DepNameState {
  name: string;
  configBaseUrl: string | null;
  cursor: string | null;
  cursorAt: string | null;
}

const bool = (v: unknown) => Boolean(Number(v));

function toRow(r: Record<string, unknown>): AbmTokenRow {
  return {
    ...(r as unknown as AbmTokenRow),
    terms_expired: bool(r.terms_expired),
    token_invalid: bool(r.token_invalid),
    token: Buffer.from(r.token as Buffer),
  };
}

/** abm_tokens and nano_dep_names. Tokens arrive here sealed; this store never sees credentials. */
export class AbmTokenStore {
  constructor(private readonly db: Kysely<DB>) {}

  private select(db: AnyDb = this.db) {
    return db
      .selectFrom('abm_tokens as t')
      .leftJoin('teams as mt', 'mt.id', 't.macos_default_team_id')
      .leftJoin('teams as it', 'it.id', 't.ios_default_team_id')
      .leftJoin('teams as pt', 'pt.id', 't.ipados_default_team_id')
      .select([
        't.id',
        't.organization_name',
        't.apple_id',
        't.terms_expired',
        't.token_invalid',
        't.renew_at',
        't.token',
        't.macos_default_team_id',
        't.ios_default_team_id',
        't.ipados_default_team_id',
        'mt.name as macos_team_name',
        'it.name as ios_team_name',
        'pt.name as ipados_team_name',
        't.created_at',
        't.updated_at',
      ]);
  }

  async list(): Promise<AbmTokenRow[]> {
    return (await this.select().orderBy('t.id').execute()).map(toRow);
  }

  async getById(id: number, db: AnyDb = this.db): Promise<AbmTokenRow | undefined> {
    const r = await this.select(db).where('t.id', '=', id).executeTakeFirst();
    return r ? toRow(r) : undefined;
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('abm_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async countTermsExpired(): Promise<number> {
    const r = await this.db
      .selectFrom('abm_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('terms_expired', '=', 1)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /**
   * Inserts a token and its NanoDEP name in one transaction; returns the id. A second token of the
   * same organisation is a unique violation for the caller to answer.
   */
  async insert(t: {
    organization_name: string;
    apple_id: string;
    renew_at: string;
    token: Buffer;
  }): Promise<number> {
    const now = dbNow();
    return this.db.transaction().execute(async (trx) => {
      const res = await trx
        .insertInto('abm_tokens')
        .values({ ...t, created_at: now, updated_at: now })
        .executeTakeFirstOrThrow();
      await this.ensureName(t.organization_name, trx);
      return Number(res.insertId);
    });
  }

  /** A renewal: new credentials, Apple ID and expiry; the token counts as valid again. */
  async replaceCredentials(
    id: number,
    t: { apple_id: string; renew_at: string; token: Buffer },
  ): Promise<void> {
    await this.db
      .updateTable('abm_tokens')
      .set({ ...t, token_invalid: 0, updated_at: dbNow() })
      .where('id', '=', id)
      .execute();
  }

  async setDefaultTeams(
    id: number,
    teams: { macos: number | null; ios: number | null; ipados: number | null },
  ): Promise<void> {
    await this.db
      .updateTable('abm_tokens')
      .set({
        macos_default_team_id: teams.macos,
        ios_default_team_id: teams.ios,
        ipados_default_team_id: teams.ipados,
        updated_at: dbNow(),
      })
      .where('id', '=', id)
      .execute();
  }

  /** Sets the flags Apple's answers decide (only the ones given); returns whether anything changed. */
  async setFlags(id: number, flags: { terms_expired?: boolean; token_invalid?: boolean }): Promise<boolean> {
    const set: { terms_expired?: number; token_invalid?: number } = {};
    if (flags.terms_expired !== undefined) set.terms_expired = flags.terms_expired ? 1 : 0;
    if (flags.token_invalid !== undefined) set.token_invalid = flags.token_invalid ? 1 : 0;
    if (Object.keys(set).length === 0) return false;
    const res = await this.db
      .updateTable('abm_tokens')
      .set(set)
      .where('id', '=', id)
      .where((eb) =>
        eb.or([
          ...(set.terms_expired !== undefined ? [eb('terms_expired', '<>', set.terms_expired)] : []),
          ...(set.token_invalid !== undefined ? [eb('token_invalid', '<>', set.token_invalid)] : []),
        ]),
      )
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Deletes a token with its NanoDEP name; assignments keep their rows (abm_token_id becomes NULL). */
  async delete(id: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('abm_tokens')
        .select('organization_name')
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) return false;
      await trx.deleteFrom('abm_tokens').where('id', '=', id).execute();
      await trx.deleteFrom('nano_dep_names').where('name', '=', row.organization_name).execute();
      return true;
    });
  }

  async ensureName(name: string, db: AnyDb = this.db): Promise<void> {
    const now = dbNow();
    await upsert(db, 'nano_dep_names', { name, created_at: now, updated_at: now }, ['name'], []);
  }

  async nameState(name: string): Promise<DepNameState> {
    const r = await this.db
      .selectFrom('nano_dep_names')
      .select(['name', 'config_base_url', 'syncer_cursor', 'syncer_cursor_at'])
      .where('name', '=', name)
      .executeTakeFirst();
    return {
      name,
      configBaseUrl: r?.config_base_url || null,
      cursor: r?.syncer_cursor || null,
      cursorAt: r?.syncer_cursor_at ?? null,
    };
  }

  /** Stores the syncer cursor (NULL forces a full fetch) and when it was stored. */
  async storeCursor(name: string, cursor: string | null): Promise<void> {
    const now = dbNow();
    await this.ensureName(name);
    await this.db
      .updateTable('nano_dep_names')
      .set({ syncer_cursor: cursor, syncer_cursor_at: cursor === null ? null : now, updated_at: now })
      .where('name', '=', name)
      .execute();
  }

  /** Clears every cursor, or one token's: the next sync fetches every device again. */
  async clearCursors(name?: string): Promise<void> {
    let q = this.db
      .updateTable('nano_dep_names')
      .set({ syncer_cursor: null, syncer_cursor_at: null, updated_at: dbNow() });
    if (name !== undefined) q = q.where('name', '=', name);
    await q.execute();
  }

  /** Points a name at another DEP base URL (NanoDEP's config; a simulator), or back to the default. */
  async setConfigBaseUrl(name: string, url: string | null): Promise<void> {
    await this.ensureName(name);
    await this.db
      .updateTable('nano_dep_names')
      .set({ config_base_url: url, updated_at: dbNow() })
      .where('name', '=', name)
      .execute();
  }

  /** Records the profile the assigner last used for a name (NanoDEP's assigner columns). */
  async setAssignerProfile(name: string, profileUuid: string): Promise<void> {
    const now = dbNow();
    await this.db
      .updateTable('nano_dep_names')
      .set({ assigner_profile_uuid: profileUuid, assigner_profile_uuid_at: now, updated_at: now })
      .where('name', '=', name)
      .where((eb) =>
        eb.or([eb('assigner_profile_uuid', 'is', null), eb('assigner_profile_uuid', '<>', profileUuid)]),
      )
      .execute();
  }

  /** Ids of teams that exist, of those given (defaults whose team was deleted read as No team). */
  async existingTeamIds(ids: number[]): Promise<Set<number>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db.selectFrom('teams').select('id').where('id', 'in', ids).execute();
    return new Set(rows.map((r) => r.id));
  }

  /** A team's name, or undefined when it does not exist. */
  async teamName(id: number): Promise<string | undefined> {
    const r = await this.db.selectFrom('teams').select('name').where('id', '=', id).executeTakeFirst();
    return r?.name;
  }
}
