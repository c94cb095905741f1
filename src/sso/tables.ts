/** A SAML login in progress (migration 0022); `session_hash` is the SHA-256 of the cookie's id. */
export interface MdmSsoSessionsTable {
  session_hash: string;
  request_id: string;
  initiator: string;
  host_uuid: string;
  metadata: string;
  created_at: string;
  expires_at: string;
}

/** An assertion already accepted (migration 0022), kept until it can no longer be valid. */
export interface MdmSsoUsedAssertionsTable {
  assertion_hash: string;
  created_at: string;
  expires_at: string;
}

/** The EULA shown before enrollment (migration 0022); one row, `id = 1`. */
export interface EulasTable {
  id: number;
  name: string;
  bytes: Buffer;
  token: string;
  sha256: string;
  created_at: string;
  updated_at: string;
}

export interface SsoTables {
  mdm_sso_sessions: MdmSsoSessionsTable;
  mdm_sso_used_assertions: MdmSsoUsedAssertionsTable;
  eulas: EulasTable;
}
