import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';
import { fleetVariablePrefix } from './names.js';

type Db = Kysely<DB> | Transaction<DB>;

/** A definition whose variables are recorded, with its text. */
export interface RecordableDefinition {
  uuid: string;
  text: string;
}

/**
 * `mdm_configuration_profile_variables`: which Fleet variables a profile uses. The key column is
 * the profile's kind (Apple profile `a…`, Windows profile `w…`), as in Fleet's table; other kinds
 * (declarations, Android) take no Fleet variables and have no rows.
 */
export class ProfileVariableStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** `fleet_variables` ids by name as Fleet stores it (`FLEET_VAR_<NAME>`) and prefix flag. */
  async variableIds(db: Db = this.db): Promise<{ name: string; isPrefix: boolean; id: number }[]> {
    const rows = await db.selectFrom('fleet_variables').select(['id', 'name', 'is_prefix']).execute();
    return rows.map((r) => ({
      id: Number(r.id),
      name: r.name.startsWith(fleetVariablePrefix) ? r.name.slice(fleetVariablePrefix.length) : r.name,
      isPrefix: Boolean(Number(r.is_prefix)),
    }));
  }

  /** The profile's rows become exactly `variableIds`. */
  async replace(db: Db, uuid: string, variableIds: number[], now: string): Promise<void> {
    const column = keyColumn(uuid);
    if (!column) return;
    await db.deleteFrom('mdm_configuration_profile_variables').where(column, '=', uuid).execute();
    const ids = [...new Set(variableIds)];
    if (!ids.length) return;
    await db
      .insertInto('mdm_configuration_profile_variables')
      .values(
        ids.map((id) => ({
          apple_profile_uuid: column === 'apple_profile_uuid' ? uuid : null,
          windows_profile_uuid: column === 'windows_profile_uuid' ? uuid : null,
          fleet_variable_id: id,
          created_at: now,
        })),
      )
      .execute();
  }

  /** A team's Apple and Windows profiles with their text (a batch records them all again). */
  async teamDefinitions(db: Db, teamId: number): Promise<RecordableDefinition[]> {
    const apple = await db
      .selectFrom('mdm_apple_configuration_profiles')
      .select(['profile_uuid', 'mobileconfig'])
      .where('team_id', '=', teamId)
      .execute();
    const windows = await db
      .selectFrom('mdm_windows_configuration_profiles')
      .select(['profile_uuid', 'syncml'])
      .where('team_id', '=', teamId)
      .execute();
    return [
      ...apple.map((p) => ({ uuid: p.profile_uuid, text: Buffer.from(p.mobileconfig).toString('utf8') })),
      ...windows.map((w) => ({ uuid: w.profile_uuid, text: w.syncml })),
    ];
  }

  /**
   * Rows of profiles that no longer exist. The foreign keys delete them too; this keeps the table
   * right where they are not enforced (a database copied without them).
   */
  async deleteOrphans(db: Db): Promise<void> {
    await db
      .deleteFrom('mdm_configuration_profile_variables')
      .where('apple_profile_uuid', 'is not', null)
      .where(
        'apple_profile_uuid',
        'not in',
        db.selectFrom('mdm_apple_configuration_profiles').select('profile_uuid'),
      )
      .execute();
    await db
      .deleteFrom('mdm_configuration_profile_variables')
      .where('windows_profile_uuid', 'is not', null)
      .where(
        'windows_profile_uuid',
        'not in',
        db.selectFrom('mdm_windows_configuration_profiles').select('profile_uuid'),
      )
      .execute();
  }

  /** The variables recorded for a profile (names without `FLEET_VAR_`). */
  async namesOf(uuid: string, db: Db = this.db): Promise<string[]> {
    const column = keyColumn(uuid);
    if (!column) return [];
    const rows = await db
      .selectFrom('mdm_configuration_profile_variables as pv')
      .innerJoin('fleet_variables as v', 'v.id', 'pv.fleet_variable_id')
      .select('v.name')
      .where(`pv.${column}`, '=', uuid)
      .orderBy('v.name')
      .execute();
    return rows.map((r) => r.name.slice(fleetVariablePrefix.length));
  }
}

function keyColumn(uuid: string): 'apple_profile_uuid' | 'windows_profile_uuid' | undefined {
  if (uuid.startsWith('a')) return 'apple_profile_uuid';
  if (uuid.startsWith('w')) return 'windows_profile_uuid';
  return undefined;
}
