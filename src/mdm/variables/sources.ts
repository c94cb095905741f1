/**
 * Where `$FLEET_VAR_*` values come from: each source fills some variables (host identity here,
 * certificate variables elsewhere) for many hosts of one profile at once.
 */

/** A host a profile is being expanded for. */
export interface VariableHost {
  hostUuid: string;
  hostId: number;
  platform: string;
}

/** A host's value of a variable, or Fleet's failure text for that host. */
export type VariableValue = { ok: true; value: string } | { ok: false; detail: string };

export interface FleetVariableSource {
  /** True when this source fills the variable (name without `$FLEET_VAR_`, prefix forms with their suffix). */
  handles(name: string): boolean;
  /** Values for many hosts of one profile; a host missing from the map counts as unfillable. */
  resolve(name: string, profileUuid: string, hosts: VariableHost[]): Promise<Map<string, VariableValue>>;
  /**
   * Why a profile naming the variable cannot be stored now (Fleet's upload text, e.g. the CA it
   * names does not exist), or undefined when it can.
   */
  uploadProblem?(name: string): Promise<string | undefined>;
}
