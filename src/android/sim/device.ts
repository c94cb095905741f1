import { randomBytes } from 'node:crypto';
import type { AmapiStandIn, Delivery } from '../../clients/amapi/fakeServer.js';
import type { AmapiDevice, NonComplianceDetail } from '../../clients/amapi/types.js';

export interface SimAndroidApp {
  packageName: string;
  displayName: string;
  versionName: string;
}

export interface SimAndroidDeviceOptions {
  ownership: 'COMPANY_OWNED' | 'PERSONALLY_OWNED';
  brand?: string;
  model?: string;
  serial?: string;
  androidVersion?: string;
  /** Google's per-enterprise device id (Flotilla's host UUID); random hex by default. */
  enterpriseSpecificId?: string;
  /** Top-level policy settings this device cannot apply → the nonComplianceReason it reports. */
  rejects?: Record<string, string>;
  /** Apps installed on the device, reported in applicationReports. */
  applications?: SimAndroidApp[];
}

/** Command types this device carries out; any other completes with an error. */
const supportedCommands = new Set(['LOCK', 'RESET_PASSWORD', 'REBOOT', 'RELINQUISH_OWNERSHIP']);
/** Install types that put an app from the policy on the device. */
const installingTypes = new Set(['FORCE_INSTALLED', 'REQUIRED_FOR_SETUP', 'PREINSTALLED', 'KIOSK']);

/**
 * A simulated Android device with Android Device Policy, talking to Google (the local stand-in):
 * it enrolls with an enrollment token, applies the policy Google holds for it and reports status,
 * and carries out device commands. Google then notifies Flotilla over Pub/Sub push, as in
 * production; Flotilla never talks to the device itself. The load generator uses it too.
 */
export class SimAndroidDevice {
  private deviceName: string | undefined;
  private readonly esid: string;
  private readonly hardwareInfo: NonNullable<AmapiDevice['hardwareInfo']>;

  constructor(
    private readonly standIn: AmapiStandIn,
    private readonly opts: SimAndroidDeviceOptions,
  ) {
    this.esid = opts.enterpriseSpecificId ?? randomBytes(8).toString('hex');
    const brand = opts.brand ?? 'Google';
    this.hardwareInfo = {
      brand,
      manufacturer: brand,
      model: opts.model ?? 'Pixel 8',
      hardware: 'shiba',
      serialNumber: opts.serial ?? randomBytes(6).toString('hex').toUpperCase(),
      enterpriseSpecificId: this.esid,
    };
  }

  /** The AMAPI device name (`enterprises/…/devices/…`); set by `enroll`. */
  get name(): string {
    if (!this.deviceName) throw new Error('the simulated Android device is not enrolled');
    return this.deviceName;
  }

  get enterpriseSpecificId(): string {
    return this.esid;
  }

  /** Enrolls with an enrollment token value (throws Google's refusal); answers the ENROLLMENT push. */
  async enroll(tokenValue: string): Promise<Delivery> {
    const { device, delivery } = await this.standIn.enrollDevice({
      tokenValue,
      ownership: this.opts.ownership,
      hardwareInfo: this.hardwareInfo,
      softwareInfo: {
        androidVersion: this.opts.androidVersion ?? '14',
        androidBuildNumber: 'UP1A.231005.007',
        securityPatchLevel: '2025-05-01',
      },
      memoryInfo: this.memoryInfo(),
    });
    this.deviceName = device.name;
    return delivery;
  }

  /**
   * Applies the policy Google holds for the device now and reports status (STATUS_REPORT): the
   * `rejects` settings present in the policy come back as non-compliance, the rest is applied.
   */
  sync(): Promise<Delivery> {
    const current = this.standIn.policyFor(this.name);
    const policy = current?.policy ?? {};
    const nonComplianceDetails: NonComplianceDetail[] = Object.entries(this.opts.rejects ?? {})
      .filter(([setting]) => setting in policy)
      .map(([settingName, nonComplianceReason]) => ({ settingName, nonComplianceReason }));
    const now = new Date().toISOString();
    return this.standIn.reportStatus(this.name, {
      ...(current ? { appliedPolicyName: current.name, appliedPolicyVersion: String(current.version) } : {}),
      policyCompliant: nonComplianceDetails.length === 0,
      nonComplianceDetails,
      lastPolicySyncTime: now,
      lastStatusReportTime: now,
      applicationReports: this.applicationReports(policy),
      memoryInfo: this.memoryInfo(),
      softwareInfo: {
        androidVersion: this.opts.androidVersion ?? '14',
        androidBuildNumber: 'UP1A.231005.007',
        securityPatchLevel: '2025-05-01',
        androidDevicePolicyVersionName: '125.34.0',
        primaryLanguageCode: 'en-US',
      },
    });
  }

  /** Carries out the commands Google holds for the device (COMMAND push for each); answers the deliveries. */
  async runCommands(): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (const op of this.standIn.pendingOperations(this.name)) {
      const type = String(op.metadata?.type ?? '');
      out.push(
        await this.standIn.completeOperation(
          op.name,
          supportedCommands.has(type)
            ? undefined
            : { code: 9, message: `Command ${type} is not supported on this device.` },
        ),
      );
    }
    return out;
  }

  /** The user removed the work profile or reset the device: the last report says DELETED (added). */
  removeManagement(): Promise<Delivery> {
    return this.standIn.reportStatus(this.name, { state: 'DELETED', appliedState: 'DELETED' });
  }

  private memoryInfo(): NonNullable<AmapiDevice['memoryInfo']> {
    return { totalRam: '8589934592', totalInternalStorage: '137438953472' };
  }

  /** The device's own apps plus the apps its policy installs. */
  private applicationReports(
    policy: Record<string, unknown>,
  ): NonNullable<AmapiDevice['applicationReports']> {
    const apps = new Map<string, SimAndroidApp>();
    for (const app of this.opts.applications ?? []) apps.set(app.packageName, app);
    const fromPolicy = Array.isArray(policy.applications)
      ? (policy.applications as Record<string, unknown>[])
      : [];
    for (const a of fromPolicy) {
      if (typeof a?.packageName !== 'string' || !installingTypes.has(String(a.installType))) continue;
      if (!apps.has(a.packageName)) {
        apps.set(a.packageName, {
          packageName: a.packageName,
          displayName: a.packageName,
          versionName: '1.0.0',
        });
      }
    }
    return [...apps.values()].map((a) => ({ ...a, state: 'INSTALLED' }));
  }
}
