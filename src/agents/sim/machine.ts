import { randomBytes, randomUUID } from 'node:crypto';
import { EnrollmentIds } from '../../apple/enrollment/profile.js';
import type { SimulatedAppleDevice } from '../../apple/sim/device.js';
import type { SimulatedWindowsDevice } from '../../windows/sim/device.js';
import { fileVaultProfileIdentifier, readFileVaultProfile } from './fileVaultProfile.js';
import { envelopeRecoveryKey, type PrkEnvelopeOptions } from './prkEnvelope.js';
import { newBitLockerRecoveryPassword, newPersonalRecoveryKey } from './recoveryKeys.js';

/** One osquery result row: every column value is a string. */
export type OsqueryRow = Record<string, string>;

/** The osquery platform names this simulator plays. */
export type AgentPlatform = 'darwin' | 'windows';

/** Answers a query the simulator cannot know by name (a label's or policy's SQL) with rows. */
export type SqlAnswer = (sql: string, id: number) => OsqueryRow[];

export interface SimulatedMachineOptions {
  platform: AgentPlatform;
  /** The Mac's MDM side: identity, installed profiles, enrollment. */
  apple?: SimulatedAppleDevice;
  /** The PC's MDM side: identity, configuration tree, enrollment. */
  windows?: SimulatedWindowsDevice;
  uuid?: string;
  serial?: string;
  hostname?: string;
  computerName?: string;
  hardwareModel?: string;
  osVersion?: string;
  memoryBytes?: number;
  diskTotalGb?: number;
  diskAvailableGb?: number;
  /** Tables osquery has here (core tables plus fleetd's extensions); defaults per platform. */
  tables?: Iterable<string>;
  labelAnswer?: SqlAnswer;
  policyAnswer?: SqlAnswer;
  liveQueryAnswer?: SqlAnswer;
  prkEnvelope?: PrkEnvelopeOptions;
}

/** Tables whose presence decides which of Fleet's discovery-gated queries run. */
export const defaultTables: Record<AgentPlatform, string[]> = {
  darwin: [
    'os_version',
    'system_info',
    'osquery_info',
    'osquery_flags',
    'uptime',
    'disk_space',
    'disk_encryption',
    'mounts',
    'battery',
    'users',
    'apps',
    // fleetd's extension tables
    'orbit_info',
    'mdm',
    'macos_profiles',
    'filevault_prk',
    'file_lines',
  ],
  windows: [
    'os_version',
    'system_info',
    'osquery_info',
    'osquery_flags',
    'uptime',
    'logical_drives',
    'registry',
    'bitlocker_info',
    'windows_optional_features',
    'users',
    'programs',
    'orbit_info',
    'mdm_bridge',
  ],
};

/** Fleet's built-in platform labels and `SELECT 1`: membership from the platform alone. */
export function platformLabelAnswer(platform: AgentPlatform): SqlAnswer {
  return (sql) => {
    const q = sql.trim().replace(/;$/, '').replace(/\s+/g, ' ').toLowerCase();
    if (q === 'select 1') return [{ '1': '1' }];
    const m = /^select 1 from os_version where platform = '([a-z]+)'$/.exec(q);
    if (m && m[1] === platform) return [{ '1': '1' }];
    return [];
  };
}

const formatInstallDate = (d: Date) => `${d.toISOString().slice(0, 19).replace('T', ' ')} +0000`;

/**
 * The machine a simulated fleetd runs on: its identity and hardware, the profiles its MDM side has
 * installed, FileVault or BitLocker, and what its label and policy queries return. osquery answers
 * are read from it; orbit's actions (turn BitLocker on, rotate the FileVault key) change it.
 */
export class SimulatedMachine {
  readonly platform: AgentPlatform;
  readonly uuid: string;
  readonly serial: string;
  hostname: string;
  computerName: string;
  hardwareModel: string;
  osVersion: string;
  memoryBytes: number;
  diskTotalGb: number;
  diskAvailableGb: number;
  readonly bootedAt = new Date();
  readonly primaryIp = `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0] % 250)}`;
  readonly primaryMac = [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  readonly tables: Set<string>;
  readonly apple?: SimulatedAppleDevice;
  readonly windows?: SimulatedWindowsDevice;
  labelAnswer: SqlAnswer;
  policyAnswer: SqlAnswer;
  liveQueryAnswer: SqlAnswer;
  prkEnvelope: PrkEnvelopeOptions;

  /** macOS: FileVault and its escrow file (`/var/db/FileVaultPRK.dat`). */
  readonly fileVault: {
    on: boolean;
    /** The personal recovery key in effect (what the admin API should return once escrowed). */
    recoveryKey?: string;
    /** The escrow file's bytes (CMS), absent when macOS never wrote one. */
    escrowFile?: Buffer;
    /** Escrow Buddy's `GenerateNewKey`: a new key is made at the next login. */
    generateNewKeyAtLogin: boolean;
    /** Encrypt the escrow file to this certificate instead of the profile's (a key the server cannot read). */
    escrowCertificateOverride?: Buffer;
  } = { on: false, generateNewKeyAtLogin: false };

  /** Windows: BitLocker on the system drive and its recovery password. */
  readonly bitLocker: {
    on: boolean;
    recoveryPassword?: string;
    /** When set, turning BitLocker on fails with this error (reported to the server as client_error). */
    failWith?: string;
  } = { on: false };

  /** The discovery URL the PC enrolled through (the registry's DiscoveryServiceFullURL). */
  windowsDiscoveryUrl?: string;

  private readonly profileInstalledAt = new Map<string, Date>();

  constructor(opts: SimulatedMachineOptions) {
    this.platform = opts.platform;
    this.apple = opts.apple;
    this.windows = opts.windows;
    const mac = this.platform === 'darwin';
    this.uuid = opts.uuid ?? opts.apple?.udid ?? opts.windows?.hardwareUuid ?? randomUUID().toUpperCase();
    this.serial =
      opts.serial ??
      opts.apple?.serial ??
      opts.windows?.hardwareSerial ??
      `SIM${randomBytes(5).toString('hex').toUpperCase()}`;
    // The simulated PC names itself this way unless told otherwise (see SimulatedWindowsDevice).
    const defaultName = mac
      ? `sim-mac-${this.serial.slice(-6).toLowerCase()}`
      : `DESKTOP-${this.serial.slice(-7)}`;
    this.hostname = opts.hostname ?? (mac ? `${defaultName}.local` : defaultName);
    this.computerName = opts.computerName ?? opts.apple?.deviceName ?? defaultName;
    this.hardwareModel =
      opts.hardwareModel ?? (mac ? (opts.apple?.productName ?? 'Mac15,3') : 'Simulated PC');
    this.osVersion = opts.osVersion ?? (mac ? (opts.apple?.osVersion ?? '14.4.1') : '10.0.22631.2861');
    this.memoryBytes = opts.memoryBytes ?? 17179869184;
    this.diskTotalGb = opts.diskTotalGb ?? 494.38;
    this.diskAvailableGb = opts.diskAvailableGb ?? 200.5;
    this.tables = new Set(opts.tables ?? defaultTables[this.platform]);
    this.labelAnswer = opts.labelAnswer ?? platformLabelAnswer(this.platform);
    this.policyAnswer = opts.policyAnswer ?? platformLabelAnswer(this.platform);
    this.liveQueryAnswer = opts.liveQueryAnswer ?? (() => []);
    this.prkEnvelope = opts.prkEnvelope ?? {};
  }

  /** Seconds since the simulated boot. */
  uptimeSeconds(): number {
    return Math.max(1, Math.floor((Date.now() - this.bootedAt.getTime()) / 1000));
  }

  // ---- macOS MDM side ----

  /** The top-level identifier of the Mac's MDM enrollment profile. */
  get enrollmentProfileIdentifier(): string {
    return this.apple?.profileInfo?.identifier ?? EnrollmentIds.profileIdentifier;
  }

  /** Whether the Mac is enrolled: it has an identity and has not been told to remove its MDM profile. */
  appleMdmEnrolled(): boolean {
    const apple = this.apple;
    if (!apple?.identity) return false;
    return !apple.received.some(
      (c) => c.requestType === 'RemoveProfile' && c.command.Identifier === this.enrollmentProfileIdentifier,
    );
  }

  /** Configuration profiles as `macos_profiles` lists them (the enrollment profile included). */
  installedProfiles(): { identifier: string; displayName: string; installDate: string }[] {
    const now = new Date();
    const present = new Map<string, string>();
    if (this.appleMdmEnrolled()) present.set(this.enrollmentProfileIdentifier, 'Fleet enrollment profile');
    for (const p of this.apple?.profiles.values() ?? []) present.set(p.identifier, p.displayName);
    for (const id of this.profileInstalledAt.keys()) if (!present.has(id)) this.profileInstalledAt.delete(id);
    return [...present].map(([identifier, displayName]) => {
      if (!this.profileInstalledAt.has(identifier)) this.profileInstalledAt.set(identifier, now);
      return {
        identifier,
        displayName,
        installDate: formatInstallDate(this.profileInstalledAt.get(identifier) as Date),
      };
    });
  }

  private fileVaultProfile() {
    const installed = this.apple?.profiles.get(fileVaultProfileIdentifier);
    return installed ? readFileVaultProfile(installed.payload) : undefined;
  }

  /**
   * What macOS does when a user logs in: FileVault turns on if a profile enforces it, and Escrow
   * Buddy makes a new recovery key if asked to (then clears its flag). Either way a new key is
   * escrowed to the profile's certificate when an escrow payload is installed.
   */
  userLogsIn(): void {
    if (this.platform !== 'darwin') return;
    const profile = this.fileVaultProfile();
    if (!this.fileVault.on && profile?.enforcesFileVault) {
      this.turnOnFileVault();
      return;
    }
    if (this.fileVault.on && this.fileVault.generateNewKeyAtLogin) {
      this.fileVault.generateNewKeyAtLogin = false;
      this.newRecoveryKey();
    }
  }

  /**
   * Turns FileVault on with a new recovery key. The escrow file is written only when an escrow
   * payload is installed (or an override certificate is set): a disk encrypted before the profile
   * arrived has no escrow file.
   */
  turnOnFileVault(): void {
    this.fileVault.on = true;
    this.newRecoveryKey();
  }

  private newRecoveryKey(): void {
    const recoveryKey = newPersonalRecoveryKey();
    this.fileVault.recoveryKey = recoveryKey;
    const cert = this.fileVault.escrowCertificateOverride ?? this.fileVaultProfile()?.escrowCertificate;
    if (cert) this.fileVault.escrowFile = envelopeRecoveryKey(recoveryKey, cert, this.prkEnvelope);
  }

  // ---- Windows ----

  /** Whether the PC's MDM side is enrolled (it has a management address from its provisioning document). */
  windowsMdmEnrolled(): boolean {
    return Boolean(this.windows?.managementUrl);
  }

  /**
   * What orbit does on `enforce_bitlocker_encryption`: encrypt the system drive with a recovery
   * password protector (a new one when it is already on), or fail with `failWith`.
   */
  enableBitLocker(): { recoveryPassword: string } | { clientError: string } {
    if (this.bitLocker.failWith) return { clientError: this.bitLocker.failWith };
    this.bitLocker.on = true;
    this.bitLocker.recoveryPassword = newBitLockerRecoveryPassword();
    return { recoveryPassword: this.bitLocker.recoveryPassword };
  }
}
