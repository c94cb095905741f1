/**
 * What Windows profiles need of the variables core (`src/mdm/variables`, its ProfileExpander):
 * per-host `$FLEET_VAR_*` expansion when a profile is queued and `$FLEET_SECRET_*` expansion when
 * a command is handed to the device. Values are XML-escaped for SyncML.
 */
export type ExpandedProfile = { ok: true; text: string } | { ok: false; detail: string };

export interface ProfileVariableHost {
  hostUuid: string;
  hostId: number;
  platform: string;
}

export interface ProfileVariables {
  /** Secrets stay placeholders (the stored command must never hold them). */
  expandForHosts(
    profileUuid: string,
    text: string,
    hosts: ProfileVariableHost[],
    escape: 'xml',
  ): Promise<Map<string, ExpandedProfile>>;
  expandSecrets(text: string, escape: 'xml'): Promise<ExpandedProfile>;
}

const fleetVariable = /\$\{?FLEET_VAR_[A-Z0-9_]/;
const secretVariable = /\$\{?FLEET_SECRET_[A-Z0-9_]/;

/** Does the text use a Fleet variable (filled per host)? */
export const hasFleetVariables = (text: string): boolean => fleetVariable.test(text);

/** Does the text use a secret (filled in memory on delivery)? */
export const hasSecrets = (text: string): boolean => secretVariable.test(text);

/** Shown when the expander gave no answer for a host (the contract says: unfillable). */
export const unfilledDetail = "Fleet couldn't populate the profile's variables for this host.";
