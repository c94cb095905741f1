import { randomUUID } from 'node:crypto';
import type { SimulatedAppleDevice } from '../../apple/sim/device.js';
import type { SimulatedWindowsDevice } from '../../windows/sim/device.js';
import { DesktopClient } from './desktopClient.js';
import { discoveryPasses } from './discovery.js';
import {
  SimulatedMachine,
  type AgentPlatform,
  type OsqueryRow,
  type SimulatedMachineOptions,
} from './machine.js';
import {
  OrbitClient,
  type OrbitConfig,
  type OrbitEnrollRequest,
  type OrbitNotifications,
} from './orbitClient.js';
import { answerQuery, type AnswerContext } from './osqueryAnswers.js';
import { OsqueryClient, type DistributedWriteRequest } from './osqueryClient.js';
import { AgentHttpError, fetchTransport, type AgentTransport } from './transport.js';

export interface SimulatedFleetdOptions extends Omit<SimulatedMachineOptions, 'platform'> {
  serverUrl: string;
  enrollSecret: string;
  /** Defaults to the paired device's platform (darwin when none). */
  platform?: AgentPlatform;
  /** X-Fleet-Capabilities; defaults include `escrow_buddy`, `token_rotation`, `orbit_endpoints`. */
  capabilities?: string[];
  transport?: AgentTransport;
  /** Before each distributed round, the machine's user "logs in" (FileVault turns on, Escrow Buddy rotates). */
  autoLogin?: boolean;
  /** Keys of an agent enrolled earlier (the load generator seeds hosts directly). */
  nodeKey?: string;
  orbitNodeKey?: string;
  /** How long orbit waits before trying BitLocker or Windows MDM enrollment again after a success. */
  retryIntervalMs?: number;
}

/** What one `distributed/read` + `distributed/write` did. */
export interface DistributedRound {
  /** Query names the server sent. */
  sent: string[];
  /** Names not run because their discovery returned no row (osquery does not report them). */
  skipped: string[];
  /** What was written (undefined when the server sent nothing, as osquery then writes nothing). */
  written?: DistributedWriteRequest;
  accelerate?: number;
}

/** What one orbit config poll returned and what fleetd did about it. */
export interface ConfigPoll {
  config: OrbitConfig;
  notifications: OrbitNotifications;
  actions: string[];
}

const windowsDiscoveryPath = '/api/mdm/microsoft/discovery';

/**
 * A simulated fleetd: orbit (enroll, config notifications, device token, BitLocker escrow) and
 * osquery (enroll, distributed read/write) in front of a SimulatedMachine. Paired with a simulated
 * Mac or PC, it reports what that device's MDM side holds (enrollment, installed profiles, Windows
 * settings) and carries out what orbit would: hand programmatic Windows enrollment to the PC,
 * turn BitLocker on and escrow its key, have Escrow Buddy make a new FileVault key.
 *
 * Nothing runs on a timer: tests and the load generator call `pollConfig` and `distributedRound`.
 */
export class SimulatedFleetd {
  readonly machine: SimulatedMachine;
  readonly orbit: OrbitClient;
  readonly osquery: OsqueryClient;
  readonly desktop: DesktopClient;
  readonly serverUrl: string;
  /** Fleet Desktop's token in use, and the ones before it (newest last). */
  deviceToken?: string;
  readonly previousDeviceTokens: string[] = [];
  /** Every notification set orbit received, in order. */
  readonly notificationsSeen: OrbitNotifications[] = [];
  autoLogin: boolean;
  readonly orbitVersion = '1.38.1';
  readonly osqueryVersion = '5.14.1';
  distributedIntervalSeconds = 10;
  private readonly retryIntervalMs: number;
  private lastBitLockerRun = 0;
  private lastWindowsEnrollRun = 0;

  constructor(private readonly opts: SimulatedFleetdOptions) {
    this.serverUrl = opts.serverUrl.replace(/\/$/, '');
    const platform: AgentPlatform = opts.platform ?? (opts.windows ? 'windows' : 'darwin');
    this.machine = new SimulatedMachine({ ...opts, platform });
    if (platform === 'windows') this.machine.windowsDiscoveryUrl = this.serverUrl + windowsDiscoveryPath;
    const transport = opts.transport ?? fetchTransport();
    this.autoLogin = opts.autoLogin ?? true;
    this.retryIntervalMs = opts.retryIntervalMs ?? 3_600_000;
    this.orbit = new OrbitClient(
      this.serverUrl,
      transport,
      () => this.orbitEnrollRequest(),
      opts.capabilities,
    );
    this.orbit.nodeKey = opts.orbitNodeKey;
    this.osquery = new OsqueryClient(this.serverUrl, transport, () => this.osqueryEnrollRequest());
    this.osquery.nodeKey = opts.nodeKey;
    this.desktop = new DesktopClient(this.serverUrl, transport);
  }

  get apple(): SimulatedAppleDevice | undefined {
    return this.machine.apple;
  }

  get windows(): SimulatedWindowsDevice | undefined {
    return this.machine.windows;
  }

  // ---- enrollment ----

  orbitEnrollRequest(): OrbitEnrollRequest {
    const m = this.machine;
    return {
      enroll_secret: this.opts.enrollSecret,
      hardware_uuid: m.uuid,
      hardware_serial: m.serial,
      hostname: m.hostname,
      platform: m.platform,
      platform_like: m.platform,
      osquery_identifier: '',
      computer_name: m.computerName,
      hardware_model: m.hardwareModel,
    };
  }

  /** osquery's enroll body: host_details from the same tables Fleet later asks about. */
  osqueryEnrollRequest(): Record<string, unknown> {
    const ctx = this.answerContext();
    const row = (name: string) => answerQuery(ctx, `fleet_detail_query_${name}`, '').rows[0] ?? {};
    const m = this.machine;
    return {
      enroll_secret: this.opts.enrollSecret,
      host_identifier: m.uuid,
      platform_type: m.platform === 'darwin' ? '16' : '2',
      host_details: {
        os_version: row('os_version'),
        osquery_info: row('osquery_info'),
        system_info: row('system_info'),
        platform_info: {
          vendor: m.platform === 'darwin' ? 'Apple Inc.' : 'Simulated',
          version: m.platform === 'darwin' ? '10151.101.3' : '1.0.0',
          date: '01/01/2024',
          revision: '',
          address: '',
          size: '',
          volume_size: '',
          extra: '',
        },
      },
    };
  }

  /** Enrolls orbit, then osquery, and fetches osquery's config, as fleetd does when it starts. */
  async enroll(): Promise<void> {
    await this.orbit.enroll();
    await this.osquery.enroll();
    await this.osquery.config();
  }

  // ---- osquery ----

  answerContext(): AnswerContext {
    return {
      machine: this.machine,
      deviceToken: this.deviceToken,
      orbitVersion: this.orbitVersion,
      osqueryVersion: this.osqueryVersion,
      distributedIntervalSeconds: this.distributedIntervalSeconds,
      configRefreshSeconds: 60,
      loggerTlsPeriodSeconds: 10,
    };
  }

  /** Answers a read's queries as osquery would: discovery first, then each query that passed. */
  answer(queries: Record<string, string>, discovery: Record<string, string> = {}): DistributedRound {
    const ctx = this.answerContext();
    const written: DistributedWriteRequest = { queries: {}, statuses: {}, messages: {}, stats: {} };
    const skipped: string[] = [];
    for (const [name, sql] of Object.entries(queries)) {
      const gate = discovery[name];
      if (gate && !discoveryPasses(gate, this.machine.tables)) {
        skipped.push(name);
        continue;
      }
      const started = process.hrtime.bigint();
      const result = answerQuery(ctx, name, sql);
      written.queries[name] = result.rows;
      written.statuses[name] = result.status;
      if (result.message) written.messages[name] = result.message;
      const micros = Number((process.hrtime.bigint() - started) / 1000n);
      written.stats[name] = {
        wall_time_ms: Math.ceil(micros / 1000),
        user_time: micros,
        system_time: 0,
        memory: 0,
      };
    }
    return {
      sent: Object.keys(queries),
      skipped,
      written: Object.keys(written.statuses).length ? written : undefined,
    };
  }

  /**
   * One check-in of osquery's distributed plugin: read, run what came (after the user "logs in"
   * when autoLogin is on), write the results. Nothing is written when nothing came.
   */
  async distributedRound(): Promise<DistributedRound> {
    if (this.autoLogin) this.machine.userLogsIn();
    const read = await this.osquery.read();
    const round = this.answer(read.queries ?? {}, read.discovery ?? {});
    round.accelerate = read.accelerate;
    if (round.written) await this.osquery.write(round.written);
    return round;
  }

  /** Rows the machine gives for one query name and SQL (for tests that check an answer). */
  rowsFor(name: string, sql = ''): OsqueryRow[] {
    return answerQuery(this.answerContext(), name, sql).rows;
  }

  // ---- orbit ----

  /** Polls orbit's config and acts on its notifications as orbit's config middlewares do. */
  async pollConfig(): Promise<ConfigPoll> {
    const config = await this.orbit.config();
    const n = config.notifications ?? {};
    this.notificationsSeen.push(n);
    const actions: string[] = [];

    // Escrow Buddy: orbit writes GenerateNewKey = true while the server asks, false once it stops.
    if (this.machine.platform === 'darwin') {
      const want = Boolean(n.rotate_disk_encryption_key);
      if (want !== this.machine.fileVault.generateNewKeyAtLogin) {
        this.machine.fileVault.generateNewKeyAtLogin = want;
        actions.push(want ? 'escrow_buddy_generate_new_key' : 'escrow_buddy_cleared');
      }
    }

    if (n.needs_programmatic_windows_mdm_enrollment && n.windows_mdm_discovery_endpoint) {
      if (await this.enrollWindowsMdm(n.windows_mdm_discovery_endpoint)) actions.push('windows_mdm_enrolled');
    } else if (
      n.needs_programmatic_windows_mdm_unenrollment &&
      this.windows &&
      this.machine.windowsMdmEnrolled()
    ) {
      await this.windows.unenroll();
      this.windows.managementUrl = undefined;
      actions.push('windows_mdm_unenrolled');
    }

    if (n.enforce_bitlocker_encryption && this.machine.platform === 'windows') {
      const outcome = await this.enforceBitLocker();
      if (outcome) actions.push(outcome);
    }
    return { config, notifications: n, actions };
  }

  /** RegisterDeviceWithManagement: the paired PC enrolls with the orbit node key as its token. */
  private async enrollWindowsMdm(discoveryUrl: string): Promise<boolean> {
    const pc = this.windows;
    if (!pc || this.machine.windowsMdmEnrolled()) return false;
    if (Date.now() - this.lastWindowsEnrollRun <= this.retryIntervalMs) return false;
    pc.orbitNodeKey = this.orbit.nodeKey;
    await pc.enrollProgrammatically(discoveryUrl);
    this.machine.windowsDiscoveryUrl = discoveryUrl;
    this.lastWindowsEnrollRun = Date.now();
    // Windows opens its first management session right after enrolling.
    await pc.runSession();
    return true;
  }

  /**
   * Turns BitLocker on for C: and reports the outcome: the recovery password, or the error as
   * `client_error` with an empty key. After a success orbit waits `retryIntervalMs` before trying again.
   */
  async enforceBitLocker(): Promise<'bitlocker_key_escrowed' | 'bitlocker_failed' | undefined> {
    if (Date.now() - this.lastBitLockerRun <= this.retryIntervalMs) return undefined;
    const outcome = this.machine.enableBitLocker();
    const failed = 'clientError' in outcome;
    const res = failed
      ? await this.orbit.escrowDiskEncryptionKey('', outcome.clientError)
      : await this.orbit.escrowDiskEncryptionKey(outcome.recoveryPassword);
    if (res.status !== 204 && res.status !== 200)
      throw new AgentHttpError('POST /api/fleet/orbit/disk_encryption_key', res.status, res.body);
    if (failed) return 'bitlocker_failed';
    this.lastBitLockerRun = Date.now();
    return 'bitlocker_key_escrowed';
  }

  // ---- Fleet Desktop token ----

  /** Registers a (new) device token with the server, as orbit does at start and on every rotation. */
  async registerDeviceToken(token: string = randomUUID()): Promise<string> {
    await this.orbit.setDeviceToken(token);
    if (this.deviceToken && this.deviceToken !== token) this.previousDeviceTokens.push(this.deviceToken);
    this.deviceToken = token;
    return token;
  }

  /** orbit's hourly rotation (against servers announcing `token_rotation`): a fresh token replaces the current one. */
  rotateDeviceToken(): Promise<string> {
    return this.registerDeviceToken(randomUUID());
  }
}
