/** Bootstrap packages (migration 0021). */

/** One package per team (`team_id` 0 = No team); the file is in the chunks table. */
export interface MdmAppleBootstrapPackagesTable {
  team_id: number;
  name: string;
  sha256: Buffer;
  /** Fleet's column; always NULL here (the bytes live in mdm_apple_bootstrap_package_chunks). */
  bytes: Buffer | null;
  size: number | string;
  storage_id: string;
  token: string;
  token_sha256: string;
  created_at: string;
  updated_at: string;
}

/** The package file in order, `seq` 0, 1, 2, ... of one `storage_id`. */
export interface MdmAppleBootstrapPackageChunksTable {
  storage_id: string;
  seq: number;
  bytes: Buffer;
  created_at: string;
}

/** The command that carried a host's bootstrap package, and the device's answer. */
export interface HostMdmAppleBootstrapPackagesTable {
  host_uuid: string;
  command_uuid: string;
  /** `pending`, `installed` or `failed`. */
  status: string;
  detail: string | null;
  created_at: string;
  updated_at: string;
}

export interface AppleBootstrapTables {
  mdm_apple_bootstrap_packages: MdmAppleBootstrapPackagesTable;
  mdm_apple_bootstrap_package_chunks: MdmAppleBootstrapPackageChunksTable;
  host_mdm_apple_bootstrap_packages: HostMdmAppleBootstrapPackagesTable;
}
