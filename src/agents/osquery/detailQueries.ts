import { linuxPlatforms } from '../../hosts/platforms.js';
/**
 * The detail queries Flotilla sends osquery (Fleet's names, SQL and discovery queries, from
 * server/service/osquery_utils/queries.go): host vitals, the agent's intervals, and the MDM checks.
 * Software, users, certificates, batteries and the like are not collected. A query goes out as
 * `fleet_detail_query_<name>`; its discovery query decides on the host whether it runs at all.
 */

export { linuxPlatforms };

export const detailQueryPrefix = 'fleet_detail_query_';

/** A discovery query: the osquery (or fleetd extension) table exists on the host. */
export function tableExists(table: string): string {
  return `SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = '${table}'`;
}

/** Fleet's always-true discovery, for queries without their own. */
export const alwaysTrue = 'SELECT 1';

export interface DetailQuery {
  name: string;
  /** The SQL; empty for the queries built per host at read time (see `builtPerHost`). */
  sql: string;
  discovery?: string;
  /** Host platforms it runs on; all when absent. */
  platforms?: readonly string[];
  /** Sent only while that platform's MDM is turned on in Flotilla. */
  requires?: 'appleMdm' | 'windowsMdm';
  /** Also sent during a host's critical-queries window (Fleet's criticalDetailQueries). */
  critical?: boolean;
  /** Fills columns of the host row (Fleet's IngestFunc); a success counts as a detail update. */
  hostColumns?: boolean;
}

/** Queries whose SQL depends on the host (Fleet's QueryFunc): built by the service when sent. */
export const builtPerHost = new Set(['mdm_config_profiles_darwin_with_user', 'mdm_config_profiles_windows']);

const unixLike = [...linuxPlatforms, 'darwin'];
const withAgent = [...linuxPlatforms, 'darwin', 'windows'];

/** Fleet's private-address default-route query; `join` and `routeType` differ on Windows. */
function networkInterfaceQuery(join: string, routeType: string): string {
  return `SELECT
    ia.address,
    id.mac
FROM
    interface_addresses ia
    JOIN interface_details id ON id.interface = ia.interface
    JOIN routes r ON ${join}
WHERE
    (r.destination = '0.0.0.0' OR r.destination = '::') AND r.netmask = 0
    AND r.type = '${routeType}'
    AND (
\t\tinet_aton(ia.address) IS NOT NULL AND (
\t\t\tsplit(ia.address, '.', 0) = '10'
\t\t\tOR (split(ia.address, '.', 0) = '172' AND (CAST(split(ia.address, '.', 1) AS INTEGER) & 0xf0) = 16)
\t\t\tOR (split(ia.address, '.', 0) = '192' AND split(ia.address, '.', 1) = '168')
\t\t)
\t\tOR (inet_aton(ia.address) IS NULL AND regex_match(lower(ia.address), '^f[cd][0-9a-f][0-9a-f]:[0-9a-f:]+', 0) IS NOT NULL)
\t)
ORDER BY
    r.metric ASC,
\tinet_aton(ia.address) IS NOT NULL DESC
LIMIT 1;`;
}

const linuxAllDisksConditions = `WHERE
blocks > 0
AND blocks_size > 0
AND path NOT LIKE '/media%' AND path NOT LIKE '/mnt%'
AND path NOT LIKE '/dev%'
AND path NOT LIKE '/proc%'
AND path NOT LIKE '/sys%'
AND path NOT LIKE '/run%'
AND path NOT LIKE '/var/run%'
AND path NOT LIKE '/boot%'
AND path NOT LIKE '/snap%' AND path NOT LIKE '/var/snap%'
AND path NOT LIKE '/var/lib/docker%'
AND path NOT LIKE '/var/lib/containers%'
AND type IN (
'ext4',
'ext3',
'ext2',
'xfs',
'btrfs',
'ntfs',
'vfat',
'fuseblk',
'zfs'
)
AND (
device LIKE '/dev/sd%'
OR device LIKE '/dev/hd%'
OR device LIKE '/dev/vd%'
OR device LIKE '/dev/nvme%'
OR device LIKE '/dev/mapper%'
OR device LIKE '/dev/md%'
OR device LIKE '/dev/dm-%'
)`;

/** Fleet's usesMacOSDiskEncryptionQuery: a user-unlockable FileVault volume is on. */
export const macDiskEncryptedQuery = `SELECT 1 FROM disk_encryption WHERE user_uuid IS NOT "" AND filevault_status = 'on' LIMIT 1`;

const windowsVersionQuery = String.raw`
	WITH display_version_table AS (
		SELECT data as display_version
		FROM registry
		WHERE path = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\DisplayVersion'
	),
	ubr_table AS (
		SELECT data AS ubr
		FROM registry
		WHERE path ='HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\UBR'
	),
	installation_type_table AS (
		SELECT data AS installation_type
		FROM registry
		WHERE path = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\InstallationType'
	)
	SELECT
		os.name,
		COALESCE(d.display_version, '') AS display_version,
		COALESCE(CONCAT((SELECT version FROM os_version), '.', u.ubr), k.version) AS version,
		COALESCE(it.installation_type, '') AS installation_type
	FROM
		os_version os,
		kernel_info k
	LEFT JOIN
		display_version_table d
	LEFT JOIN
		ubr_table u
	LEFT JOIN
		installation_type_table it`;

const windowsMdmQuery = String.raw`
	WITH registry_keys AS (
		SELECT *
		FROM registry
		WHERE path LIKE 'HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Enrollments\%%'
	),
	enrollment_info AS (
		SELECT
			MAX(CASE WHEN name = 'UPN' THEN data END) AS upn,
			MAX(CASE WHEN name = 'DiscoveryServiceFullURL' THEN data END) AS discovery_service_url,
			MAX(CASE WHEN name = 'ProviderID' THEN data END) AS provider_id,
			MAX(CASE WHEN name = 'EnrollmentState' THEN data END) AS state,
			MAX(CASE WHEN name = 'AADResourceID' THEN data END) AS aad_resource_id
		FROM registry_keys
		GROUP BY key
	),
	installation_info AS (
		SELECT data AS installation_type
		FROM registry
		WHERE path = 'HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\InstallationType'
		LIMIT 1
	)
	SELECT
		e.aad_resource_id,
		e.discovery_service_url,
		e.provider_id,
		i.installation_type
	FROM installation_info i
	LEFT JOIN enrollment_info e ON e.upn IS NOT NULL
	WHERE COALESCE(e.state, '0') IN ('0', '1', '2', '3')
	ORDER BY LENGTH(e.discovery_service_url) DESC
	LIMIT 1;`;

const bitLockerQuery = `
	WITH encrypted(enabled) AS (
		SELECT CASE WHEN
			NOT EXISTS(SELECT 1 FROM windows_optional_features WHERE name = 'BitLocker')
			OR
			(SELECT 1 FROM windows_optional_features WHERE name = 'BitLocker' AND state = 1)
		THEN (SELECT 1 FROM bitlocker_info WHERE drive_letter = 'C:' AND protection_status = 1)
	END)
	SELECT 1 FROM encrypted WHERE enabled IS NOT NULL`;

export const detailQueries: readonly DetailQuery[] = [
  // Host vitals (Fleet's hostDetailQueries).
  {
    name: 'network_interface_unix',
    sql: networkInterfaceQuery('r.interface = ia.interface', 'gateway'),
    platforms: unixLike,
    hostColumns: true,
  },
  {
    name: 'network_interface_windows',
    sql: networkInterfaceQuery('r.interface = ia.address', 'remote'),
    platforms: ['windows'],
    hostColumns: true,
  },
  { name: 'os_version', sql: 'SELECT * FROM os_version LIMIT 1', hostColumns: true },
  { name: 'os_version_windows', sql: windowsVersionQuery, platforms: ['windows'], hostColumns: true },
  {
    name: 'osquery_flags',
    sql: `select name, value from osquery_flags where name in ("distributed_interval", "config_tls_refresh", "config_refresh", "logger_tls_period")`,
    platforms: withAgent,
    hostColumns: true,
  },
  { name: 'osquery_info', sql: 'select * from osquery_info limit 1', hostColumns: true },
  { name: 'system_info', sql: 'select * from system_info limit 1', hostColumns: true },
  { name: 'uptime', sql: 'select * from uptime limit 1', platforms: withAgent, hostColumns: true },
  {
    name: 'disk_space_unix',
    sql: `
		SELECT (blocks_available * 100 / blocks) AS percent_disk_space_available,
		       round((blocks_available * blocks_size * 10e-10),2) AS gigs_disk_space_available,
		       round((blocks           * blocks_size * 10e-10),2) AS gigs_total_disk_space,
					 (SELECT round(SUM(blocks * blocks_size) * 10e-10, 2) FROM mounts ${linuxAllDisksConditions}) AS gigs_all_disk_space
		FROM mounts WHERE path = '/' LIMIT 1;`,
    platforms: linuxPlatforms,
  },
  {
    name: 'disk_space_darwin',
    sql: `
SELECT
    ROUND(bytes_available * 100.0 / bytes_total, 2) AS percent_disk_space_available,
    ROUND(bytes_available * 10e-10, 2) AS gigs_disk_space_available,
    ROUND(bytes_total * 10e-10, 2) AS gigs_total_disk_space
FROM disk_space LIMIT 1;`,
    platforms: ['darwin'],
    discovery: tableExists('disk_space'),
  },
  {
    name: 'disk_space_darwin_legacy',
    sql: `
		SELECT (blocks_available * 100 / blocks) AS percent_disk_space_available,
		       round((blocks_available * blocks_size * 10e-10),2) AS gigs_disk_space_available,
		       round((blocks           * blocks_size * 10e-10),2) AS gigs_total_disk_space
		FROM mounts WHERE path = '/' LIMIT 1;`,
    platforms: ['darwin'],
    discovery: `SELECT 1 WHERE NOT EXISTS (${tableExists('disk_space')});`,
  },
  {
    name: 'disk_space_windows',
    sql: `
SELECT ROUND((sum(free_space) * 100 * 10e-10) / (sum(size) * 10e-10)) AS percent_disk_space_available,
       ROUND(sum(free_space) * 10e-10) AS gigs_disk_space_available,
       ROUND(sum(size)       * 10e-10) AS gigs_total_disk_space
FROM logical_drives WHERE file_system = 'NTFS' LIMIT 1;`,
    platforms: ['windows'],
  },
  // Always sent, MDM or not (Fleet's extraDetailQueries): which MDM a host is in, disk encryption,
  // fleetd's version.
  {
    name: 'mdm',
    sql: 'select enrolled, server_url, installed_from_dep, payload_identifier from mdm;',
    platforms: ['darwin'],
    discovery: tableExists('mdm'),
    critical: true,
  },
  { name: 'mdm_windows', sql: windowsMdmQuery, platforms: ['windows'], critical: true },
  {
    name: 'orbit_info',
    sql: 'SELECT * FROM orbit_info',
    platforms: withAgent,
    discovery: tableExists('orbit_info'),
  },
  { name: 'disk_encryption_darwin', sql: macDiskEncryptedQuery, platforms: ['darwin'] },
  {
    name: 'disk_encryption_linux',
    sql: 'SELECT de.encrypted, m.path FROM disk_encryption de JOIN mounts m ON m.device_alias = de.name;',
    platforms: linuxPlatforms,
  },
  { name: 'disk_encryption_windows', sql: bitLockerQuery, platforms: ['windows'] },
  // MDM checks, only while that platform's MDM is on (Fleet's mdmQueries).
  {
    name: 'mdm_config_profiles_darwin',
    sql: 'SELECT display_name, identifier, install_date FROM macos_profiles WHERE type = "Configuration";',
    platforms: ['darwin'],
    requires: 'appleMdm',
    discovery: `SELECT 1 WHERE EXISTS (${tableExists('macos_profiles')}) AND NOT EXISTS (${tableExists('macos_user_profiles')});`,
  },
  {
    name: 'mdm_config_profiles_darwin_with_user',
    sql: '',
    platforms: ['darwin'],
    requires: 'appleMdm',
    discovery: `SELECT 1 WHERE EXISTS (${tableExists('macos_profiles')}) AND EXISTS (${tableExists('macos_user_profiles')})`,
  },
  {
    name: 'mdm_disk_encryption_key_file_lines_darwin',
    sql: `WITH
		de AS (SELECT IFNULL((${macDiskEncryptedQuery}), 0) as encrypted),
		fl AS (SELECT line FROM file_lines WHERE path = '/var/db/FileVaultPRK.dat')
	SELECT encrypted, hex(line) as hex_line FROM de LEFT JOIN fl;`,
    platforms: ['darwin'],
    requires: 'appleMdm',
    discovery: `SELECT 1 WHERE EXISTS (${tableExists('file_lines')}) AND NOT EXISTS (${tableExists('filevault_prk')});`,
  },
  {
    name: 'mdm_disk_encryption_key_file_darwin',
    sql: `WITH
		de AS (SELECT IFNULL((${macDiskEncryptedQuery}), 0) as encrypted),
		fv AS (SELECT base64_encrypted as filevault_key FROM filevault_prk)
	SELECT encrypted, filevault_key FROM de LEFT JOIN fv;`,
    platforms: ['darwin'],
    requires: 'appleMdm',
    discovery: tableExists('filevault_prk'),
  },
  {
    name: 'mdm_config_profiles_windows',
    sql: '',
    platforms: ['windows'],
    requires: 'windowsMdm',
    discovery: tableExists('mdm_bridge'),
  },
  {
    name: 'mdm_device_id_windows',
    sql: String.raw`SELECT name, data FROM registry WHERE path = 'HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Provisioning\OMADM\MDMDeviceID\DeviceClientId';`,
    platforms: ['windows'],
    requires: 'windowsMdm',
  },
];

const byName = new Map(detailQueries.map((q) => [q.name, q]));

export function detailQuery(name: string): DetailQuery | undefined {
  return byName.get(name);
}

/**
 * The detail queries a host gets: those for its platform, the MDM checks only while that
 * platform's MDM is on, and in a critical-only read just the critical ones.
 */
export function detailQueriesFor(ctx: {
  platform: string;
  appleMdm: boolean;
  windowsMdm: boolean;
  criticalOnly: boolean;
}): DetailQuery[] {
  return detailQueries.filter(
    (q) =>
      (!q.platforms || q.platforms.includes(ctx.platform)) &&
      (q.requires !== 'appleMdm' || ctx.appleMdm) &&
      (q.requires !== 'windowsMdm' || ctx.windowsMdm) &&
      (!ctx.criticalOnly || q.critical),
  );
}
