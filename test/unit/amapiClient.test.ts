import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGoogleAndroidClient } from '../../src/clients/amapi/client.js';
import { startAmapiStandIn, type AmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import {
  AmapiError,
  type AndroidManagementClient,
  type ServiceAccountKey,
} from '../../src/clients/amapi/types.js';
import {
  amapiPublisher,
  bindEnterpriseDirect,
  decodePush,
  startPushReceiver,
  type PushReceiver,
} from '../helpers/amapi.js';

let standIn: AmapiStandIn;
let receiver: PushReceiver;
let client: AndroidManagementClient;

function newClient(serviceAccount: ServiceAccountKey = standIn.serviceAccount, maxRetries = 3) {
  return createGoogleAndroidClient({
    serviceAccount,
    apiUrl: standIn.url,
    pubsubApiUrl: standIn.url,
    retryBaseDelayMs: 1,
    maxRetryDelayMs: 5,
    maxRetries,
  });
}

beforeAll(async () => {
  standIn = await startAmapiStandIn();
  receiver = await startPushReceiver();
  client = newClient();
});
afterAll(async () => {
  await receiver.close();
  await standIn.close();
});

async function refusal(p: Promise<unknown>): Promise<AmapiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AmapiError);
  return err as AmapiError;
}

const requestsTo = (method: string, path: string) =>
  standIn.requests.filter((r) => r.method === method && r.path === path);

/** An enterprise of its own (so no test sees another's devices) whose pushes reach `receiver`. */
function enterprise(oidcToken?: { serviceAccountEmail: string; audience: string }) {
  return bindEnterpriseDirect(client, standIn, { pushEndpoint: `${receiver.url}push?token=t`, oidcToken });
}

/** A device enrolled at Google in the enterprise through a fresh enrollment token. */
async function enrolledDevice(enterpriseName: string) {
  const token = await client.enrollmentTokensCreate(enterpriseName, {
    policyName: `${enterpriseName}/policies/1`,
    allowPersonalUsage: 'PERSONAL_USAGE_ALLOWED',
    oneTimeOnly: true,
    duration: '3600s',
    additionalData: '{"EnrollSecret":"s","IdpUUID":""}',
  });
  const { device } = await standIn.enrollDevice({
    tokenValue: token.value,
    ownership: 'COMPANY_OWNED',
    hardwareInfo: {
      brand: 'Google',
      model: 'Pixel 8',
      serialNumber: 'SER1',
      enterpriseSpecificId: randomUUID(),
    },
  });
  return device;
}

describe('AMAPI client against the Google stand-in: signup and enterprises', () => {
  it('creates a signup URL with the project and callback URL as query parameters', async () => {
    const callbackUrl = 'https://mdm.example.test/api/v1/fleet/android_enterprise/connect/abc';
    const signup = await client.signupUrlsCreate(callbackUrl);
    expect(signup.name).toMatch(/^signupUrls\/C[0-9a-f]{16}$/);
    expect(signup.url).toMatch(/^https:\/\/play\.google\.com\/work\/adminsignup\?token=/);
    const call = requestsTo('POST', '/v1/signupUrls').at(-1)!;
    expect(call.query).toEqual({ projectId: 'flotilla-test', callbackUrl });
  });

  it('creates an enterprise with the token as query and the topic and notification types as body', async () => {
    const { enterpriseName, topicName } = await enterprise();
    expect(enterpriseName).toMatch(/^enterprises\/LC0/);
    const call = requestsTo('POST', '/v1/enterprises').at(-1)!;
    expect(Object.keys(call.query).sort()).toEqual(['enterpriseToken', 'projectId', 'signupUrlName']);
    expect(call.query.projectId).toBe('flotilla-test');
    expect(call.body).toEqual({
      pubsubTopic: topicName,
      enabledNotificationTypes: ['ENROLLMENT', 'STATUS_REPORT', 'COMMAND', 'USAGE_LOGS'],
    });
    expect(standIn.enterprises.get(enterpriseName)).toMatchObject({ pubsubTopic: topicName });
  });

  it('refuses enterprises.create with a wrong enterprise token, and stores nothing', async () => {
    const signup = await client.signupUrlsCreate('https://mdm.example.test/cb');
    standIn.completeSignup(signup.name);
    const before = standIn.enterprises.size;
    const err = await refusal(
      client.enterprisesCreate({
        enterpriseToken: 'not-the-token',
        signupUrlName: signup.name,
        pubsubTopic: 'projects/flotilla-test/topics/none',
        enabledNotificationTypes: ['ENROLLMENT'],
      }),
    );
    expect(err.status).toBe(400);
    expect(err.googleMessage).toBe('The enterprise token is invalid.');
    expect(standIn.enterprises.size).toBe(before);
  });

  it('refuses a topic AMAPI may not publish to (no publisher grant)', async () => {
    const topic = await client.pubsubCreateTopic(`a${randomUUID()}`, { messageRetentionDuration: '86400s' });
    const signup = await client.signupUrlsCreate('https://mdm.example.test/cb');
    const enterpriseToken = standIn.completeSignup(signup.name);
    const before = standIn.enterprises.size;
    const err = await refusal(
      client.enterprisesCreate({
        enterpriseToken,
        signupUrlName: signup.name,
        pubsubTopic: topic,
        enabledNotificationTypes: ['ENROLLMENT'],
      }),
    );
    expect(err.status).toBe(400);
    expect(standIn.enterprises.size).toBe(before);
  });

  it('lists every enterprise of the project page by page, and deletes one', async () => {
    const a = await enterprise();
    const b = await enterprise();
    const pagesBefore = requestsTo('GET', '/v1/enterprises').length;
    standIn.maxPageSize = 1;
    let names: string[];
    try {
      names = await client.enterprisesList();
    } finally {
      standIn.maxPageSize = 100;
    }
    expect(names).toEqual([...standIn.enterprises.keys()].sort());
    expect(names).toEqual(expect.arrayContaining([a.enterpriseName, b.enterpriseName]));
    expect(requestsTo('GET', '/v1/enterprises').length - pagesBefore).toBe(names.length);

    await client.enterprisesDelete(a.enterpriseName);
    expect(standIn.enterprises.has(a.enterpriseName)).toBe(false);
    const err = await refusal(client.enterprisesDelete(a.enterpriseName));
    expect(err.notFound).toBe(true);
  });
});

describe('AMAPI client: policies, enrollment tokens, devices, commands', () => {
  it('patches a whole policy without an update mask and answers the new version as a string', async () => {
    const { enterpriseName } = await enterprise();
    const name = `${enterpriseName}/policies/1`;
    const first = await client.policiesPatch(name, {
      cameraAccess: 'CAMERA_ACCESS_DISABLED',
      statusReportingSettings: { softwareInfoEnabled: true },
    });
    expect(first).toEqual({
      name,
      version: '1',
      cameraAccess: 'CAMERA_ACCESS_DISABLED',
      statusReportingSettings: { softwareInfoEnabled: true },
    });
    const second = await client.policiesPatch(name, { cameraAccess: 'CAMERA_ACCESS_ENFORCED' });
    expect(second.version).toBe('2');
    expect(standIn.policies.get(name)).toEqual({
      name,
      version: 2,
      policy: { cameraAccess: 'CAMERA_ACCESS_ENFORCED' },
    });
    const call = requestsTo('PATCH', `/v1/${name}`).at(-1)!;
    expect(call.query).toEqual({});
    expect(call.body).toEqual({ cameraAccess: 'CAMERA_ACCESS_ENFORCED' });
  });

  it('creates an enrollment token with the request as body; Google answers value, expiry and QR code', async () => {
    const { enterpriseName } = await enterprise();
    const req = {
      policyName: `${enterpriseName}/policies/1`,
      allowPersonalUsage: 'PERSONAL_USAGE_ALLOWED' as const,
      oneTimeOnly: true,
      duration: '3600s',
      additionalData: '{"EnrollSecret":"abc","IdpUUID":""}',
    };
    const token = await client.enrollmentTokensCreate(enterpriseName, req);
    expect(token.name).toMatch(new RegExp(`^${enterpriseName}/enrollmentTokens/`));
    expect(token.value).toMatch(/^[A-Z]{20}$/);
    expect(token).toMatchObject({
      policyName: req.policyName,
      additionalData: req.additionalData,
      oneTimeOnly: true,
    });
    const expiresIn = Date.parse(token.expirationTimestamp!) - Date.now();
    expect(expiresIn).toBeGreaterThan(3500_000);
    expect(expiresIn).toBeLessThanOrEqual(3600_000);
    const qr = JSON.parse(token.qrCode!) as Record<string, Record<string, string>>;
    expect(qr['android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE']).toEqual({
      'com.google.android.apps.work.clouddpc.EXTRA_ENROLLMENT_TOKEN': token.value,
    });
    expect(requestsTo('POST', `/v1/${enterpriseName}/enrollmentTokens`).at(-1)!.body).toEqual(req);
  });

  it('refuses an enrollment token longer than 90 days', async () => {
    const { enterpriseName } = await enterprise();
    const before = standIn.enrollmentTokens.size;
    const err = await refusal(
      client.enrollmentTokensCreate(enterpriseName, {
        policyName: `${enterpriseName}/policies/1`,
        allowPersonalUsage: 'PERSONAL_USAGE_ALLOWED',
        oneTimeOnly: true,
        duration: `${91 * 86400}s`,
        additionalData: '',
      }),
    );
    expect(err.status).toBe(400);
    expect(standIn.enrollmentTokens.size).toBe(before);
  });

  it('gets, lists (paged), patches and deletes devices', async () => {
    const { enterpriseName } = await enterprise();
    const devices = [await enrolledDevice(enterpriseName), await enrolledDevice(enterpriseName)];
    devices.push(await enrolledDevice(enterpriseName));

    expect(await client.devicesGet(devices[0]!.name)).toEqual(devices[0]);

    standIn.maxPageSize = 2;
    let first, second;
    try {
      first = await client.devicesList(enterpriseName);
      second = await client.devicesList(enterpriseName, first.nextPageToken);
    } finally {
      standIn.maxPageSize = 100;
    }
    expect(first.devices).toHaveLength(2);
    expect(first.nextPageToken).toBeTruthy();
    expect(second.devices).toHaveLength(1);
    expect(second.nextPageToken).toBeUndefined();
    expect([...first.devices, ...second.devices].map((d) => d.name).sort()).toEqual(
      devices.map((d) => d.name).sort(),
    );

    const policyName = `${enterpriseName}/policies/host-1`;
    const patched = await client.devicesPatch(
      devices[0]!.name,
      { policyName, state: 'ACTIVE' },
      'policyName',
    );
    expect(patched.policyName).toBe(policyName);
    const patchCall = requestsTo('PATCH', `/v1/${devices[0]!.name}`).at(-1)!;
    expect(patchCall.query).toEqual({ updateMask: 'policyName' });
    expect(patchCall.body).toEqual({ policyName, state: 'ACTIVE' });

    await client.devicesDelete(devices[1]!.name, {
      wipeDataFlags: ['WIPE_EXTERNAL_STORAGE'],
      wipeReasonMessage: 'Lost',
    });
    expect(requestsTo('DELETE', `/v1/${devices[1]!.name}`).at(-1)!.query).toEqual({
      wipeDataFlags: 'WIPE_EXTERNAL_STORAGE',
      wipeReasonMessage: 'Lost',
    });
    expect(standIn.devices.has(devices[1]!.name)).toBe(false);
    expect(standIn.deletedDevices.get(devices[1]!.name)).toMatchObject({
      wipeDataFlags: ['WIPE_EXTERNAL_STORAGE'],
      wipeReasonMessage: 'Lost',
    });
    expect((await refusal(client.devicesGet(devices[1]!.name))).notFound).toBe(true);
  });

  it('refuses a device patch to another enterprise policy, leaving the device as it was', async () => {
    const { enterpriseName } = await enterprise();
    const device = await enrolledDevice(enterpriseName);
    const err = await refusal(
      client.devicesPatch(device.name, { policyName: 'enterprises/LC0other/policies/1' }, 'policyName'),
    );
    expect(err.status).toBe(400);
    expect(standIn.devices.get(device.name)!.policyName).toBe(device.policyName);
  });

  it('issues a command as an operation and reads it back; the new password is never echoed', async () => {
    const { enterpriseName } = await enterprise();
    const device = await enrolledDevice(enterpriseName);
    const op = await client.devicesIssueCommand(device.name, {
      type: 'RESET_PASSWORD',
      newPassword: 'hunter2-secret',
      resetPasswordFlags: ['LOCK_NOW'],
    });
    expect(op.name).toMatch(new RegExp(`^${device.name}/operations/\\d+$`));
    expect(op.done).toBe(false);
    expect(op.metadata).toMatchObject({
      '@type': 'type.googleapis.com/google.android.devicemanagement.v1.Command',
      type: 'RESET_PASSWORD',
      resetPasswordFlags: ['LOCK_NOW'],
    });
    expect(JSON.stringify(op)).not.toContain('hunter2-secret');
    expect(await client.operationsGet(op.name)).toEqual(op);

    await standIn.completeOperation(op.name);
    expect((await client.operationsGet(op.name)).done).toBe(true);

    const bad = await refusal(client.devicesIssueCommand(device.name, { type: 'SELF_DESTRUCT' }));
    expect(bad.status).toBe(400);
    expect((await refusal(client.operationsGet(`${device.name}/operations/1`))).notFound).toBe(true);
  });
});

describe('AMAPI client: Pub/Sub admin calls', () => {
  it('creates a topic with retention, grants publisher once, creates and deletes a push subscription', async () => {
    const id = `a${randomUUID()}`;
    const topic = await client.pubsubCreateTopic(id, { messageRetentionDuration: '86400s' });
    expect(topic).toBe(`projects/flotilla-test/topics/${id}`);
    expect(requestsTo('PUT', `/v1/${topic}`).at(-1)!.body).toEqual({ messageRetentionDuration: '86400s' });

    await client.pubsubGrantTopicRole(topic, 'roles/pubsub.publisher', amapiPublisher);
    await client.pubsubGrantTopicRole(topic, 'roles/pubsub.publisher', amapiPublisher);
    expect(standIn.topics.get(topic)!.iam).toEqual([
      { role: 'roles/pubsub.publisher', members: [amapiPublisher] },
    ]);
    expect(requestsTo('POST', `/v1/${topic}:setIamPolicy`)).toHaveLength(1);
    expect(requestsTo('GET', `/v1/${topic}:getIamPolicy`)).toHaveLength(2);

    const oidcToken = {
      serviceAccountEmail: 'push@flotilla-test.iam.gserviceaccount.com',
      audience: 'flotilla',
    };
    const sub = await client.pubsubCreatePushSubscription({
      subscriptionId: id,
      topicName: topic,
      pushEndpoint: 'https://mdm.example.test/api/v1/fleet/android_enterprise/pubsub?token=x',
      ackDeadlineSeconds: 60,
      oidcToken,
    });
    expect(sub).toBe(`projects/flotilla-test/subscriptions/${id}`);
    expect(requestsTo('PUT', `/v1/${sub}`).at(-1)!.body).toEqual({
      topic,
      ackDeadlineSeconds: 60,
      pushConfig: {
        pushEndpoint: 'https://mdm.example.test/api/v1/fleet/android_enterprise/pubsub?token=x',
        oidcToken,
      },
    });
    expect(standIn.subscriptions.get(sub)).toEqual({
      name: sub,
      topic,
      pushEndpoint: 'https://mdm.example.test/api/v1/fleet/android_enterprise/pubsub?token=x',
      ackDeadlineSeconds: 60,
      oidcToken,
    });
    const dup = await refusal(client.pubsubCreateTopic(id, { messageRetentionDuration: '86400s' }));
    expect(dup.conflict).toBe(true);

    await client.pubsubDeleteSubscription(sub);
    await client.pubsubDeleteTopic(topic);
    expect(standIn.subscriptions.has(sub)).toBe(false);
    expect(standIn.topics.has(topic)).toBe(false);
    expect((await refusal(client.pubsubDeleteTopic(topic))).notFound).toBe(true);
  });
});

describe('AMAPI client: the service-account token', () => {
  it("exchanges the JWT at the key's token_uri once and reuses the access token", async () => {
    const own = newClient();
    const grantsBefore = requestsTo('POST', '/token').length;
    await own.signupUrlsCreate('https://mdm.example.test/cb');
    await own.signupUrlsCreate('https://mdm.example.test/cb');
    const grants = requestsTo('POST', '/token').slice(grantsBefore);
    expect(grants).toHaveLength(1);
    expect(grants[0]!.body).toMatchObject({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer' });
  });

  it('gets a new access token when Google stops accepting the old one', async () => {
    const own = newClient();
    await own.signupUrlsCreate('https://mdm.example.test/cb');
    const grantsBefore = requestsTo('POST', '/token').length;
    standIn.expireAccessTokens();
    await own.signupUrlsCreate('https://mdm.example.test/cb');
    expect(requestsTo('POST', '/token').length - grantsBefore).toBe(1);
  });

  it('is refused when the key is not the service account’s (wrong signature): no API call is made', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = {
      ...standIn.serviceAccount,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    const before = standIn.requests.length;
    const err = await refusal(newClient(forged).signupUrlsCreate('https://mdm.example.test/cb'));
    expect(err.status).toBe(400);
    expect(err.googleMessage).toBe('invalid_grant: Invalid JWT Signature.');
    expect(standIn.requests.slice(before).map((r) => r.path)).toEqual(['/token']);
    expect(err.message).not.toContain('PRIVATE KEY');
  });

  it('retries a token endpoint answering 503, then calls the API', async () => {
    const own = newClient();
    standIn.failNext('token', 503, { message: 'backend unavailable' });
    const grantsBefore = requestsTo('POST', '/token').length;
    const signup = await own.signupUrlsCreate('https://mdm.example.test/cb');
    expect(signup.name).toMatch(/^signupUrls\//);
    expect(requestsTo('POST', '/token').length - grantsBefore).toBe(2);
  });

  it('is refused for an unknown service account e-mail', async () => {
    const other = {
      ...standIn.serviceAccount,
      client_email: 'intruder@flotilla-test.iam.gserviceaccount.com',
    };
    const err = await refusal(newClient(other).devicesGet('enterprises/LC0x/devices/1'));
    expect(err.status).toBe(400);
    expect(err.googleMessage).toContain('invalid_grant');
  });

  it('answers a token endpoint that cannot be reached as a network error, without the URL', async () => {
    const unreachable = { ...standIn.serviceAccount, token_uri: 'http://127.0.0.1:1/token' };
    const err = await refusal(newClient(unreachable).signupUrlsCreate('https://mdm.example.test/cb'));
    expect(err.status).toBe(0);
    expect(err.googleMessage).toBe('network error: ECONNREFUSED');
  });

  it('gives up on a Google that does not answer within timeoutMs, as a network timeout', async () => {
    const silent = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
      const slow = createGoogleAndroidClient({
        serviceAccount: standIn.serviceAccount,
        apiUrl: url,
        pubsubApiUrl: url,
        timeoutMs: 200,
      });
      const err = await refusal(slow.devicesGet('enterprises/LC0x/devices/1'));
      expect([err.status, err.googleMessage, err.retryable]).toEqual([0, 'network error: timeout', false]);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('is refused (401) on an API call without a bearer token', async () => {
    const res = await fetch(`${standIn.url}v1/enterprises?projectId=flotilla-test`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: {
        code: 401,
        message: 'Request had invalid authentication credentials.',
        status: 'UNAUTHENTICATED',
      },
    });
  });
});

describe('AMAPI client: Google errors', () => {
  it('maps 404, and a 500 saying "Requested entity was not found.", to notFound', async () => {
    standIn.failNext('devices.get', 404);
    const e404 = await refusal(client.devicesGet('enterprises/LC0x/devices/1'));
    expect([e404.status, e404.notFound, e404.call, e404.googleMessage]).toEqual([
      404,
      true,
      'devices.get',
      'Requested entity was not found.',
    ]);
    standIn.failNext('devices.get', 500, { message: 'Requested entity was not found.' });
    const e500 = await refusal(client.devicesGet('enterprises/LC0x/devices/1'));
    expect([e500.status, e500.notFound, e500.retryable]).toEqual([500, true, false]);
  });

  it('maps 304 to notModified', async () => {
    const signup = await client.signupUrlsCreate('https://mdm.example.test/cb');
    const enterpriseToken = standIn.completeSignup(signup.name);
    standIn.failNext('enterprises.create', 304);
    const err = await refusal(
      client.enterprisesCreate({
        enterpriseToken,
        signupUrlName: signup.name,
        pubsubTopic: 'x',
        enabledNotificationTypes: [],
      }),
    );
    expect([err.status, err.notModified]).toEqual([304, true]);
  });

  it('does not carry query secrets (the enterprise token) into the error', async () => {
    const signup = await client.signupUrlsCreate('https://mdm.example.test/cb');
    const enterpriseToken = standIn.completeSignup(signup.name);
    standIn.failNext('enterprises.create', 400, { message: 'Bad.' });
    const err = await refusal(
      client.enterprisesCreate({
        enterpriseToken,
        signupUrlName: signup.name,
        pubsubTopic: 'x',
        enabledNotificationTypes: [],
      }),
    );
    expect(err.message).toBe('Google enterprises.create: HTTP 400: Bad.');
  });

  it('retries a 429 (also for a POST) and succeeds', async () => {
    const { enterpriseName } = await enterprise();
    const device = await enrolledDevice(enterpriseName);
    standIn.failNext('devices.issueCommand', 429, { times: 2, retryAfterSeconds: 0 });
    const before = requestsTo('POST', `/v1/${device.name}:issueCommand`).length;
    const op = await client.devicesIssueCommand(device.name, { type: 'LOCK' });
    expect(op.metadata?.type).toBe('LOCK');
    expect(requestsTo('POST', `/v1/${device.name}:issueCommand`).length - before).toBe(3);
    // The two refused attempts created nothing: one operation for one command.
    expect([...standIn.operations.keys()].filter((k) => k.startsWith(device.name))).toEqual([op.name]);
  });

  it('retries a 503 on a Pub/Sub call and succeeds', async () => {
    const id = `a${randomUUID()}`;
    standIn.failNext('pubsub.topics.create', 503);
    const topic = await client.pubsubCreateTopic(id, { messageRetentionDuration: '86400s' });
    expect(requestsTo('PUT', `/v1/${topic}`)).toHaveLength(2);
    expect(standIn.topics.has(topic)).toBe(true);
  });

  it('gives up after the retries with a retryable error carrying Retry-After', async () => {
    standIn.failNext('policies.patch', 429, { times: 4, retryAfterSeconds: 7 });
    const before = standIn.requests.length;
    const err = await refusal(client.policiesPatch('enterprises/LC0x/policies/1', {}));
    expect([err.status, err.retryable, err.retryAfterSeconds]).toEqual([429, true, 7]);
    expect(standIn.requests.slice(before).filter((r) => r.method === 'PATCH')).toHaveLength(4);
  });

  it('does not retry other errors', async () => {
    standIn.failNext('operations.get', 400);
    const before = standIn.requests.length;
    const err = await refusal(client.operationsGet('enterprises/LC0x/devices/1/operations/1'));
    expect([err.status, err.retryable]).toEqual([400, false]);
    expect(standIn.requests.length - before).toBe(1);
  });
});

describe('Pub/Sub push from the stand-in', () => {
  it('pushes the notification with a Google-signed OIDC token that google-auth-library verifies', async () => {
    const oidcToken = {
      serviceAccountEmail: 'push@flotilla-test.iam.gserviceaccount.com',
      audience: 'flotilla-push',
    };
    const { enterpriseName, subscriptionName } = await enterprise(oidcToken);
    const resource = { name: `${enterpriseName}/devices/abc`, state: 'ACTIVE', appliedPolicyVersion: '3' };
    const count = receiver.received.length;
    const delivery = await standIn.publish(enterpriseName, 'STATUS_REPORT', resource);
    expect(delivery.status).toBe(200);
    const push = receiver.received[count]!;
    expect(push.path).toBe('/push?token=t');
    const decoded = decodePush(push.body);
    expect(decoded).toMatchObject({
      notificationType: 'STATUS_REPORT',
      data: resource,
      messageId: delivery.messageId,
      subscription: subscriptionName,
    });
    expect(Number.isNaN(Date.parse(decoded.publishTime))).toBe(false);

    const jwt = String(push.headers.authorization).replace(/^Bearer /, '');
    const certs = (await (await fetch(standIn.certsUrl)).json()) as Record<string, string>;
    const verifier = new OAuth2Client();
    const ticket = await verifier.verifySignedJwtWithCertsAsync(jwt, certs, 'flotilla-push', [
      'https://accounts.google.com',
    ]);
    expect(ticket.getPayload()).toMatchObject({
      iss: 'https://accounts.google.com',
      aud: 'flotilla-push',
      email: oidcToken.serviceAccountEmail,
      email_verified: true,
    });
    await expect(
      verifier.verifySignedJwtWithCertsAsync(
        standIn.signOidcToken({ aud: 'someone-else' }),
        certs,
        'flotilla-push',
        ['https://accounts.google.com'],
      ),
    ).rejects.toThrow(/Wrong recipient/);
  });

  it('sends no Authorization header when the subscription asks for no OIDC token', async () => {
    const { enterpriseName } = await enterprise();
    const count = receiver.received.length;
    await standIn.publish(enterpriseName, 'TEST', {});
    expect(receiver.received[count]!.headers.authorization).toBeUndefined();
  });

  it('keeps a message the endpoint did not ack and redelivers it once per call', async () => {
    const { enterpriseName } = await enterprise();
    receiver.status = 500;
    let first;
    try {
      first = await standIn.publish(enterpriseName, 'COMMAND', { name: 'op' });
      expect(first.status).toBe(500);
      const again = await standIn.redeliverUnacked();
      expect(again.map((d) => [d.messageId, d.status])).toEqual([[first.messageId, 500]]);
    } finally {
      receiver.status = 200;
    }
    const last = await standIn.redeliverUnacked();
    expect(last.map((d) => [d.messageId, d.status])).toEqual([[first.messageId, 200]]);
    expect(await standIn.redeliverUnacked()).toEqual([]);
  });

  it('sends pushes to the push target with the endpoint’s path and query', async () => {
    const { enterpriseName } = await bindEnterpriseDirect(client, standIn, {
      pushEndpoint: 'https://mdm.example.test/api/v1/fleet/android_enterprise/pubsub?token=abc',
    });
    standIn.setPushTarget(receiver.url);
    try {
      const count = receiver.received.length;
      const d = await standIn.pushRaw(enterpriseName, 'not json', { bearer: 'x.y.z' });
      expect(d.endpoint).toBe(`${receiver.url}api/v1/fleet/android_enterprise/pubsub?token=abc`);
      expect(receiver.received[count]).toMatchObject({
        path: '/api/v1/fleet/android_enterprise/pubsub?token=abc',
        body: 'not json',
      });
      expect(receiver.received[count]!.headers.authorization).toBe('Bearer x.y.z');
    } finally {
      standIn.setPushTarget(undefined);
    }
  });
});
