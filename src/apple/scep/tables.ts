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
  created_at: string;
  updated_at: string;
}

export interface AppleScepTables {
  scep_serials: ScepSerialsTable;
  scep_certificates: ScepCertificatesTable;
}
