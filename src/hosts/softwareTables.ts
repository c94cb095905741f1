import type { Generated } from 'kysely';

/** Software inventory (migration 0024), Fleet's tables. */
export interface SoftwareTable {
  id: Generated<number>;
  name: string;
  version: Generated<string>;
  /** Where the inventory came from, Fleet's values (`android_apps`, …). */
  source: string;
  bundle_identifier: Generated<string>;
  /** MD5 hex of name, version, source and bundle identifier: the row's unique key. */
  checksum: string;
  created_at: string;
}

export interface HostSoftwareTable {
  host_id: number;
  software_id: number;
  last_opened_at: string | null;
}

export interface SoftwareTables {
  software: SoftwareTable;
  host_software: HostSoftwareTable;
}
