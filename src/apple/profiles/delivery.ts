import { randomUUID } from 'node:crypto';
import { buildCommandPlist } from '../commands/build.js';
import { profileWithSecretsSubtype } from '../commands/queue.js';
import { isSignedProfile, type ProfileSigner } from './signing.js';

/** A filled profile for one host, or Fleet's reason it cannot be filled. */
export type Expanded = { ok: true; text: string } | { ok: false; detail: string };

/** A host whose `$FLEET_VAR_*` values are looked up. */
export interface VariableHost {
  hostUuid: string;
  hostId: number;
  platform: string;
}

/** What Apple delivery needs of the variables core (src/mdm/variables, ProfileExpander). */
export interface ProfileVariableExpander {
  /** `$FLEET_VAR_*` filled per host (secrets left as placeholders). */
  expandForHosts(
    profileUuid: string,
    text: string,
    hosts: VariableHost[],
    escape: 'xml' | 'json',
  ): Promise<Map<string, Expanded>>;
  /** `$FLEET_SECRET_*` filled; a secret that no longer exists gives Fleet's failure text. */
  expandSecrets(text: string, escape: 'xml' | 'json'): Promise<Expanded>;
}

/** How a profile has to travel. */
export interface ProfileDelivery {
  /** Uses `$FLEET_VAR_*`: one command per host, filled when queued. */
  perHost: boolean;
  /** Uses `$FLEET_SECRET_*`: stored with placeholders, filled and signed at delivery. */
  secrets: boolean;
  /** `PayloadScope` User: goes down the user channel. */
  userScope: boolean;
}

const fleetVariable = /\$\{?FLEET_VAR_\w/;
const secretVariable = /\$\{?FLEET_SECRET_\w/;

/**
 * How a profile is delivered. A profile uploaded signed is sent as uploaded: variables cannot be
 * filled in it without breaking its signature (uploads refuse signed profiles that use them).
 */
export function deliveryOf(profile: Buffer, scope: string): ProfileDelivery {
  const userScope = scope === 'User';
  if (isSignedProfile(profile)) return { perHost: false, secrets: false, userScope };
  const text = profile.toString('utf8');
  return { perHost: fleetVariable.test(text), secrets: secretVariable.test(text), userScope };
}

/** Goes through the shared, bulk path: one command for every host of the profile. */
export const isShared = (d: ProfileDelivery) => !d.perHost && !d.userScope;

export interface InstallCommand {
  commandUuid: string;
  requestType: 'InstallProfile';
  plist: Buffer;
  subtype?: string;
}

/**
 * The InstallProfile command for one profile content: its payload signed by the server now; or,
 * when it holds secret placeholders, the profile itself stored as the command with subtype
 * `ProfileWithSecrets` (as Fleet stores it), filled and signed in memory at delivery.
 */
export async function installProfileCommand(
  signer: ProfileSigner,
  profile: Buffer,
  secrets: boolean,
): Promise<InstallCommand> {
  const commandUuid = randomUUID().toUpperCase();
  if (secrets) {
    return { commandUuid, requestType: 'InstallProfile', plist: profile, subtype: profileWithSecretsSubtype };
  }
  const payload = await signer.payloadFor(profile);
  const cmd = buildCommandPlist('InstallProfile', { Payload: payload }, commandUuid);
  return { commandUuid, requestType: 'InstallProfile', plist: cmd.plist };
}
