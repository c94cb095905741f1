import type { FleetVariableSource, VariableHost, VariableValue } from '../../mdm/variables/sources.js';

/**
 * `$FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID`: the node a Windows SCEP profile installs its certificate
 * under. Fleet's rule: it is the profile's UUID, the same for every host, so each profile owns its
 * node and removing the profile finds it again.
 */
export class WindowsScepCertificateIdVariable implements FleetVariableSource {
  handles(name: string): boolean {
    return name === 'SCEP_WINDOWS_CERTIFICATE_ID';
  }

  async resolve(
    _name: string,
    profileUuid: string,
    hosts: VariableHost[],
  ): Promise<Map<string, VariableValue>> {
    return new Map(hosts.map((h) => [h.hostUuid, { ok: true, value: profileUuid }]));
  }
}
