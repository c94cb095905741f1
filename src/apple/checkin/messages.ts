import type { PlistValue } from '../plist/parse.js';

/**
 * Check-in and report messages as the device sends them, validated at the edge. Every message
 * keeps its raw bytes: certificates sign them and NanoMDM-style storage keeps them verbatim.
 */

/** A message the device got wrong: answered 400, nothing stored. */
export class MdmRequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export const enrollmentTypes = {
  device: 'Device',
  user: 'User',
  sharedIpad: 'Shared iPad',
  userEnrollmentDevice: 'User Enrollment (Device)',
  userEnrollment: 'User Enrollment',
} as const;
export type EnrollmentType = (typeof enrollmentTypes)[keyof typeof enrollmentTypes];

const sharedIpadUserId = 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF';

/** Who a message is from: the enrollment id, its device channel, and the user channel if any. */
export interface EnrollmentIdentity {
  id: string;
  deviceId: string;
  type: EnrollmentType;
  /** The user channel's id in nano_users (the enrollment id's user part), for user channels. */
  userId?: string;
  userShortName?: string;
  userLongName?: string;
}

type Dict = Record<string, PlistValue>;

function optString(d: Dict, key: string): string | undefined {
  const v = d[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new MdmRequestError(`${key} must be a string`);
  return v;
}

function reqString(d: Dict, key: string): string {
  const v = optString(d, key);
  if (!v) throw new MdmRequestError(`missing ${key}`);
  return v;
}

function optData(d: Dict, key: string): Buffer | undefined {
  const v = d[key];
  if (v === undefined) return undefined;
  if (!Buffer.isBuffer(v)) throw new MdmRequestError(`${key} must be data`);
  return v;
}

function optBool(d: Dict, key: string): boolean | undefined {
  const v = d[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new MdmRequestError(`${key} must be a boolean`);
  return v;
}

/** Derives the enrollment id the way NanoMDM does (device channel, user channel, User Enrollment). */
export function enrollmentIdentity(d: Dict): EnrollmentIdentity {
  const udid = optString(d, 'UDID');
  const userId = optString(d, 'UserID');
  const shortName = optString(d, 'UserShortName');
  const longName = optString(d, 'UserLongName');
  const enrollmentId = optString(d, 'EnrollmentID');
  const enrollmentUserId = optString(d, 'EnrollmentUserID');
  if (udid) {
    if (!userId) return { id: udid, deviceId: udid, type: enrollmentTypes.device };
    if (userId === sharedIpadUserId) {
      if (!shortName) throw new MdmRequestError('missing UserShortName for a Shared iPad user');
      return {
        id: `${udid}:${shortName}`,
        deviceId: udid,
        type: enrollmentTypes.sharedIpad,
        userId: shortName,
        userShortName: shortName,
        userLongName: longName,
      };
    }
    return {
      id: `${udid}:${userId}`,
      deviceId: udid,
      type: enrollmentTypes.user,
      userId,
      userShortName: shortName,
      userLongName: longName,
    };
  }
  if (enrollmentId) {
    if (!enrollmentUserId)
      return { id: enrollmentId, deviceId: enrollmentId, type: enrollmentTypes.userEnrollmentDevice };
    return {
      id: `${enrollmentId}:${enrollmentUserId}`,
      deviceId: enrollmentId,
      type: enrollmentTypes.userEnrollment,
      userId: enrollmentUserId,
    };
  }
  throw new MdmRequestError('missing UDID or EnrollmentID');
}

export function isDeviceChannel(e: EnrollmentIdentity): boolean {
  return e.type === enrollmentTypes.device || e.type === enrollmentTypes.userEnrollmentDevice;
}

export interface AuthenticateMessage {
  messageType: 'Authenticate';
  topic: string;
  serialNumber?: string;
  productName?: string;
  model?: string;
  modelName?: string;
  deviceName?: string;
  osVersion?: string;
  buildVersion?: string;
}

export interface TokenUpdateMessage {
  messageType: 'TokenUpdate';
  topic: string;
  tokenHex: string;
  pushMagic: string;
  unlockToken?: Buffer;
  awaitingConfiguration: boolean;
}

export interface CheckOutMessage {
  messageType: 'CheckOut';
}

export interface UserAuthenticateMessage {
  messageType: 'UserAuthenticate';
  digestResponse?: string;
}

export interface SetBootstrapTokenMessage {
  messageType: 'SetBootstrapToken';
  bootstrapToken?: Buffer;
}

export interface GetBootstrapTokenMessage {
  messageType: 'GetBootstrapToken';
}

export interface GetTokenMessage {
  messageType: 'GetToken';
  tokenServiceType: string;
  tokenParameters?: Dict;
}

export interface DeclarativeManagementMessage {
  messageType: 'DeclarativeManagement';
  endpoint: string;
  data?: Buffer;
}

export interface ReturnToServiceMessage {
  messageType: 'ReturnToService';
}

export type CheckinMessage =
  | AuthenticateMessage
  | TokenUpdateMessage
  | CheckOutMessage
  | UserAuthenticateMessage
  | SetBootstrapTokenMessage
  | GetBootstrapTokenMessage
  | GetTokenMessage
  | DeclarativeManagementMessage
  | ReturnToServiceMessage;

/** Validates a parsed check-in dict into its typed message. */
export function parseCheckinMessage(d: Dict): CheckinMessage {
  const messageType = reqString(d, 'MessageType');
  switch (messageType) {
    case 'Authenticate':
      return {
        messageType,
        topic: reqString(d, 'Topic'),
        serialNumber: optString(d, 'SerialNumber'),
        productName: optString(d, 'ProductName'),
        model: optString(d, 'Model'),
        modelName: optString(d, 'ModelName'),
        deviceName: optString(d, 'DeviceName'),
        osVersion: optString(d, 'OSVersion'),
        buildVersion: optString(d, 'BuildVersion'),
      };
    case 'TokenUpdate': {
      const token = optData(d, 'Token');
      if (!token || token.length === 0) throw new MdmRequestError('missing Token');
      return {
        messageType,
        topic: reqString(d, 'Topic'),
        tokenHex: token.toString('hex'),
        pushMagic: reqString(d, 'PushMagic'),
        unlockToken: optData(d, 'UnlockToken'),
        awaitingConfiguration: optBool(d, 'AwaitingConfiguration') ?? false,
      };
    }
    case 'CheckOut':
      return { messageType };
    case 'UserAuthenticate':
      return { messageType, digestResponse: optString(d, 'DigestResponse') };
    case 'SetBootstrapToken':
      return { messageType, bootstrapToken: optData(d, 'BootstrapToken') };
    case 'GetBootstrapToken':
      return { messageType };
    case 'GetToken': {
      const tokenServiceType = reqString(d, 'TokenServiceType');
      const params = d.TokenParameters;
      if (
        params !== undefined &&
        (typeof params !== 'object' ||
          Array.isArray(params) ||
          Buffer.isBuffer(params) ||
          params instanceof Date)
      ) {
        throw new MdmRequestError('TokenParameters must be a dict');
      }
      return { messageType, tokenServiceType, tokenParameters: params as Dict | undefined };
    }
    case 'DeclarativeManagement':
      return { messageType, endpoint: reqString(d, 'Endpoint'), data: optData(d, 'Data') };
    case 'ReturnToService':
      return { messageType };
    default:
      throw new MdmRequestError(`unknown MessageType ${JSON.stringify(messageType.slice(0, 64))}`);
  }
}

export const reportStatuses = ['Idle', 'Acknowledged', 'Error', 'CommandFormatError', 'NotNow'] as const;
export type ReportStatus = (typeof reportStatuses)[number];

/** A command report ("connect" request): the status of the last command and its result keys. */
export interface CommandReport {
  status: ReportStatus;
  commandUuid?: string;
  /** The whole parsed dict (result keys are at the top level). */
  dict: Dict;
}

export function parseCommandReport(d: Dict): CommandReport {
  const status = reqString(d, 'Status');
  if (!(reportStatuses as readonly string[]).includes(status)) {
    throw new MdmRequestError(`unknown Status ${JSON.stringify(status.slice(0, 64))}`);
  }
  const commandUuid = optString(d, 'CommandUUID');
  if (status !== 'Idle' && !commandUuid) throw new MdmRequestError('missing CommandUUID');
  if (commandUuid && commandUuid.length > 127) throw new MdmRequestError('CommandUUID too long');
  return { status: status as ReportStatus, commandUuid, dict: d };
}

/** Fleet's platform from the Authenticate ProductName: iPhone → ios, iPad → ipados, else darwin. */
export function platformFromProductName(productName: string | undefined): 'darwin' | 'ios' | 'ipados' {
  if (productName?.startsWith('iPhone') || productName?.startsWith('iPod')) return 'ios';
  if (productName?.startsWith('iPad')) return 'ipados';
  return 'darwin';
}
