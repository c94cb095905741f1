import type { Generated } from 'kysely';
import type { Bool, DB } from '../../db/schema.js';

/**
 * Label targeting of command-delivered profiles, every platform's in one table: the key column
 * of the row's platform names the profile (the others stay NULL).
 */
export interface ProfileLabelsTable {
  id: Generated<number>;
  apple_profile_uuid: string | null;
  windows_profile_uuid: string | null;
  android_profile_uuid: string | null;
  label_name: string;
  label_id: number | null;
  exclude: Bool;
  require_all: Bool;
  created_at: string;
}

/** The profile managers' cursors and sweep times, by name. */
export interface ProfileManagerStateTable {
  name: string;
  value: string;
  updated_at: string;
}

/** The tables of the database that have all of `columns` (a platform's status table of some kind). */
export type TablesWithColumns<C extends string> = {
  [K in keyof DB]: C extends keyof DB[K] ? K : never;
}[keyof DB];

export interface MdmProfileTables {
  mdm_configuration_profile_labels: ProfileLabelsTable;
  mdm_profile_manager_state: ProfileManagerStateTable;
}
