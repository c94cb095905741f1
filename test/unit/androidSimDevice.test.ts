import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimAndroidDevice } from '../../src/android/sim/device.js';
import { createGoogleAndroidClient } from '../../src/clients/amapi/client.js';
import { startAmapiStandIn, type AmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import type { AndroidManagementClient } from '../../src/clients/amapi/types.js';
import { bindEnterpriseDirect, decodePush, startPushReceiver, type PushReceiver } from '../helpers/amapi.js';

let standIn: AmapiStandIn;
let receiver: PushReceiver;
let client: AndroidManagementClient;

beforeAll(async () => {
  standIn = await startAmapiStandIn();
  receiver = await startPushReceiver();
  client = createGoogleAndroidClient({
    serviceAccount: standIn.serviceAccount,
    apiUrl: standIn.url,
    pubsubApiUrl: standIn.url,
    retryBaseDelayMs: 1,
  });
});
afterAll(async () => {
  await receiver.close();
  await standIn.close();
});

const additionalData = '{"EnrollSecret":"secret-1","IdpUUID":""}';

/** A fresh enterprise whose pushes reach the receiver, and an enrollment token for it. */
async function enterpriseWithToken(
  token: {
    oneTimeOnly?: boolean;
    allowPersonalUsage?: 'PERSONAL_USAGE_ALLOWED' | 'PERSONAL_USAGE_DISALLOWED';
  } = {},
) {
  const { enterpriseName } = await bindEnterpriseDirect(client, standIn, {
    pushEndpoint: `${receiver.url}push`,
  });
  const policyName = `${enterpriseName}/policies/1`;
  await client.policiesPatch(policyName, { statusReportingSettings: { softwareInfoEnabled: true } });
  const created = await client.enrollmentTokensCreate(enterpriseName, {
    policyName,
    allowPersonalUsage: token.allowPersonalUsage ?? 'PERSONAL_USAGE_ALLOWED',
    oneTimeOnly: token.oneTimeOnly ?? true,
    duration: '3600s',
    additionalData,
  });
  return { enterpriseName, policyName, tokenValue: created.value };
}

/** The push a delivery made, decoded. */
function pushOf(delivery: { messageId: string }) {
  const found = receiver.received
    .map((r) => decodePush(r.body))
    .find((p) => p.messageId === delivery.messageId);
  if (!found) throw new Error(`no push with message ${delivery.messageId}`);
  return found;
}

describe('simulated Android device against the Google stand-in', () => {
  it('enrolls with a token: ENROLLMENT push carries the Device with the token data', async () => {
    const { enterpriseName, policyName, tokenValue } = await enterpriseWithToken();
    const sim = new SimAndroidDevice(standIn, {
      ownership: 'PERSONALLY_OWNED',
      brand: 'samsung',
      model: 'SM-S918B',
      serial: 'R5CT1234',
      androidVersion: '13',
      enterpriseSpecificId: 'ESID-1',
    });
    const delivery = await sim.enroll(tokenValue);
    expect(delivery.status).toBe(200);
    expect(sim.name).toMatch(new RegExp(`^${enterpriseName}/devices/[0-9a-f]{16}$`));
    expect(sim.enterpriseSpecificId).toBe('ESID-1');
    const push = pushOf(delivery);
    expect(push.notificationType).toBe('ENROLLMENT');
    expect(push.data).toMatchObject({
      name: sim.name,
      ownership: 'PERSONALLY_OWNED',
      managementMode: 'PROFILE_OWNER',
      state: 'ACTIVE',
      appliedState: 'ACTIVE',
      apiLevel: 33,
      policyName,
      enrollmentTokenData: additionalData,
      hardwareInfo: {
        brand: 'samsung',
        model: 'SM-S918B',
        serialNumber: 'R5CT1234',
        enterpriseSpecificId: 'ESID-1',
      },
      softwareInfo: { androidVersion: '13' },
      memoryInfo: { totalRam: expect.any(String) as string },
    });
    expect(standIn.devices.get(sim.name)).toEqual(push.data);
  });

  it('pushes the shape Google pushes (compared with the recorded ENROLLMENT vector)', async () => {
    const vector = JSON.parse(
      readFileSync(new URL('../vectors/android/pubsub_push_enrollment.json', import.meta.url), 'utf8'),
    ) as { message: Record<string, unknown> };
    const { tokenValue } = await enterpriseWithToken();
    const delivery = await new SimAndroidDevice(standIn, { ownership: 'PERSONALLY_OWNED' }).enroll(
      tokenValue,
    );
    const raw = receiver.received.find((r) => decodePush(r.body).messageId === delivery.messageId)!;
    const body = JSON.parse(raw.body) as { message: Record<string, unknown>; subscription: string };
    expect(Object.keys(body).sort()).toEqual(Object.keys(vector).sort());
    expect(Object.keys(body.message).sort()).toEqual(Object.keys(vector.message).sort());
    const expectedDevice = decodePush(JSON.stringify(vector)).data;
    const device = pushOf(delivery).data;
    expect(Object.keys(device).sort()).toEqual(Object.keys(expectedDevice).sort());
    for (const part of ['hardwareInfo', 'softwareInfo', 'memoryInfo'] as const) {
      expect(Object.keys(device[part] as object)).toEqual(
        expect.arrayContaining(Object.keys(expectedDevice[part] as object)),
      );
    }
    expect(raw.headers['content-type']).toBe('application/json');
  });

  it('refuses a one-time token the second time, and Google holds no second device', async () => {
    const { enterpriseName, tokenValue } = await enterpriseWithToken({ oneTimeOnly: true });
    await new SimAndroidDevice(standIn, { ownership: 'COMPANY_OWNED' }).enroll(tokenValue);
    const count = () => [...standIn.devices.keys()].filter((k) => k.startsWith(`${enterpriseName}/`)).length;
    const pushes = receiver.received.length;
    const second = new SimAndroidDevice(standIn, { ownership: 'COMPANY_OWNED' });
    await expect(second.enroll(tokenValue)).rejects.toThrow('The enrollment token has already been used.');
    expect(count()).toBe(1);
    expect(receiver.received.length).toBe(pushes);
    expect(() => second.name).toThrow('not enrolled');
  });

  it('lets a reusable token enroll several devices', async () => {
    const { tokenValue } = await enterpriseWithToken({ oneTimeOnly: false });
    const a = new SimAndroidDevice(standIn, { ownership: 'COMPANY_OWNED' });
    const b = new SimAndroidDevice(standIn, { ownership: 'COMPANY_OWNED' });
    await a.enroll(tokenValue);
    await b.enroll(tokenValue);
    expect(a.name).not.toBe(b.name);
    expect(a.enterpriseSpecificId).not.toBe(b.enterpriseSpecificId);
  });

  it('refuses an expired token, an unknown token, and a personal device when personal usage is disallowed', async () => {
    const expired = await enterpriseWithToken();
    standIn.enrollmentTokens.get(expired.tokenValue)!.expirationTimestamp = new Date(
      Date.now() - 1000,
    ).toISOString();
    await expect(
      new SimAndroidDevice(standIn, { ownership: 'COMPANY_OWNED' }).enroll(expired.tokenValue),
    ).rejects.toThrow('The enrollment token has expired.');
    await expect(
      new SimAndroidDevice(standIn, { ownership: 'COMPANY_OWNED' }).enroll('NOSUCHTOKEN'),
    ).rejects.toThrow('The enrollment token is invalid.');
    const companyOnly = await enterpriseWithToken({ allowPersonalUsage: 'PERSONAL_USAGE_DISALLOWED' });
    await expect(
      new SimAndroidDevice(standIn, { ownership: 'PERSONALLY_OWNED' }).enroll(companyOnly.tokenValue),
    ).rejects.toThrow('Personal usage is not allowed');
    for (const e of [expired.enterpriseName, companyOnly.enterpriseName]) {
      expect([...standIn.devices.keys()].filter((k) => k.startsWith(`${e}/`))).toEqual([]);
    }
  });

  it('applies its policy: rejected settings come back as non-compliance in the STATUS_REPORT', async () => {
    const { enterpriseName, tokenValue } = await enterpriseWithToken();
    const sim = new SimAndroidDevice(standIn, {
      ownership: 'COMPANY_OWNED',
      rejects: { passwordPolicies: 'USER_ACTION', screenCaptureDisabled: 'INVALID_VALUE' },
      applications: [
        { packageName: 'com.google.android.apps.maps', displayName: 'Maps', versionName: '11.1' },
      ],
    });
    await sim.enroll(tokenValue);
    const hostPolicy = `${enterpriseName}/policies/${sim.enterpriseSpecificId}`;
    const patched = await client.policiesPatch(hostPolicy, {
      passwordPolicies: [{ passwordMinimumLength: 12 }],
      cameraAccess: 'CAMERA_ACCESS_DISABLED',
      applications: [{ packageName: 'com.android.chrome', installType: 'FORCE_INSTALLED' }],
    });
    await client.devicesPatch(sim.name, { policyName: hostPolicy }, 'policyName');

    const delivery = await sim.sync();
    expect(delivery.status).toBe(200);
    const push = pushOf(delivery);
    expect(push.notificationType).toBe('STATUS_REPORT');
    expect(push.data).toMatchObject({
      name: sim.name,
      appliedPolicyName: hostPolicy,
      appliedPolicyVersion: patched.version,
      policyCompliant: false,
      nonComplianceDetails: [{ settingName: 'passwordPolicies', nonComplianceReason: 'USER_ACTION' }],
    });
    expect(push.data.applicationReports).toEqual([
      {
        packageName: 'com.google.android.apps.maps',
        displayName: 'Maps',
        versionName: '11.1',
        state: 'INSTALLED',
      },
      {
        packageName: 'com.android.chrome',
        displayName: 'com.android.chrome',
        versionName: '1.0.0',
        state: 'INSTALLED',
      },
    ]);
    expect(typeof push.data.lastStatusReportTime).toBe('string');

    // The admin drops the rejected setting: the next report is compliant at the new version.
    const fixed = await client.policiesPatch(hostPolicy, { cameraAccess: 'CAMERA_ACCESS_DISABLED' });
    const next = pushOf(await sim.sync());
    expect(next.data).toMatchObject({
      appliedPolicyVersion: fixed.version,
      policyCompliant: true,
      nonComplianceDetails: [],
    });
  });

  it('carries out commands: LOCK succeeds, an unsupported type completes with an error (COMMAND pushes)', async () => {
    const { tokenValue } = await enterpriseWithToken();
    const sim = new SimAndroidDevice(standIn, { ownership: 'COMPANY_OWNED' });
    await sim.enroll(tokenValue);
    const lock = await client.devicesIssueCommand(sim.name, { type: 'LOCK', duration: '60s' });
    const clear = await client.devicesIssueCommand(sim.name, { type: 'CLEAR_APP_DATA' });
    expect(standIn.pendingOperations(sim.name).map((o) => o.name)).toEqual([lock.name, clear.name]);

    const deliveries = await sim.runCommands();
    expect(deliveries.map((d) => d.status)).toEqual([200, 200]);
    const [lockPush, clearPush] = deliveries.map(pushOf);
    expect(lockPush!.notificationType).toBe('COMMAND');
    expect(lockPush!.data).toMatchObject({
      name: lock.name,
      done: true,
      metadata: { type: 'LOCK', duration: '60s' },
    });
    expect(lockPush!.data.error).toBeUndefined();
    expect(clearPush!.data).toMatchObject({ name: clear.name, done: true, error: { code: 9 } });
    expect(standIn.pendingOperations(sim.name)).toEqual([]);
    expect(await client.operationsGet(lock.name)).toMatchObject({ done: true });
    expect(await sim.runCommands()).toEqual([]);
  });

  it('reports DELETED when management is removed on the device', async () => {
    const { tokenValue } = await enterpriseWithToken();
    const sim = new SimAndroidDevice(standIn, { ownership: 'PERSONALLY_OWNED' });
    await sim.enroll(tokenValue);
    const push = pushOf(await sim.removeManagement());
    expect(push).toMatchObject({
      notificationType: 'STATUS_REPORT',
      data: { name: sim.name, state: 'DELETED', appliedState: 'DELETED' },
    });
  });
});
