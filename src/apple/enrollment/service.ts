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

  /** The signed manual enrollment profile; 400 "MDM not configured" without a push certificate. */
  async manualProfile(opts: { renewal?: boolean } = {}): Promise<Buffer> {
    const push = await this.pushCertificates.current();
    if (!push) throw appleMdmNotConfigured();
    const [serverUrl, config, challenge, ca] = await Promise.all([
      this.appConfig.serverUrl(),
      this.appConfig.get(),
      this.scep.challenge(),
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
}
