import type { ActivityService } from '../admin/activityService.js';
import { verifyPassword } from '../admin/password.js';
import type { UserStore } from '../admin/userStore.js';
import type { HostStore } from '../hosts/store.js';
import type { EnrollmentCredential } from './mde2/auth.js';
import type { EnrollingIdentity, EnrollmentAuthorizer, EnrollmentHooks } from './mde2/service.js';
import { SoapFault } from './mde2/soap.js';
import type { ManagementLifecycle } from './syncml/session.js';
import type { WindowsEnrollment } from './store.js';

/** The MDM name Fleet shows for hosts enrolled in its own MDM. */
export const fleetMdmName = 'Fleet';

/**
 * Decides who may enroll. Programmatic (fleetd) enrollment is always on; on-premise user name and
 * password enrollment only when configured; Entra (Azure AD) JWT enrollment has its branch here
 * and is refused until implemented.
 */
export class WindowsEnrollmentAuthorizer implements EnrollmentAuthorizer {
  constructor(
    private readonly hosts: HostStore,
    private readonly users: UserStore,
    private readonly opts: { onPremiseUsers: boolean },
  ) {}

  async authorize(cred: EnrollmentCredential): Promise<EnrollingIdentity> {
    switch (cred.kind) {
      case 'programmatic':
        return this.programmatic(cred.orbitNodeKey);
      case 'onPremise':
        return this.onPremise(cred.username, cred.password);
      case 'entraJwt':
        throw new SoapFault(
          's:authentication',
          'Entra ID (Azure AD) enrollment is not supported by this server; enroll through fleetd',
        );
    }
  }

  private async programmatic(orbitNodeKey: string): Promise<EnrollingIdentity> {
    const host = await this.hosts.findByOrbitNodeKey(orbitNodeKey);
    if (!host) throw new SoapFault('s:authentication', 'unknown orbit node key');
    if (host.platform !== 'windows') throw new SoapFault('s:authorization', 'only Windows hosts can enroll');
    const mdm = await this.hosts.getHostMdm(host.id);
    if (mdm?.is_server) throw new SoapFault('s:authorization', 'Windows Server hosts cannot enroll in MDM');
    if (mdm?.enrolled && mdm.mdm_name !== fleetMdmName)
      throw new SoapFault('s:authorization', 'host is enrolled in another MDM');
    return { hostUuid: host.uuid, hostId: host.id, userId: orbitNodeKey };
  }

  private async onPremise(username: string, password: string): Promise<EnrollingIdentity> {
    if (!this.opts.onPremiseUsers) {
      throw new SoapFault(
        's:authentication',
        'user name and password enrollment is turned off; enroll through fleetd',
      );
    }
    const user = await this.users.getByEmail(username);
    // Check a password even for unknown users so timing does not reveal which accounts exist.
    const ok = await verifyPassword(
      password,
      user?.password ??
        'scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
    );
    if (!user || !ok || user.api_only)
      throw new SoapFault('s:authentication', 'invalid user name or password');
    return { hostUuid: '', userId: user.email };
  }
}

/** Host-side effects of Windows enrollment and unenrollment (host_mdm and activities). */
export class WindowsMdmLifecycle implements EnrollmentHooks, ManagementLifecycle {
  constructor(
    private readonly hosts: HostStore,
    private readonly activities: ActivityService,
  ) {}

  async enrolled(e: {
    identity: EnrollingIdentity;
    deviceName: string;
    managementUrl: string;
  }): Promise<void> {
    const hostId = e.identity.hostId;
    if (hostId === undefined) return;
    await this.hosts.upsertHostMdm(hostId, {
      enrolled: true,
      server_url: e.managementUrl,
      installed_from_dep: false,
      is_personal_enrollment: false,
      mdm_name: fleetMdmName,
    });
    await this.hosts.setLastEnrolledAt(hostId, new Date());
    const host = await this.hosts.getById(hostId);
    await this.activities.record(
      null,
      'mdm_enrolled',
      {
        host_serial: host?.hardware_serial ?? '',
        host_display_name: host?.computer_name || host?.hostname || e.deviceName,
        installed_from_dep: false,
        mdm_platform: 'microsoft',
      },
      { hostIds: [hostId] },
    );
  }

  async unenrolled(e: WindowsEnrollment): Promise<void> {
    if (!e.host_uuid) return;
    const host = await this.hosts.findByUuid(e.host_uuid);
    if (!host) return;
    await this.hosts.upsertHostMdm(host.id, {
      enrolled: false,
      server_url: '',
      installed_from_dep: false,
      is_personal_enrollment: false,
      mdm_name: '',
    });
    await this.activities.record(
      null,
      'mdm_unenrolled',
      {
        host_serial: host.hardware_serial,
        host_display_name: host.computer_name || host.hostname,
        installed_from_dep: false,
        mdm_platform: 'microsoft',
      },
      { hostIds: [host.id] },
    );
  }
}
