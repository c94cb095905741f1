import type { AppConfigService } from '../../appconfig/service.js';
import { cmsSign } from '../../crypto/cms.js';
import { appleMdmNotConfigured, type ApnsCertificate } from '../push/certificates.js';
import type { AppleScepService } from '../scep/service.js';
import { buildEnrollmentProfile } from './profile.js';

/** Where the enrollment profile gets the push topic (the APNs certificate service). */
export interface PushTopicSource {
  current(): Promise<ApnsCertificate | null>;
}

/** Builds and signs enrollment profiles. */
export class AppleEnrollmentService {
  constructor(
    private readonly scep: AppleScepService,
    private readonly pushCertificates: PushTopicSource,
    private readonly appConfig: AppConfigService,
  ) {}

  /**
   * A signed enrollment profile with its own one-time SCEP challenge; 400 "MDM not configured"
   * without a push certificate. With `deviceId` (re-enrollment and renewal profiles sent to a known
   * device) the identity it yields is bound to that UDID and may replace the device's current one.
   */
  async manualProfile(opts: { renewal?: boolean; deviceId?: string } = {}): Promise<Buffer> {
    const push = await this.pushCertificates.current();
    if (!push) throw appleMdmNotConfigured();
    const purpose = opts.deviceId ? (opts.renewal ? 'renewal' : 'reenrollment') : 'enrollment_profile';
    const [serverUrl, config, challenge, ca] = await Promise.all([
      this.appConfig.serverUrl(),
      this.appConfig.get(),
      this.scep.issueChallenge({ purpose, deviceId: opts.deviceId }),
      this.scep.caCertificate(),
    ]);
    const profile = buildEnrollmentProfile({
      serverUrl,
      scepChallenge: challenge,
      topic: push.topic,
      orgName: config.org_info.org_name,
      renewal: opts.renewal,
    });
    // Signed by the SCEP CA, as Fleet does, so the device shows the profile as verified.
    return cmsSign(profile, { certPem: ca.certPem, keyPem: ca.keyPem });
  }

  /**
   * The ADE enrollment profile (`/api/mdm/apple/enroll?token=<automatic token>`): like the manual
   * one, on the MDM URL devices reach (`mdm.apple_server_url`, else the server URL), and with the
   * end user's IdP account as `?enroll_reference=` on ServerURL when given. Its SCEP challenge is
   * one-time and bound to no device (the machine info naming the device is not verified).
   */
  async automaticProfile(opts: { enrollReference?: string } = {}): Promise<Buffer> {
    const push = await this.pushCertificates.current();
    if (!push) throw appleMdmNotConfigured();
    const [serverUrl, config, challenge, ca] = await Promise.all([
      this.appConfig.serverUrl(),
      this.appConfig.get(),
      this.scep.issueChallenge({ purpose: 'enrollment_profile' }),
      this.scep.caCertificate(),
    ]);
    const profile = buildEnrollmentProfile({
      serverUrl: config.mdm.apple_server_url || serverUrl,
      scepChallenge: challenge,
      topic: push.topic,
      orgName: config.org_info.org_name,
      enrollReference: opts.enrollReference,
    });
    return cmsSign(profile, { certPem: ca.certPem, keyPem: ca.keyPem });
  }
}
