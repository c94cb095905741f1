import type { Generated } from 'kysely';
import type { Bool } from '../../db/schema.js';

/** Serial numbers handed out by the Apple SCEP CA (auto-increment, as Fleet allocates them). */
export interface ScepSerialsTable {
  serial: Generated<number>;
  created_at: string;
}

/** Every identity certificate the Apple SCEP CA issued. */
export interface ScepCertificatesTable {
  serial: number;
  /** The subject's common name. */
  name: string;
  not_valid_before: string;
  not_valid_after: string;
  certificate_pem: string;
  /** Lower-case hex SHA-256 of the DER, as check-in cert-auth keys certificates. */
  sha256: string;
  revoked: Generated<Bool>;
  /** The enrollment this certificate authenticates; filled in at Authenticate. */
  enrollment_id: string | null;
  /**
   * The UDID this certificate was issued for, when the server knew it at issue time (a renewal
   * signed by that device's identity, or a one-time challenge bound to it): such a certificate may
   * take over that device's enrollment.
   */
  bound_device_id: string | null;
  /**
   * The identity-renewal command whose shared challenge this certificate was issued through: the
   * certificate may take over the enrollment of a device that command was sent to.
   */
  renew_command_uuid: Generated<string | null>;
  created_at: string;
  updated_at: string;
}

/** One-time SCEP challenges: stored as hashes, consumed by the PKCSReq that uses them. */
export interface ScepChallengesTable {
  challenge_sha256: string;
  /** The UDID a certificate issued through this challenge is bound to, if any. */
  device_id: string | null;
  /** What handed it out: `enrollment_profile`, `reenrollment`, ... (for the log and audits). */
  purpose: string;
  /**
   * Set for the challenge of an identity-renewal command: shared by the devices that command went
   * to, so it is not used up by the first certificate (it expires instead).
   */
  renew_command_uuid: Generated<string | null>;
  expires_at: string;
  created_at: string;
}

export interface AppleScepTables {
  scep_serials: ScepSerialsTable;
  scep_certificates: ScepCertificatesTable;
  scep_challenges: ScepChallengesTable;
}
