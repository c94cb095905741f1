import type { Generated } from 'kysely';
import type { Bool } from '../../db/schema.js';

/** Fleet's variable names (migration 0028), stored as Fleet stores them: `FLEET_VAR_<NAME>`. */
export interface FleetVariablesTable {
  id: Generated<number>;
  name: string;
  is_prefix: Bool;
  created_at: string;
}

/** Which Fleet variables a profile uses, recorded at upload (one key column set per row). */
export interface ProfileVariablesTable {
  id: Generated<number>;
  apple_profile_uuid: string | null;
  windows_profile_uuid: string | null;
  fleet_variable_id: number;
  created_at: string;
}

/** Secrets for `$FLEET_SECRET_<name>`; `value` is sealed with the server key (SecretBox). */
export interface SecretVariablesTable {
  id: Generated<number>;
  name: string;
  value: Buffer;
  created_at: string;
  updated_at: string;
}

export interface FleetVariableTables {
  fleet_variables: FleetVariablesTable;
  mdm_configuration_profile_variables: ProfileVariablesTable;
  secret_variables: SecretVariablesTable;
}
