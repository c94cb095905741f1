/** Expiry warnings already recorded (migration 0026): one per certificate, expiry and threshold. */
export interface CertificateExpiryWarningsTable {
  /** Which certificate: `apns`, `abm_token:<id>`, `apple_scep_ca`, `windows_wstep_ca`, ... */
  certificate: string;
  not_after: string;
  threshold_days: number;
  days_left: number;
  created_at: string;
}

export interface CertificateTables {
  certificate_expiry_warnings: CertificateExpiryWarningsTable;
}
