import type { OsqueryRow, SimulatedMachine } from './machine.js';
import { mdmCommandInput, runMdmBridge } from './windowsMdmBridge.js';

/**
 * What osquery (with fleetd's extension tables) returns on the simulated machine for the queries
 * Fleet sends in `distributed/read`. Detail queries are answered by name
 * (`fleet_detail_query_<name>`, names as in Fleet's osquery_utils/queries.go), never by parsing
 * their SQL; label, policy and live queries go to the machine's answer functions with their SQL.
 */
export interface QueryResult {
  rows: OsqueryRow[];
  /** 0 for success; anything else makes Fleet ignore the rows. */
  status: number;
  message?: string;
}

export interface AnswerContext {
  machine: SimulatedMachine;
  /** Fleet Desktop's current token (orbit_info reports it). */
  deviceToken?: string;
  orbitVersion: string;
  osqueryVersion: string;
  /** osquery flags the agent runs with (osquery_flags reports them). */
  distributedIntervalSeconds: number;
  configRefreshSeconds: number;
  loggerTlsPeriodSeconds: number;
}

export const queryPrefixes = {
  detail: 'fleet_detail_query_',
  label: 'fleet_label_query_',
  policy: 'fleet_policy_query_',
  live: 'fleet_distributed_query_',
} as const;

const ok = (rows: OsqueryRow[]): QueryResult => ({ rows, status: 0 });
const one = (row: OsqueryRow): QueryResult => ok([row]);

function darwinVersion(m: SimulatedMachine) {
  const [major = '0', minor = '0', patch = '0'] = m.osVersion.split('.');
  return { name: 'macOS', version: m.osVersion, major, minor, patch, build: '23E224' };
}

function windowsVersion(m: SimulatedMachine) {
  const [major = '10', minor = '0', build = '22631', ubr = '0'] = m.osVersion.split('.');
  return {
    name: 'Microsoft Windows 11 Enterprise',
    version: `${major}.${minor}.${build}`,
    full: `${major}.${minor}.${build}.${ubr}`,
    major,
    minor,
    build,
    displayVersion: '23H2',
  };
}

function diskSpace(m: SimulatedMachine): OsqueryRow {
  return {
    percent_disk_space_available: String(Math.round((m.diskAvailableGb * 100) / m.diskTotalGb)),
    gigs_disk_space_available: m.diskAvailableGb.toFixed(2),
    gigs_total_disk_space: m.diskTotalGb.toFixed(2),
  };
}

type DetailAnswer = (ctx: AnswerContext, sql: string) => QueryResult;

const osVersion: DetailAnswer = ({ machine: m }) => {
  if (m.platform === 'windows') {
    const v = windowsVersion(m);
    return one({
      name: v.name,
      version: v.version,
      major: v.major,
      minor: v.minor,
      patch: '',
      build: v.build,
      platform: 'windows',
      platform_like: 'windows',
      codename: v.name,
      arch: '64-bit',
    });
  }
  const v = darwinVersion(m);
  return one({ ...v, platform: 'darwin', platform_like: 'darwin', codename: '', arch: 'arm64', extra: '' });
};

const windowsOs: DetailAnswer = ({ machine: m }) => {
  const v = windowsVersion(m);
  return one({
    name: v.name,
    platform: 'windows',
    arch: '64-bit',
    kernel_version: v.version,
    version: v.full,
    display_version: v.displayVersion,
    installation_type: 'Client',
  });
};

/** Detail queries by name: vitals, MDM state, disk encryption. */
const detailAnswers: Record<string, DetailAnswer> = {
  os_version: osVersion,
  os_version_windows: windowsOs,
  os_windows: windowsOs,
  os_unix_like: ({ machine: m }) => {
    const v = darwinVersion(m);
    return one({ ...v, extra: '', arch: 'arm64', platform: 'darwin', kernel_version: '23.4.0' });
  },
  osquery_info: (ctx) =>
    one({
      pid: '4242',
      uuid: ctx.machine.uuid,
      instance_id: ctx.machine.uuid,
      version: ctx.osqueryVersion,
      config_hash: '',
      config_valid: '1',
      extensions: 'active',
      build_platform: ctx.machine.platform,
      build_distro: ctx.machine.platform === 'darwin' ? '10.14' : '10',
      start_time: String(Math.floor(ctx.machine.bootedAt.getTime() / 1000)),
      watcher: '4241',
      platform_mask: ctx.machine.platform === 'darwin' ? '21' : '2',
    }),
  osquery_flags: (ctx) =>
    ok([
      { name: 'distributed_interval', value: String(ctx.distributedIntervalSeconds) },
      { name: 'config_refresh', value: String(ctx.configRefreshSeconds) },
      { name: 'logger_tls_period', value: String(ctx.loggerTlsPeriodSeconds) },
    ]),
  system_info: ({ machine: m }) =>
    one({
      hostname: m.hostname,
      uuid: m.uuid,
      cpu_type: m.platform === 'darwin' ? 'arm64e' : 'x86_64',
      cpu_subtype: m.platform === 'darwin' ? 'ARM64E' : '-1',
      cpu_brand: m.platform === 'darwin' ? 'Apple M3 Pro' : 'Intel(R) Core(TM) i7-1185G7 @ 3.00GHz',
      cpu_physical_cores: '12',
      cpu_logical_cores: '12',
      cpu_microcode: '',
      physical_memory: String(m.memoryBytes),
      hardware_vendor: m.platform === 'darwin' ? 'Apple Inc.' : 'Simulated',
      hardware_model: m.hardwareModel,
      hardware_version: '',
      hardware_serial: m.serial,
      computer_name: m.computerName,
      local_hostname: m.hostname.replace(/\.local$/, ''),
    }),
  uptime: ({ machine: m }) => {
    const s = m.uptimeSeconds();
    return one({
      days: String(Math.floor(s / 86400)),
      hours: String(Math.floor(s / 3600) % 24),
      minutes: String(Math.floor(s / 60) % 60),
      seconds: String(s % 60),
      total_seconds: String(s),
    });
  },
  network_interface_unix: ({ machine: m }) => one({ address: m.primaryIp, mac: m.primaryMac }),
  network_interface_windows: ({ machine: m }) => one({ address: m.primaryIp, mac: m.primaryMac }),
  disk_space_unix: ({ machine: m }) => one(diskSpace(m)),
  disk_space_darwin: ({ machine: m }) => one(diskSpace(m)),
  disk_space_darwin_legacy: ({ machine: m }) => one(diskSpace(m)),
  disk_space_windows: ({ machine: m }) => one(diskSpace(m)),
  orbit_info: (ctx) =>
    one({
      version: ctx.orbitVersion,
      device_auth_token: ctx.deviceToken ?? '',
      enrolled: 'true',
      last_recorded_error: '',
      orbit_channel: 'stable',
      osqueryd_channel: 'stable',
      desktop_channel: 'stable',
      desktop_version: ctx.orbitVersion,
      uptime: String(ctx.machine.uptimeSeconds()),
      scripts_enabled: '0',
    }),
  battery: ({ machine: m }) =>
    m.platform === 'darwin'
      ? one({
          serial_number: `B${m.serial}`,
          cycle_count: '42',
          designed_capacity: '8579',
          max_capacity: '8300',
        })
      : ok([]),
  users: ({ machine: m }) =>
    one({
      uid: m.platform === 'darwin' ? '501' : '1001',
      uuid: m.uuid,
      username: 'sim',
      type: m.platform === 'darwin' ? '' : 'local',
      groupname: m.platform === 'darwin' ? 'staff' : 'Users',
      shell: m.platform === 'darwin' ? '/bin/zsh' : 'C:\\Windows\\system32\\cmd.exe',
    }),
  scheduled_query_stats: () => ok([]),
  windows_update_history: () => ok([]),
  certificates_darwin: () => ok([]),
  certificates_windows: () => ok([]),
  software_macos: () => ok([]),
  software_windows: () => ok([]),
  software_vscode_extensions: () => ok([]),

  // ---- macOS MDM and FileVault ----
  mdm: ({ machine: m }) =>
    m.appleMdmEnrolled()
      ? one({
          enrolled: 'true',
          server_url: m.apple?.serverUrl ?? '',
          installed_from_dep: 'false',
          payload_identifier: m.enrollmentProfileIdentifier,
        })
      : one({ enrolled: 'false', server_url: '', installed_from_dep: 'false', payload_identifier: '' }),
  mdm_config_profiles_darwin: ({ machine: m }) =>
    ok(
      m.installedProfiles().map((p) => ({
        display_name: p.displayName,
        identifier: p.identifier,
        install_date: p.installDate,
      })),
    ),
  disk_encryption_darwin: ({ machine: m }) => ok(m.fileVault.on ? [{ '1': '1' }] : []),
  mdm_disk_encryption_key_file_darwin: ({ machine: m }) =>
    one({
      encrypted: m.fileVault.on ? '1' : '0',
      filevault_key: m.fileVault.escrowFile?.toString('base64') ?? '',
    }),
  // The older form for fleetd without filevault_prk: the file's lines (split at 0x0A), in hex.
  mdm_disk_encryption_key_file_lines_darwin: ({ machine: m }) => {
    const encrypted = m.fileVault.on ? '1' : '0';
    const file = m.fileVault.escrowFile;
    if (!file) return one({ encrypted, hex_line: '' });
    const lines: Buffer[] = [];
    let start = 0;
    for (let i = 0; i <= file.length; i++) {
      if (i === file.length || file[i] === 0x0a) {
        lines.push(file.subarray(start, i));
        start = i + 1;
      }
    }
    return ok(lines.map((l) => ({ encrypted, hex_line: l.toString('hex').toUpperCase() })));
  },

  // ---- Windows MDM and BitLocker ----
  mdm_windows: ({ machine: m }) => {
    const pc = m.windows;
    if (!pc || !m.windowsMdmEnrolled())
      return one({
        aad_resource_id: '',
        discovery_service_url: '',
        provider_id: '',
        installation_type: 'Client',
      });
    return one({
      aad_resource_id: '',
      discovery_service_url: m.windowsDiscoveryUrl ?? '',
      provider_id: pc.providerId ?? '',
      installation_type: 'Client',
    });
  },
  mdm_device_id_windows: ({ machine: m }) =>
    m.windows && m.windowsMdmEnrolled() ? one({ name: 'DeviceClientId', data: m.windows.deviceId }) : ok([]),
  disk_encryption_windows: ({ machine: m }) => ok(m.bitLocker.on ? [{ '1': '1' }] : []),
  mdm_config_profiles_windows: ({ machine: m }, sql) => {
    const input = mdmCommandInput(sql);
    if (!m.windows || !input) return { rows: [], status: 1, message: 'mdm_bridge: no command input' };
    return one({ raw_mdm_command_output: runMdmBridge(m.windows, input) });
  },
};

/** Detail query names this simulator answers. */
export const answeredDetailQueries = Object.keys(detailAnswers);

const idOf = (name: string, prefix: string) => Number(name.slice(prefix.length));

/** The machine's answer to one distributed query. */
export function answerQuery(ctx: AnswerContext, name: string, sql: string): QueryResult {
  const m = ctx.machine;
  if (name.startsWith(queryPrefixes.detail)) {
    const answer = detailAnswers[name.slice(queryPrefixes.detail.length)];
    // osquery fails a query over a table it lacks; Fleet then keeps the host's previous data.
    return answer ? answer(ctx, sql) : { rows: [], status: 1, message: 'no such table in the simulator' };
  }
  if (name.startsWith(queryPrefixes.label)) return ok(m.labelAnswer(sql, idOf(name, queryPrefixes.label)));
  if (name.startsWith(queryPrefixes.policy)) return ok(m.policyAnswer(sql, idOf(name, queryPrefixes.policy)));
  if (name.startsWith(queryPrefixes.live)) return ok(m.liveQueryAnswer(sql, idOf(name, queryPrefixes.live)));
  return ok([]);
}
