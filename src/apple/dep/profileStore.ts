import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { dbNow, insertIgnore, upsert } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';

/** The automatic (ADE) enrollment profile: its token authenticates `/api/mdm/apple/enroll`. */
export interface AutomaticEnrollmentProfile {
  token: string;
  depProfile: Record<string, unknown>;
  updatedAt: string;
}

export interface SetupAssistantRow {
  id: number;
  teamId: number | null;
  name: string;
  profile: Record<string, unknown>;
  uploadedAt: string;
}

/** A profile UUID Apple returned for one team's profile under one token. */
export interface DefinedProfile {
  profileUuid: string;
  checksum: string;
  updatedAt: string;
}

const teamKey = (teamId: number | null) => teamId ?? 0;

function parseJson(text: string | null): Record<string, unknown> {
  try {
    const v = text ? (JSON.parse(text) as unknown) : {};
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * mdm_apple_enrollment_profiles, mdm_apple_setup_assistants and the per-token profile UUIDs
 * (mdm_apple_setup_assistant_profiles, mdm_apple_default_setup_assistants).
 */
export class DepProfileStore {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * The automatic enrollment profile, created with a new token on first use. Safe with several
   * processes: `type` is unique, so only one insert wins and everyone reads the winner.
   */
  async ensureAutomatic(defaultDepProfile: Record<string, unknown>): Promise<AutomaticEnrollmentProfile> {
    const read = () =>
      this.db
        .selectFrom('mdm_apple_enrollment_profiles')
        .select(['token', 'dep_profile', 'updated_at'])
        .where('type', '=', 'automatic')
        .executeTakeFirst();
    let row = await read();
    if (!row) {
      const now = dbNow();
      await insertIgnore(this.db, 'mdm_apple_enrollment_profiles', {
        token: randomUUID(),
        type: 'automatic',
        dep_profile: JSON.stringify(defaultDepProfile),
        created_at: now,
        updated_at: now,
      });
      row = await read();
    }
    return { token: row!.token, depProfile: parseJson(row!.dep_profile), updatedAt: row!.updated_at };
  }

  async setupAssistant(teamId: number | null): Promise<SetupAssistantRow | undefined> {
    const r = await this.db
      .selectFrom('mdm_apple_setup_assistants')
      .select(['id', 'team_id', 'name', 'profile', 'updated_at'])
      .where('global_or_team_id', '=', teamKey(teamId))
      .executeTakeFirst();
    return r
      ? { id: r.id, teamId: r.team_id, name: r.name, profile: parseJson(r.profile), uploadedAt: r.updated_at }
      : undefined;
  }

  /** Sets a team's custom setup assistant; Apple's profile UUIDs for the old JSON are dropped. */
  async setSetupAssistant(
    teamId: number | null,
    name: string,
    profile: Record<string, unknown>,
  ): Promise<void> {
    const now = dbNow();
    await this.db.transaction().execute(async (trx) => {
      await upsert(
        trx,
        'mdm_apple_setup_assistants',
        {
          team_id: teamId,
          global_or_team_id: teamKey(teamId),
          name,
          profile: JSON.stringify(profile),
          created_at: now,
          updated_at: now,
        },
        ['global_or_team_id'],
        ['name', 'profile', 'updated_at'],
      );
      const row = await trx
        .selectFrom('mdm_apple_setup_assistants')
        .select('id')
        .where('global_or_team_id', '=', teamKey(teamId))
        .executeTakeFirstOrThrow();
      await trx
        .deleteFrom('mdm_apple_setup_assistant_profiles')
        .where('setup_assistant_id', '=', row.id)
        .execute();
    });
  }

  async deleteSetupAssistant(teamId: number | null): Promise<void> {
    await this.db
      .deleteFrom('mdm_apple_setup_assistants')
      .where('global_or_team_id', '=', teamKey(teamId))
      .execute();
  }

  async definedDefault(teamId: number | null, tokenId: number): Promise<DefinedProfile | undefined> {
    const r = await this.db
      .selectFrom('mdm_apple_default_setup_assistants')
      .select(['profile_uuid', 'profile_checksum', 'updated_at'])
      .where('global_or_team_id', '=', teamKey(teamId))
      .where('abm_token_id', '=', tokenId)
      .executeTakeFirst();
    return r
      ? { profileUuid: r.profile_uuid, checksum: r.profile_checksum, updatedAt: r.updated_at }
      : undefined;
  }

  async saveDefault(teamId: number | null, tokenId: number, profileUuid: string, checksum: string) {
    const now = dbNow();
    await upsert(
      this.db,
      'mdm_apple_default_setup_assistants',
      {
        team_id: teamId,
        global_or_team_id: teamKey(teamId),
        abm_token_id: tokenId,
        profile_uuid: profileUuid,
        profile_checksum: checksum,
        created_at: now,
        updated_at: now,
      },
      ['global_or_team_id', 'abm_token_id'],
      ['profile_uuid', 'profile_checksum', 'updated_at'],
    );
  }

  async definedCustom(setupAssistantId: number, tokenId: number): Promise<DefinedProfile | undefined> {
    const r = await this.db
      .selectFrom('mdm_apple_setup_assistant_profiles')
      .select(['profile_uuid', 'profile_checksum', 'updated_at'])
      .where('setup_assistant_id', '=', setupAssistantId)
      .where('abm_token_id', '=', tokenId)
      .executeTakeFirst();
    return r
      ? { profileUuid: r.profile_uuid, checksum: r.profile_checksum, updatedAt: r.updated_at }
      : undefined;
  }

  async saveCustom(setupAssistantId: number, tokenId: number, profileUuid: string, checksum: string) {
    const now = dbNow();
    await upsert(
      this.db,
      'mdm_apple_setup_assistant_profiles',
      {
        setup_assistant_id: setupAssistantId,
        abm_token_id: tokenId,
        profile_uuid: profileUuid,
        profile_checksum: checksum,
        created_at: now,
        updated_at: now,
      },
      ['setup_assistant_id', 'abm_token_id'],
      ['profile_uuid', 'profile_checksum', 'updated_at'],
    );
  }

  /** A team's "end-user authentication" setting (team config), undefined for a missing team. */
  async teamEndUserAuth(teamId: number): Promise<boolean | undefined> {
    const r = await this.db.selectFrom('teams').select('config').where('id', '=', teamId).executeTakeFirst();
    if (!r) return undefined;
    const cfg = parseJson(r.config) as {
      mdm?: { macos_setup?: { enable_end_user_authentication?: unknown } };
    };
    return cfg.mdm?.macos_setup?.enable_end_user_authentication === true;
  }
}
