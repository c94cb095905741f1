import type { AmapiState, FakePolicy } from './fakeAmapiState.js';
import { clone, hex } from './fakeAmapiState.js';
import type { AmapiDevice, AmapiOperation } from './types.js';

/**
 * The devices' side of Google for the stand-in: Android Device Policy enrolling with a token,
 * fetching its policy, reporting status and finishing commands. The caller publishes the
 * notification each step makes.
 */
export class FakeAndroidDevices {
  constructor(private readonly state: AmapiState) {}

  enroll(req: {
    tokenValue: string;
    ownership: 'COMPANY_OWNED' | 'PERSONALLY_OWNED';
    hardwareInfo: NonNullable<AmapiDevice['hardwareInfo']>;
    softwareInfo?: AmapiDevice['softwareInfo'];
    memoryInfo?: AmapiDevice['memoryInfo'];
  }): AmapiDevice {
    const token = this.state.enrollmentTokens.get(req.tokenValue);
    if (!token) throw new Error('The enrollment token is invalid.');
    const enterprise = token.name.split('/enrollmentTokens/')[0]!;
    if (!this.state.enterprises.has(enterprise)) {
      throw new Error('The enterprise of the enrollment token was deleted.');
    }
    if (token.expirationTimestamp && Date.parse(token.expirationTimestamp) <= Date.now()) {
      throw new Error('The enrollment token has expired.');
    }
    if (token.oneTimeOnly && this.state.usedTokens.has(req.tokenValue)) {
      throw new Error('The enrollment token has already been used.');
    }
    if (req.ownership === 'PERSONALLY_OWNED' && token.allowPersonalUsage !== 'PERSONAL_USAGE_ALLOWED') {
      throw new Error('Personal usage is not allowed by the enrollment token.');
    }
    this.state.usedTokens.add(req.tokenValue);
    const softwareInfo = {
      androidVersion: '14',
      androidBuildNumber: 'UP1A.231005.007',
      securityPatchLevel: '2025-05-01',
      androidDevicePolicyVersionName: '125.34.0',
      primaryLanguageCode: 'en-US',
      ...req.softwareInfo,
    };
    const device: AmapiDevice = {
      name: `${enterprise}/devices/${hex(8)}`,
      ownership: req.ownership,
      managementMode: req.ownership === 'COMPANY_OWNED' ? 'DEVICE_OWNER' : 'PROFILE_OWNER',
      state: 'ACTIVE',
      appliedState: 'ACTIVE',
      apiLevel: apiLevel(softwareInfo.androidVersion),
      enrollmentTime: new Date().toISOString(),
      enrollmentTokenName: token.name,
      ...(token.additionalData !== undefined ? { enrollmentTokenData: token.additionalData } : {}),
      policyName: token.policyName,
      hardwareInfo: clone(req.hardwareInfo),
      softwareInfo,
      memoryInfo: req.memoryInfo ?? { totalRam: '8589934592', totalInternalStorage: '68719476736' },
      // Android Device Policy measures internal storage once enrolled.
      memoryEvents: [
        {
          eventType: 'INTERNAL_STORAGE_MEASURED',
          byteCount: '10737418240',
          createTime: new Date().toISOString(),
        },
      ],
    };
    this.state.devices.set(device.name, device);
    return clone(device);
  }

  policyFor(deviceName: string): FakePolicy | undefined {
    const device = this.state.devices.get(deviceName);
    const policy = device?.policyName ? this.state.policies.get(device.policyName) : undefined;
    return policy ? clone(policy) : undefined;
  }

  reportStatus(deviceName: string, patch: Partial<AmapiDevice>): AmapiDevice {
    const device = this.state.devices.get(deviceName);
    if (!device) throw new Error(`unknown device ${deviceName}`);
    Object.assign(device, clone(patch), { name: device.name });
    if (patch.lastStatusReportTime === undefined) device.lastStatusReportTime = new Date().toISOString();
    return clone(device);
  }

  pendingOperations(deviceName: string): AmapiOperation[] {
    return [...this.state.operations.values()]
      .filter((o) => o.name.startsWith(`${deviceName}/operations/`) && !o.done)
      .map((o) => clone(o));
  }

  completeOperation(operationName: string, error?: { code: number; message: string }): AmapiOperation {
    const op = this.state.operations.get(operationName);
    if (!op) throw new Error(`unknown operation ${operationName}`);
    op.done = true;
    if (error) op.error = { code: error.code, message: error.message };
    return clone(op);
  }
}

/** Android's API level for a release number (`14` → 34). */
function apiLevel(androidVersion: string | undefined): number {
  const major = Number.parseInt(androidVersion ?? '', 10);
  const levels: Record<number, number> = {
    8: 26,
    9: 28,
    10: 29,
    11: 30,
    12: 31,
    13: 33,
    14: 34,
    15: 35,
    16: 36,
  };
  return levels[major] ?? 34;
}
