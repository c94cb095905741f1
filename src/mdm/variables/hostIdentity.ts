import type { HostIdentityStore, HostIdpUser } from './hostIdentityStore.js';
import type { FleetVariableSource, VariableHost, VariableValue } from './sources.js';

/** The host identity variables (names without `$FLEET_VAR_`). */
export const hostIdentityNames = [
  'HOST_UUID',
  'HOST_HARDWARE_SERIAL',
  'HOST_END_USER_EMAIL_IDP',
  'HOST_END_USER_IDP_USERNAME',
  'HOST_END_USER_IDP_USERNAME_LOCAL_PART',
  'HOST_END_USER_IDP_GROUPS',
  'HOST_END_USER_IDP_DEPARTMENT',
  'HOST_END_USER_IDP_FULL_NAME',
] as const;
type HostIdentityName = (typeof hostIdentityNames)[number];

// Fleet's failure texts, word for word (they are shown per host and matched by Fleet's UI).
const noSerial =
  "There is no serial number for this host. Fleet couldn't populate $FLEET_VAR_HOST_HARDWARE_SERIAL.";
const noEmail =
  "There is no IdP email for this host. Fleet couldn't populate $FLEET_VAR_HOST_END_USER_EMAIL_IDP. " +
  '[Learn more](https://fleetdm.com/learn-more-about/idp-email)';
const noUsername = (name: string) =>
  `There is no IdP username for this host. Fleet couldn't populate $FLEET_VAR_${name}.`;
const noGroups =
  "There are no IdP groups for this host. Fleet couldn't populate $FLEET_VAR_HOST_END_USER_IDP_GROUPS.";
const noDepartment =
  "There is no IdP department for this host. Fleet couldn't populate $FLEET_VAR_HOST_END_USER_IDP_DEPARTMENT.";
const noFullName =
  "There is no IdP full name for this host. Fleet couldn't populate $FLEET_VAR_HOST_END_USER_IDP_FULL_NAME.";

const ok = (value: string): VariableValue => ({ ok: true, value });
const fail = (detail: string): VariableValue => ({ ok: false, detail });

/**
 * The host's own identity: its UUID and hardware serial, and its end user as the identity provider
 * knows them (the SSO account the host enrolled as). One query per variable for the whole batch.
 * Flotilla keeps no IdP groups or department (no SCIM), so those two always fail with Fleet's text.
 */
export class HostIdentityVariables implements FleetVariableSource {
  private readonly names = new Set<string>(hostIdentityNames);

  constructor(private readonly store: HostIdentityStore) {}

  handles(name: string): boolean {
    return this.names.has(name);
  }

  async resolve(
    name: string,
    _profileUuid: string,
    hosts: VariableHost[],
  ): Promise<Map<string, VariableValue>> {
    const variable = name as HostIdentityName;
    if (variable === 'HOST_UUID') return new Map(hosts.map((h) => [h.hostUuid, ok(h.hostUuid)]));
    if (variable === 'HOST_HARDWARE_SERIAL') {
      const serials = await this.store.serials(hosts.map((h) => h.hostId));
      return new Map(
        hosts.map((h) => {
          const serial = serials.get(h.hostId)?.trim();
          return [h.hostUuid, serial ? ok(serial) : fail(noSerial)];
        }),
      );
    }
    if (variable === 'HOST_END_USER_IDP_GROUPS')
      return new Map(hosts.map((h) => [h.hostUuid, fail(noGroups)]));
    if (variable === 'HOST_END_USER_IDP_DEPARTMENT')
      return new Map(hosts.map((h) => [h.hostUuid, fail(noDepartment)]));
    if (!this.handles(name)) return new Map();
    const users = await this.store.idpUsers(hosts.map((h) => h.hostUuid));
    return new Map(hosts.map((h) => [h.hostUuid, idpValue(variable, users.get(h.hostUuid))]));
  }
}

/** One IdP variable from the host's account; an account without a username counts as none, as in Fleet. */
function idpValue(variable: HostIdentityName, user: HostIdpUser | undefined): VariableValue {
  const known = user && user.username ? user : undefined;
  switch (variable) {
    case 'HOST_END_USER_EMAIL_IDP':
      return user?.email ? ok(user.email) : fail(noEmail);
    case 'HOST_END_USER_IDP_USERNAME':
      return known ? ok(known.username) : fail(noUsername(variable));
    case 'HOST_END_USER_IDP_USERNAME_LOCAL_PART':
      return known ? ok(known.username.split('@')[0]) : fail(noUsername(variable));
    case 'HOST_END_USER_IDP_FULL_NAME': {
      const fullName = known?.fullname.trim();
      return fullName ? ok(fullName) : fail(noFullName);
    }
    default:
      return fail(`Fleet couldn't populate $FLEET_VAR_${variable}.`);
  }
}
