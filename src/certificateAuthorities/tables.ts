import type { Generated } from 'kysely';

/** Certificate authorities and the SCEP proxy's state (migration 0029). */
export interface CertificateAuthoritiesTable {
  id: Generated<number>;
  type: string;
  name: string;
  url: string;
  admin_url: string | null;
  username: string | null;
  /** Sealed with the server key (SecretBox). */
  password_encrypted: Buffer | null;
  /** Sealed with the server key (SecretBox). */
  challenge_encrypted: Buffer | null;
  created_at: string;
  updated_at: string;
}

export interface ScepProxyChallengesTable {
  challenge_sha256: string;
  host_uuid: string;
  profile_uuid: string;
  ca_name: string;
  created_at: string;
}

export interface HostMdmManagedCertificatesTable {
  host_uuid: string;
  profile_uuid: string;
  ca_name: string;
  type: string;
  challenge_retrieved_at: string | null;
  not_valid_before: string | null;
  not_valid_after: string | null;
  serial: string | null;
  created_at: string;
  updated_at: string;
}

export interface CertificateAuthorityTables {
  certificate_authorities: CertificateAuthoritiesTable;
  scep_proxy_challenges: ScepProxyChallengesTable;
  host_mdm_managed_certificates: HostMdmManagedCertificatesTable;
}
