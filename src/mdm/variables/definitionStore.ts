import type { Kysely, Transaction } from 'kysely';
import { fromDbTime, toDbTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';

type Db = Kysely<DB> | Transaction<DB>;

/** A profile definition that may name secrets: Apple profile, declaration or Windows profile. */
export interface SecretBearingDefinition {
  uuid: string;
  kind: 'apple_profile' | 'apple_declaration' | 'windows_profile';
  name: string;
  /** "No team" for team 0, as Fleet names it in its messages. */
  teamName: string;
  text: string;
  secretsUpdatedAt: string | null;
}

/** Computes a declaration's ServerToken from its JSON and secrets time (the Apple platform's rule). */
export type DeclarationToken = (rawJson: string, secretsUpdatedAt: string | null) => string;

/**
 * The definition tables that can carry `$FLEET_SECRET_*` (every platform's, as Fleet scans them
 * when a secret is deleted or changed): read whole, the caller matches in JS (definitions are few),
 * and their `secrets_updated_at` moved when a secret they use changes.
 */
export class SecretDefinitionStore {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly declarationToken: DeclarationToken,
  ) {}

  async all(db: Db = this.db): Promise<SecretBearingDefinition[]> {
    const teams = new Map(
      (await db.selectFrom('teams').select(['id', 'name']).execute()).map((t) => [Number(t.id), t.name]),
    );
    const teamName = (id: number) => (id ? (teams.get(Number(id)) ?? '') : 'No team');
    const apple = await db
      .selectFrom('mdm_apple_configuration_profiles')
      .select(['profile_uuid', 'name', 'team_id', 'mobileconfig', 'secrets_updated_at'])
      .orderBy('profile_uuid')
      .execute();
    const declarations = await db
      .selectFrom('mdm_apple_declarations')
      .select(['declaration_uuid', 'name', 'team_id', 'raw_json', 'secrets_updated_at'])
      .orderBy('declaration_uuid')
      .execute();
    const windows = await db
      .selectFrom('mdm_windows_configuration_profiles')
      .select(['profile_uuid', 'name', 'team_id', 'syncml', 'secrets_updated_at'])
      .orderBy('profile_uuid')
      .execute();
    return [
      ...apple.map((p) => ({
        uuid: p.profile_uuid,
        kind: 'apple_profile' as const,
        name: p.name,
        teamName: teamName(p.team_id),
        text: Buffer.from(p.mobileconfig).toString('utf8'),
        secretsUpdatedAt: p.secrets_updated_at,
      })),
      ...declarations.map((d) => ({
        uuid: d.declaration_uuid,
        kind: 'apple_declaration' as const,
        name: d.name,
        teamName: teamName(d.team_id),
        text: d.raw_json,
        secretsUpdatedAt: d.secrets_updated_at,
      })),
      ...windows.map((w) => ({
        uuid: w.profile_uuid,
        kind: 'windows_profile' as const,
        name: w.name,
        teamName: teamName(w.team_id),
        text: w.syncml,
        secretsUpdatedAt: w.secrets_updated_at,
      })),
    ];
  }

  /**
   * Moves each definition's `secrets_updated_at` to `now`, or just past its current value when that
   * is not older (two changes in the same millisecond must still count as two), and recomputes a
   * declaration's token so devices see a new ServerToken.
   */
  async bumpSecretsUpdatedAt(db: Db, defs: SecretBearingDefinition[], now: string): Promise<void> {
    for (const d of defs) {
      const stamp = laterThan(now, d.secretsUpdatedAt);
      if (d.kind === 'apple_profile') {
        await db
          .updateTable('mdm_apple_configuration_profiles')
          .set({ secrets_updated_at: stamp })
          .where('profile_uuid', '=', d.uuid)
          .execute();
      } else if (d.kind === 'windows_profile') {
        await db
          .updateTable('mdm_windows_configuration_profiles')
          .set({ secrets_updated_at: stamp })
          .where('profile_uuid', '=', d.uuid)
          .execute();
      } else {
        await db
          .updateTable('mdm_apple_declarations')
          .set({ secrets_updated_at: stamp, token: this.declarationToken(d.text, stamp) })
          .where('declaration_uuid', '=', d.uuid)
          .execute();
      }
    }
  }
}

/** `now`, or one millisecond after `previous` when `previous` is not older. */
function laterThan(now: string, previous: string | null): string {
  const prev = fromDbTime(previous);
  const cur = fromDbTime(now)!;
  return prev && prev.getTime() >= cur.getTime() ? toDbTime(new Date(prev.getTime() + 1)) : now;
}
