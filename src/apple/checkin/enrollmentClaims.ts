import { fromDbTime } from '../../db/dialect.js';
import type { ClaimFacts, EnrollmentClaimStore } from './claimStore.js';

/** Why an identity may act as a UDID at Authenticate. */
export type ClaimGround =
  /** The certificate is already associated with this UDID (a repeated Authenticate). */
  | 'associated'
  /** The UDID is new to us. */
  | 'first'
  /** The UDID's enrollment checked out (or never finished): the device left and comes back. */
  | 'checked_out'
  /** The certificate was issued for this UDID (renewal, or a challenge bound to it). */
  | 'bound'
  /** The certificate came from the shared challenge of a renewal command sent to this UDID. */
  | 'renewal'
  /** The enrollment was imported from another server and expects a new identity once. */
  | 'migration'
  /** The device acknowledged an EraseDevice: it was wiped and enrolls afresh. */
  | 'erased'
  /** The enrolled identity has been silent longer than the configured period. */
  | 'silent';

export type ClaimDecision =
  | { allowed: true; ground: ClaimGround }
  | {
      allowed: false;
      reason: string;
      /** True when the UDID is enrolled, so the refusal is recorded on its host. */
      conflict: boolean;
      certSerial: number | null;
    };

export interface EnrollmentClaimSettings {
  /** Days of silence after which another identity may take the UDID over (0 = never). */
  reenrollAfterSilentDays: number;
}

/**
 * Decides whether a device identity may claim a UDID at Authenticate. Anyone holding an enroll
 * secret can get a certificate from our SCEP server, so a valid certificate alone must not be
 * enough to take over a UDID that another identity has enrolled: only the grounds above allow it.
 */
export class EnrollmentClaims {
  constructor(
    private readonly store: EnrollmentClaimStore,
    private readonly settings: EnrollmentClaimSettings,
  ) {}

  async decide(deviceId: string, certSha256: string, now = Date.now()): Promise<ClaimDecision> {
    const facts = await this.store.facts(deviceId, certSha256);
    const enrolled = facts.deviceKnown && facts.enrollment?.enabled === true;
    const refuse = (reason: string): ClaimDecision => ({
      allowed: false,
      reason,
      conflict: enrolled,
      certSerial: facts.certificate?.serial ?? null,
    });
    const cert = facts.certificate;
    if (!cert) return refuse('device certificate was not issued by this server');
    if (cert.revoked) return refuse('device certificate has been revoked');
    if (facts.associatedIds.some((id) => id !== deviceId))
      return refuse('certificate belongs to another enrollment');
    if (facts.associatedIds.includes(deviceId)) return { allowed: true, ground: 'associated' };
    const ground = await this.takeoverGround(deviceId, facts, cert, now);
    return ground ? { allowed: true, ground } : refuse('UDID is enrolled with another identity');
  }

  private async takeoverGround(
    deviceId: string,
    facts: ClaimFacts,
    cert: NonNullable<ClaimFacts['certificate']>,
    now: number,
  ): Promise<ClaimGround | undefined> {
    if (!facts.deviceKnown) return 'first';
    if (!facts.enrollment?.enabled) return 'checked_out';
    if (cert.boundDeviceId === deviceId) return 'bound';
    if (cert.renewCommandUuid && facts.pendingRenewCommands.includes(cert.renewCommandUuid)) return 'renewal';
    if (facts.enrollment.fromMigration) return 'migration';
    const silentMs = this.settings.reenrollAfterSilentDays * 86_400_000;
    const lastSeen = fromDbTime(facts.enrollment.lastSeenAt)?.getTime() ?? now;
    if (silentMs > 0 && now - lastSeen > silentMs) return 'silent';
    if (await this.store.eraseAcknowledged(deviceId)) return 'erased';
    return undefined;
  }
}
