/**
 * What Flotilla calls at Google for Android: the Android Management API (AMAPI) and the Pub/Sub
 * admin calls that route AMAPI's notifications to us. Every outbound Google call goes through this
 * one interface; `GoogleAndroidClient` (client.ts) implements it with Google's libraries, pointed at
 * Google or, in tests, at the local stand-in (fakeServer.ts).
 *
 * Resource names are AMAPI's full names (`enterprises/LC…`, `enterprises/LC…/devices/3dc…`).
 * AMAPI sends int64 fields as JSON strings (`"version": "3"`); they stay strings here and are
 * converted where they are used.
 */
export interface AndroidManagementClient {
  /** The Google Cloud project of the service account (`project_id`). */
  readonly projectId: string;
  /** The service account's e-mail (`client_email`): who signs push OIDC tokens by default. */
  readonly serviceAccountEmail: string;

  signupUrlsCreate(callbackUrl: string): Promise<AmapiSignupUrl>;
  enterprisesCreate(req: EnterpriseCreateRequest): Promise<AmapiEnterprise>;
  enterprisesDelete(enterpriseName: string): Promise<void>;
  /** Every enterprise the service account's project owns (names). */
  enterprisesList(): Promise<string[]>;

  /** Creates or replaces a policy (PATCH with no update mask); answers it with its new `version`. */
  policiesPatch(
    policyName: string,
    policy: AmapiPolicy,
  ): Promise<AmapiPolicy & { name: string; version: string }>;

  devicesGet(deviceName: string): Promise<AmapiDevice>;
  /** `updateMask` as AMAPI takes it, e.g. `policyName` or `policyName,state`. */
  devicesPatch(deviceName: string, device: Partial<AmapiDevice>, updateMask: string): Promise<AmapiDevice>;
  /** Company-owned: factory reset; personally owned: the work profile is removed. */
  devicesDelete(
    deviceName: string,
    opts?: { wipeDataFlags?: string[]; wipeReasonMessage?: string },
  ): Promise<void>;
  devicesList(
    enterpriseName: string,
    pageToken?: string,
  ): Promise<{ devices: AmapiDevice[]; nextPageToken?: string }>;
  devicesIssueCommand(deviceName: string, command: AmapiCommand): Promise<AmapiOperation>;
  operationsGet(operationName: string): Promise<AmapiOperation>;

  enrollmentTokensCreate(
    enterpriseName: string,
    token: EnrollmentTokenRequest,
  ): Promise<AmapiEnrollmentToken>;

  /** Pub/Sub: creates topic `projects/{project}/topics/{topicId}`; answers its full name. */
  pubsubCreateTopic(topicId: string, opts: { messageRetentionDuration: string }): Promise<string>;
  /** Pub/Sub: grants `member` (e.g. `serviceAccount:android-cloud-policy@…`) `role` on the topic. */
  pubsubGrantTopicRole(topicName: string, role: string, member: string): Promise<void>;
  /** Pub/Sub: a push subscription to the topic, optionally attaching a Google-signed OIDC token. */
  pubsubCreatePushSubscription(req: PushSubscriptionRequest): Promise<string>;
  pubsubDeleteSubscription(subscriptionName: string): Promise<void>;
  pubsubDeleteTopic(topicName: string): Promise<void>;
}

/**
 * A refused Google call, with Google's HTTP status and message. 304 means "already exists / not
 * modified", 404 (and a 500 whose message says "Requested entity was not found", as AMAPI sometimes
 * answers) means not found, 429 and 503 can be retried after `retryAfterSeconds`.
 */
export class AmapiError extends Error {
  constructor(
    readonly status: number,
    readonly googleMessage: string,
    readonly call: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(`Google ${call}: HTTP ${status}${googleMessage ? `: ${googleMessage}` : ''}`);
  }

  get notModified(): boolean {
    return this.status === 304;
  }

  get notFound(): boolean {
    return (
      this.status === 404 ||
      (this.status === 500 && this.googleMessage.includes('Requested entity was not found'))
    );
  }

  get retryable(): boolean {
    return this.status === 429 || this.status === 503;
  }

  get conflict(): boolean {
    return this.status === 409;
  }
}

export interface AmapiSignupUrl {
  /** `signupUrls/C…` */
  name: string;
  /** Google's managed-Google-Play signup page the admin opens. */
  url: string;
}

export interface EnterpriseCreateRequest {
  enterpriseToken: string;
  signupUrlName: string;
  /** `projects/{p}/topics/{t}`: where AMAPI publishes notifications. */
  pubsubTopic: string;
  enabledNotificationTypes: NotificationType[];
}

export type NotificationType = 'ENROLLMENT' | 'STATUS_REPORT' | 'COMMAND' | 'USAGE_LOGS';

export interface AmapiEnterprise {
  /** `enterprises/LC…` */
  name: string;
  enterpriseDisplayName?: string;
  pubsubTopic?: string;
  enabledNotificationTypes?: string[];
}

/** An AMAPI Policy: a JSON object whose top-level keys are settings (passwordPolicies, cameraAccess, …). */
export type AmapiPolicy = Record<string, unknown>;

export interface EnrollmentTokenRequest {
  policyName: string;
  allowPersonalUsage:
    'PERSONAL_USAGE_ALLOWED' | 'PERSONAL_USAGE_DISALLOWED' | 'PERSONAL_USAGE_DISALLOWED_USERLESS';
  oneTimeOnly: boolean;
  /** Google's duration string, e.g. `3600s`. */
  duration: string;
  /** Comes back in the device's `enrollmentTokenData`. */
  additionalData: string;
}

export interface AmapiEnrollmentToken {
  /** `enterprises/{e}/enrollmentTokens/{id}` */
  name: string;
  /** What the device types or scans (`et=` of the enrollment link). */
  value: string;
  expirationTimestamp?: string;
  policyName?: string;
  additionalData?: string;
  oneTimeOnly?: boolean;
  allowPersonalUsage?: string;
  /** JSON for the QR code of a fully managed (company-owned) setup. */
  qrCode?: string;
}

/** The parts of an AMAPI Device Flotilla reads (the resource has many more). */
export interface AmapiDevice {
  name: string;
  state?: string;
  appliedState?: string;
  ownership?: 'COMPANY_OWNED' | 'PERSONALLY_OWNED' | string;
  managementMode?: string;
  policyName?: string;
  appliedPolicyName?: string;
  appliedPolicyVersion?: string;
  policyCompliant?: boolean;
  nonComplianceDetails?: NonComplianceDetail[];
  enrollmentTime?: string;
  lastStatusReportTime?: string;
  lastPolicySyncTime?: string;
  enrollmentTokenName?: string;
  enrollmentTokenData?: string;
  hardwareInfo?: {
    brand?: string;
    model?: string;
    serialNumber?: string;
    enterpriseSpecificId?: string;
    manufacturer?: string;
    hardware?: string;
    deviceBasebandVersion?: string;
  };
  softwareInfo?: {
    androidVersion?: string;
    androidBuildNumber?: string;
    securityPatchLevel?: string;
    androidDevicePolicyVersionName?: string;
    primaryLanguageCode?: string;
  };
  memoryInfo?: { totalRam?: string; totalInternalStorage?: string };
  memoryEvents?: { eventType?: string; byteCount?: string; createTime?: string }[];
  networkInfo?: { wifiMacAddress?: string; imei?: string; meid?: string };
  applicationReports?: {
    packageName?: string;
    displayName?: string;
    versionName?: string;
    state?: string;
  }[];
  [key: string]: unknown;
}

export interface NonComplianceDetail {
  settingName?: string;
  nonComplianceReason?: string;
  packageName?: string;
  fieldPath?: string;
  currentValue?: unknown;
  installationFailureReason?: string;
  specificNonComplianceReason?: string;
}

/** An AMAPI device command (`type`: LOCK, RESET_PASSWORD, REBOOT, RELINQUISH_OWNERSHIP, …). */
export interface AmapiCommand {
  type: string;
  duration?: string;
  newPassword?: string;
  resetPasswordFlags?: string[];
  [key: string]: unknown;
}

/** A long-running operation; a device command's name is `enterprises/{e}/devices/{d}/operations/{id}`. */
export interface AmapiOperation {
  name: string;
  done?: boolean;
  metadata?: Record<string, unknown>;
  error?: { code?: number; message?: string; details?: unknown[] };
  response?: Record<string, unknown>;
}

export interface PushSubscriptionRequest {
  /** The subscription ID (Fleet uses the topic's ID). */
  subscriptionId: string;
  topicName: string;
  pushEndpoint: string;
  ackDeadlineSeconds: number;
  /** When set, Pub/Sub attaches an OIDC token signed for this service account and audience. */
  oidcToken?: { serviceAccountEmail: string; audience: string };
}

/** The Google service-account JSON, as the Cloud console downloads it. */
export interface ServiceAccountKey {
  type: 'service_account';
  project_id: string;
  private_key_id?: string;
  private_key: string;
  client_email: string;
  client_id?: string;
  /** Where the signed JWT is exchanged for an access token (Google's, or the stand-in's). */
  token_uri: string;
}
