import { GoogleHttpError, notFoundMessage, parseDurationSeconds } from './fakeHttp.js';
import type { FakePubsub } from './fakePubsub.js';
import {
  clone,
  hex,
  letters,
  type AmapiState,
  type FakeEnterprise,
  type FakePolicy,
} from './fakeAmapiState.js';
import type { AmapiEnrollmentToken, AmapiOperation } from './types.js';

/** Who must be allowed to publish to an enterprise's topic before AMAPI accepts it. */
export const amapiPublisher = 'serviceAccount:android-cloud-policy@system.gserviceaccount.com';

const notificationTypes = ['ENROLLMENT', 'STATUS_REPORT', 'COMMAND', 'USAGE_LOGS', 'ENTERPRISE_UPGRADE'];
const commandTypes = [
  'LOCK',
  'RESET_PASSWORD',
  'REBOOT',
  'RELINQUISH_OWNERSHIP',
  'CLEAR_APP_DATA',
  'START_LOST_MODE',
  'STOP_LOST_MODE',
  'ADD_ESIM',
  'REMOVE_ESIM',
  'REQUEST_DEVICE_INFO',
  'WIPE',
];
const personalUsage = [
  'PERSONAL_USAGE_ALLOWED',
  'PERSONAL_USAGE_DISALLOWED',
  'PERSONAL_USAGE_DISALLOWED_USERLESS',
];
const wipeFlags = [
  'WIPE_DATA_FLAG_UNSPECIFIED',
  'PRESERVE_RESET_PROTECTION_DATA',
  'WIPE_EXTERNAL_STORAGE',
  'WIPE_ESIMS',
];
/** Device fields `devices.patch` may change. */
const updatable = ['policyName', 'state', 'disabledReason', 'user'];
const commandMetadataType = 'type.googleapis.com/google.android.devicemanagement.v1.Command';
/** Android Device Policy's provisioning extras for a QR code (public values from Google's docs). */
const qrExtras = {
  'android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME':
    'com.google.android.apps.work.clouddpc/.receivers.CloudDeviceAdminReceiver',
  'android.app.extra.PROVISIONING_DEVICE_ADMIN_SIGNATURE_CHECKSUM':
    'I5YvS0O5hXY46mb01BlRjq4oJJGs2kuUcHvVkAPEXlg',
  'android.app.extra.PROVISIONING_DEVICE_ADMIN_PACKAGE_DOWNLOAD_LOCATION':
    'https://play.google.com/managed/downloadManagingApp?identifier=setup',
};

export interface AmapiRoute {
  /** AMAPI method id (`devices.patch`), as `failNext` names calls. */
  call: string;
  run: () => unknown;
}

/**
 * The Android Management API's REST v1 surface for the stand-in, over the shared state: signup
 * URLs, enterprises, policies, devices, commands (operations) and enrollment tokens, with
 * Google's validation and error answers.
 */
export class FakeAmapi {
  private operationSeq = 0;

  constructor(
    private readonly state: AmapiState,
    private readonly pubsub: FakePubsub,
  ) {}

  /** The route for a REST call (path without `v1/`), or a 404 GoogleHttpError. */
  route(method: string, path: string, query: Record<string, string>, body: unknown): AmapiRoute {
    const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    let m: RegExpExecArray | null;
    if (path === 'signupUrls' && method === 'POST') {
      return { call: 'signupUrls.create', run: () => this.signupUrlsCreate(query) };
    }
    if (path === 'enterprises') {
      if (method === 'POST')
        return { call: 'enterprises.create', run: () => this.enterprisesCreate(query, b) };
      if (method === 'GET') return { call: 'enterprises.list', run: () => this.enterprisesList(query) };
    }
    if ((m = /^(enterprises\/[^/:]+)$/.exec(path))) {
      const name = m[1]!;
      if (method === 'GET') return { call: 'enterprises.get', run: () => clone(this.state.enterprise(name)) };
      if (method === 'DELETE') return { call: 'enterprises.delete', run: () => this.enterprisesDelete(name) };
    }
    if ((m = /^(enterprises\/[^/:]+)\/policies\/([^/:]+)$/.exec(path))) {
      const name = path;
      const enterprise = m[1]!;
      if (method === 'PATCH')
        return { call: 'policies.patch', run: () => this.policiesPatch(enterprise, name, query, b) };
      if (method === 'GET')
        return { call: 'policies.get', run: () => this.policyResource(this.state.policy(enterprise, name)) };
      if (method === 'DELETE')
        return { call: 'policies.delete', run: () => this.policiesDelete(enterprise, name) };
    }
    if ((m = /^(enterprises\/[^/:]+)\/devices$/.exec(path)) && method === 'GET') {
      const enterprise = m[1]!;
      return { call: 'devices.list', run: () => this.devicesList(enterprise, query) };
    }
    if ((m = /^(enterprises\/[^/:]+)\/devices\/([^/:]+)(:issueCommand)?$/.exec(path))) {
      const enterprise = m[1]!;
      const name = `${enterprise}/devices/${m[2]!}`;
      if (m[3] && method === 'POST')
        return { call: 'devices.issueCommand', run: () => this.issueCommand(enterprise, name, b) };
      if (!m[3] && method === 'GET')
        return { call: 'devices.get', run: () => clone(this.state.device(enterprise, name)) };
      if (!m[3] && method === 'PATCH')
        return { call: 'devices.patch', run: () => this.devicesPatch(enterprise, name, query, b) };
      if (!m[3] && method === 'DELETE')
        return { call: 'devices.delete', run: () => this.devicesDelete(enterprise, name, query) };
    }
    if ((m = /^(enterprises\/[^/:]+)\/devices\/[^/:]+\/operations\/[^/:]+$/.exec(path)) && method === 'GET') {
      const enterprise = m[1]!;
      return { call: 'operations.get', run: () => this.operationsGet(enterprise, path) };
    }
    if ((m = /^(enterprises\/[^/:]+)\/enrollmentTokens$/.exec(path)) && method === 'POST') {
      const enterprise = m[1]!;
      return { call: 'enrollmentTokens.create', run: () => this.enrollmentTokensCreate(enterprise, b) };
    }
    throw new GoogleHttpError(404, `Method not found: ${method} v1/${path}`);
  }

  // ---- the admin's side of signup ----

  completeSignup(signupUrlName: string): string {
    const s = this.state.signupUrls.get(signupUrlName);
    if (!s) throw new Error(`unknown signup URL ${signupUrlName}`);
    s.enterpriseToken = `EAH${letters(12)}${hex(16)}`;
    return s.enterpriseToken;
  }

  /** The topic an enterprise's notifications go to. */
  topicOf(enterpriseName: string): string | undefined {
    return this.state.enterprises.get(enterpriseName)?.pubsubTopic;
  }

  // ---- REST methods ----

  private signupUrlsCreate(query: Record<string, string>) {
    this.state.checkProject(query.projectId);
    const callbackUrl = query.callbackUrl;
    if (!callbackUrl || !/^https?:\/\/[^/]+/.test(callbackUrl)) {
      throw new GoogleHttpError(400, 'Invalid value for callbackUrl: must be an absolute URL.');
    }
    const name = `signupUrls/C${hex(8)}`;
    this.state.signupUrls.set(name, { name, callbackUrl, used: false });
    return { name, url: `https://play.google.com/work/adminsignup?token=${letters(20)}` };
  }

  private enterprisesCreate(query: Record<string, string>, body: Record<string, unknown>) {
    this.state.checkProject(query.projectId);
    const signup = query.signupUrlName ? this.state.signupUrls.get(query.signupUrlName) : undefined;
    if (!signup || !query.enterpriseToken || signup.enterpriseToken !== query.enterpriseToken) {
      throw new GoogleHttpError(400, 'The enterprise token is invalid.');
    }
    if (signup.used) throw new GoogleHttpError(400, 'The enterprise token has already been used.');
    const types = body.enabledNotificationTypes ?? [];
    if (
      !Array.isArray(types) ||
      !types.every((t) => typeof t === 'string' && notificationTypes.includes(t))
    ) {
      throw new GoogleHttpError(400, "Invalid value at 'enterprise.enabled_notification_types'.");
    }
    const pubsubTopic = body.pubsubTopic;
    if (pubsubTopic !== undefined) this.checkTopic(pubsubTopic);
    signup.used = true;
    const enterprise: FakeEnterprise = {
      name: `enterprises/LC0${letters(3).toLowerCase()}${hex(3)}`,
      ...(typeof pubsubTopic === 'string' ? { pubsubTopic } : {}),
      enabledNotificationTypes: types as string[],
      signupUrlName: signup.name,
    };
    this.state.enterprises.set(enterprise.name, enterprise);
    return {
      name: enterprise.name,
      ...(enterprise.pubsubTopic ? { pubsubTopic: enterprise.pubsubTopic } : {}),
      enabledNotificationTypes: enterprise.enabledNotificationTypes,
    };
  }

  /** AMAPI refuses a topic it could not publish to. */
  private checkTopic(topic: unknown) {
    const t = typeof topic === 'string' ? this.pubsub.topics.get(topic) : undefined;
    if (!t || !t.iam.some((b) => b.role === 'roles/pubsub.publisher' && b.members.includes(amapiPublisher))) {
      throw new GoogleHttpError(
        400,
        `Pub/Sub topic ${String(topic)} does not exist or ${amapiPublisher.slice(15)} cannot publish to it.`,
      );
    }
  }

  private enterprisesDelete(name: string) {
    this.state.enterprise(name);
    this.state.enterprises.delete(name);
    const prefix = `${name}/`;
    for (const map of [this.state.policies, this.state.devices, this.state.operations] as Map<
      string,
      unknown
    >[]) {
      for (const key of [...map.keys()]) if (key.startsWith(prefix)) map.delete(key);
    }
    for (const [value, token] of [...this.state.enrollmentTokens]) {
      if (token.name.startsWith(prefix)) this.state.enrollmentTokens.delete(value);
    }
    return {};
  }

  private enterprisesList(query: Record<string, string>) {
    this.state.checkProject(query.projectId);
    const all = [...this.state.enterprises.values()].sort((a, b) => a.name.localeCompare(b.name));
    const page = this.state.page(all, query);
    return {
      enterprises: page.items.map((e) => ({
        name: e.name,
        ...(e.pubsubTopic ? { pubsubTopic: e.pubsubTopic } : {}),
        enabledNotificationTypes: e.enabledNotificationTypes,
      })),
      ...(page.next ? { nextPageToken: page.next } : {}),
    };
  }

  private policiesPatch(
    enterprise: string,
    name: string,
    query: Record<string, string>,
    body: Record<string, unknown>,
  ) {
    this.state.enterprise(enterprise);
    if (!/^[A-Za-z0-9_-]{1,100}$/.test(name.split('/').pop()!)) {
      throw new GoogleHttpError(400, `Invalid policy name: ${name}`);
    }
    const { name: _n, version: _v, ...content } = body;
    void _n;
    void _v;
    const existing = this.state.policies.get(name);
    let policy: Record<string, unknown>;
    if (query.updateMask) {
      policy = { ...(existing?.policy ?? {}) };
      for (const field of query.updateMask.split(',')) {
        const key = field.trim().split('.')[0]!;
        if (key in content) policy[key] = clone(content[key]);
        else delete policy[key];
      }
    } else {
      policy = clone(content);
    }
    const stored: FakePolicy = { name, version: (existing?.version ?? 0) + 1, policy };
    this.state.policies.set(name, stored);
    return this.policyResource(stored);
  }

  private policiesDelete(enterprise: string, name: string) {
    this.state.policy(enterprise, name);
    if ([...this.state.devices.values()].some((d) => d.policyName === name)) {
      throw new GoogleHttpError(400, 'The policy is in use by a device.');
    }
    this.state.policies.delete(name);
    return {};
  }

  private policyResource(p: FakePolicy) {
    return { name: p.name, version: String(p.version), ...clone(p.policy) };
  }

  private devicesList(enterprise: string, query: Record<string, string>) {
    this.state.enterprise(enterprise);
    const all = [...this.state.devices.values()]
      .filter((d) => d.name.startsWith(`${enterprise}/devices/`))
      .sort((a, b) => a.name.localeCompare(b.name));
    const page = this.state.page(all, query);
    return { devices: page.items.map((d) => clone(d)), ...(page.next ? { nextPageToken: page.next } : {}) };
  }

  private devicesPatch(
    enterprise: string,
    name: string,
    query: Record<string, string>,
    body: Record<string, unknown>,
  ) {
    const device = this.state.device(enterprise, name);
    // Without a mask, every updatable field the body carries.
    const fields = (query.updateMask ?? updatable.filter((f) => f in body).join(','))
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean);
    const changes: Record<string, unknown> = {};
    for (const field of fields) {
      if (field === 'policyName') {
        const raw = body.policyName;
        const full = typeof raw === 'string' && raw.startsWith('policies/') ? `${enterprise}/${raw}` : raw;
        if (typeof full !== 'string' || !full.startsWith(`${enterprise}/policies/`)) {
          throw new GoogleHttpError(400, "Invalid value at 'device.policy_name'.");
        }
        changes.policyName = full;
      } else if (field === 'state') {
        if (body.state !== 'ACTIVE' && body.state !== 'DISABLED') {
          throw new GoogleHttpError(400, "Invalid value at 'device.state'.");
        }
        changes.state = body.state;
      } else if (field === 'disabledReason' || field === 'user') {
        changes[field] = clone(body[field]);
      } else {
        throw new GoogleHttpError(400, `Field ${field} in update_mask cannot be updated.`);
      }
    }
    Object.assign(device, changes);
    return clone(device);
  }

  private devicesDelete(enterprise: string, name: string, query: Record<string, string>) {
    const device = this.state.device(enterprise, name);
    const flags = query.wipeDataFlags ? query.wipeDataFlags.split(',') : [];
    if (!flags.every((f) => wipeFlags.includes(f)))
      throw new GoogleHttpError(400, "Invalid value at 'wipe_data_flags'.");
    if (query.wipeReasonMessage !== undefined && query.wipeReasonMessage.length > 200) {
      throw new GoogleHttpError(400, 'wipe_reason_message must be at most 200 characters.');
    }
    this.state.devices.delete(name);
    this.state.deletedDevices.set(name, {
      device: clone(device),
      wipeDataFlags: flags,
      ...(query.wipeReasonMessage !== undefined ? { wipeReasonMessage: query.wipeReasonMessage } : {}),
    });
    return {};
  }

  private issueCommand(enterprise: string, deviceName: string, body: Record<string, unknown>) {
    this.state.device(enterprise, deviceName);
    const type = body.type;
    if (typeof type !== 'string' || !commandTypes.includes(type)) {
      throw new GoogleHttpError(400, "Invalid value at 'command.type'.");
    }
    if (body.duration !== undefined && parseDurationSeconds(body.duration) === undefined) {
      throw new GoogleHttpError(400, "Invalid value at 'command.duration'.");
    }
    // The new password is write-only: Google never echoes it in the operation.
    const { newPassword: _secret, ...command } = body;
    void _secret;
    const name = `${deviceName}/operations/${Date.now()}${String(this.operationSeq++ % 1000).padStart(3, '0')}`;
    const op: AmapiOperation = {
      name,
      done: false,
      metadata: {
        '@type': commandMetadataType,
        ...clone(command),
        type,
        createTime: new Date().toISOString(),
        duration: typeof body.duration === 'string' ? body.duration : '600s',
      },
    };
    this.state.operations.set(name, op);
    return clone(op);
  }

  private operationsGet(enterprise: string, name: string) {
    this.state.enterprise(enterprise);
    const op = this.state.operations.get(name);
    if (!op) throw new GoogleHttpError(404, notFoundMessage);
    return clone(op);
  }

  private enrollmentTokensCreate(enterprise: string, body: Record<string, unknown>) {
    this.state.enterprise(enterprise);
    const seconds = body.duration === undefined ? 3600 : parseDurationSeconds(body.duration);
    if (seconds === undefined || seconds <= 0 || seconds > 90 * 86400) {
      throw new GoogleHttpError(400, "Invalid value at 'enrollment_token.duration'.");
    }
    const rawPolicy = body.policyName ?? `${enterprise}/policies/default`;
    const policyName =
      typeof rawPolicy === 'string' && rawPolicy.startsWith('policies/')
        ? `${enterprise}/${rawPolicy}`
        : rawPolicy;
    if (typeof policyName !== 'string' || !policyName.startsWith(`${enterprise}/policies/`)) {
      throw new GoogleHttpError(400, "Invalid value at 'enrollment_token.policy_name'.");
    }
    const usage = body.allowPersonalUsage ?? 'PERSONAL_USAGE_ALLOWED';
    if (typeof usage !== 'string' || !personalUsage.includes(usage)) {
      throw new GoogleHttpError(400, "Invalid value at 'enrollment_token.allow_personal_usage'.");
    }
    if (
      body.additionalData !== undefined &&
      (typeof body.additionalData !== 'string' || body.additionalData.length > 1024)
    ) {
      throw new GoogleHttpError(400, 'additional_data must be a string of at most 1024 characters.');
    }
    const value = letters(20);
    const token: AmapiEnrollmentToken = {
      name: `${enterprise}/enrollmentTokens/${hex(12)}`,
      value,
      expirationTimestamp: new Date(Date.now() + seconds * 1000).toISOString(),
      policyName,
      ...(body.additionalData !== undefined ? { additionalData: body.additionalData } : {}),
      oneTimeOnly: body.oneTimeOnly === true,
      allowPersonalUsage: usage,
      qrCode: JSON.stringify({
        ...qrExtras,
        'android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE': {
          'com.google.android.apps.work.clouddpc.EXTRA_ENROLLMENT_TOKEN': value,
        },
      }),
    };
    this.state.enrollmentTokens.set(value, token);
    return clone(token);
  }
}
