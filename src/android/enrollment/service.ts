import type { Logger } from 'pino';
import { badRequest, HttpError } from '../../http/errors.js';
import { googleErrorLog, googleFailure } from '../enterprise/googleErrors.js';
import {
  defaultPolicyId,
  noServiceAccount,
  notConfigured,
  type AndroidEnterpriseService,
} from '../enterprise/service.js';
import type { AndroidClientProvider } from '../serviceAccount.js';

/** What a device needs to enroll: the token, its enrollment link, and the QR payload if Google made one. */
export interface AndroidEnrollmentToken {
  value: string;
  /** Google's enrollment page for a personal device (work profile). */
  url: string;
  /** JSON provisioning payload for a fully managed (company-owned) device's setup QR code. */
  qrCode?: string;
  expiresAt?: string;
}

/** Google's enrollment link for a token value (Fleet's form). */
export const enrollmentUrl = (value: string) =>
  `https://enterprise.google.com/android/enroll?et=${encodeURIComponent(value)}`;

export interface AndroidEnrollmentDeps {
  enterprise: Pick<AndroidEnterpriseService, 'bound' | 'configured'>;
  clients: Pick<AndroidClientProvider, 'get'>;
  enrollSecrets: { teamForSecret(secret: string): Promise<{ teamId: number | null } | undefined> };
  orgName: () => Promise<string>;
  /** How long a token stays usable (`FLOTILLA_ANDROID_ENROLLMENT_TOKEN_TTL_SECONDS`). */
  tokenTtlSeconds: number;
  logger: Logger;
}

/**
 * AMAPI enrollment tokens for end users, authenticated by an enroll secret (Fleet's
 * `GET /android_enterprise/enrollment_token`). The secret travels inside the token's
 * `additionalData`, which Google hands back on the device's ENROLLMENT notification: that is how
 * the new host finds its team.
 */
export class AndroidEnrollmentService {
  constructor(private readonly deps: AndroidEnrollmentDeps) {}

  async createToken(enrollSecret: string | undefined): Promise<AndroidEnrollmentToken> {
    if (!enrollSecret) throw badRequest('enroll_secret is required', 'enroll_secret');
    if (!(await this.deps.enterprise.configured())) throw notConfigured();
    if (!(await this.deps.enrollSecrets.teamForSecret(enrollSecret))) {
      throw new HttpError(401, 'Authentication Failed', [{ name: 'base', reason: 'invalid secret' }]);
    }
    const enterprise = await this.deps.enterprise.bound();
    if (!enterprise) throw notConfigured();
    const client = await this.deps.clients.get();
    if (!client) throw noServiceAccount();
    try {
      const token = await client.enrollmentTokensCreate(enterprise.name, {
        policyName: `${enterprise.name}/policies/${defaultPolicyId}`,
        allowPersonalUsage: 'PERSONAL_USAGE_ALLOWED',
        oneTimeOnly: true,
        duration: `${this.deps.tokenTtlSeconds}s`,
        // End-user IdP authentication for Android is not implemented yet: no IdP account.
        additionalData: JSON.stringify({ EnrollSecret: enrollSecret, IdpUUID: '' }),
      });
      return {
        value: token.value,
        url: enrollmentUrl(token.value),
        ...(token.qrCode ? { qrCode: token.qrCode } : {}),
        ...(token.expirationTimestamp ? { expiresAt: token.expirationTimestamp } : {}),
      };
    } catch (err) {
      this.deps.logger.warn(googleErrorLog(err), 'android: enrollmentTokens.create failed');
      throw googleFailure(err);
    }
  }

  /** The end user's `/enroll` page: the organization's name and a fresh token. */
  async forEnrollPage(
    enrollSecret: string | undefined,
  ): Promise<{ orgName: string; token: AndroidEnrollmentToken }> {
    const token = await this.createToken(enrollSecret);
    return { orgName: await this.deps.orgName(), token };
  }
}
