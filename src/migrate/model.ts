/**
 * What an import carries from another server, whatever its schema: per device the NanoMDM-shaped
 * protocol rows (device, users, enrollments, identity-certificate associations) and the host, and
 * the server-wide secrets devices depend on (push certificate, the CA that issued their identities).
 */

export interface ImportedDevice {
  id: string;
  identityCertPem: string | null;
  serialNumber: string | null;
  unlockToken: Buffer | null;
  unlockTokenAt: string | null;
  authenticate: string;
  authenticateAt: string;
  tokenUpdate: string | null;
  tokenUpdateAt: string | null;
  bootstrapTokenB64: string | null;
  bootstrapTokenAt: string | null;
  createdAt: string;
}

export interface ImportedUser {
  id: string;
  deviceId: string;
  userShortName: string | null;
  userLongName: string | null;
  tokenUpdate: string | null;
  tokenUpdateAt: string | null;
}

export interface ImportedEnrollment {
  id: string;
  deviceId: string;
  userId: string | null;
  type: string;
  topic: string;
  pushMagic: string;
  tokenHex: string;
  enabled: boolean;
  tokenUpdateTally: number;
  lastSeenAt: string;
  createdAt: string;
}

export interface ImportedAssociation {
  id: string;
  sha256: string;
  /** Filled from the certificate when the source does not keep it (renewal selects on it). */
  notValidAfter: string | null;
}

export interface ImportedHost {
  hardwareSerial: string;
  platform: string;
  hostname: string;
  computerName: string;
  hardwareModel: string;
  osVersion: string;
  /** The source team's name (null: no team). */
  teamName: string | null;
  installedFromDep: boolean;
  personal: boolean;
  /** The host's standing in the source's own (not built-in) labels: evaluated member or not. */
  labels: { name: string; isMember: boolean }[];
  /** The source's per-host Apple profile and declaration status rows, by the source's uuids. */
  profiles: ImportedHostProfile[];
  declarations: ImportedHostDeclaration[];
}

/** A per-host Apple profile status row of the source (Fleet's host_mdm_apple_profiles). */
export interface ImportedHostProfile {
  profileUuid: string;
  identifier: string;
  name: string;
  status: string | null;
  operationType: string;
  detail: string | null;
  commandUuid: string;
  /** Hex MD5 the row was queued with (compared with the definition's to tell an edited profile). */
  checksum: string;
  retries: number;
  scope: string;
}

/** A per-host declaration status row of the source (Fleet's host_mdm_apple_declarations). */
export interface ImportedHostDeclaration {
  declarationUuid: string;
  identifier: string;
  name: string;
  status: string | null;
  operationType: string;
  detail: string | null;
  /** Hex of the token the row was queued with. */
  token: string;
  scope: string;
}

/** A label of the source that is not one of the built-in labels every server has. */
export interface ImportedLabel {
  name: string;
  description: string;
  query: string;
  platform: string;
  /** 0 = dynamic (osquery query), 1 = manual (host list), 2 = host vitals (not imported). */
  membershipType: number;
  createdAt: string;
}

/** A label reference of a profile: its name, whether the label still existed, and the mode. */
export interface ImportedLabelRef {
  labelName: string;
  broken: boolean;
  exclude: boolean;
  requireAll: boolean;
}

interface ImportedDefinition {
  /** The source's uuid (kept when it has our prefix for its kind). */
  uuid: string;
  /** The source team's name (null: no team). */
  teamName: string | null;
  name: string;
  createdAt: string;
  uploadedAt: string;
  labels: ImportedLabelRef[];
}

export interface ImportedAppleProfile extends ImportedDefinition {
  mobileconfig: Buffer;
  /** Hex MD5 the source keeps (its host rows carry the same when up to date). */
  sourceChecksum: string;
}

export interface ImportedWindowsProfile extends ImportedDefinition {
  syncml: string;
}

export interface ImportedDeclaration extends ImportedDefinition {
  rawJson: string;
  /** Hex of the source's token (its host rows carry the same when up to date). */
  sourceToken: string;
}

/** Labels and profiles of the source, with their label scoping. */
export interface ImportedDefinitions {
  labels: ImportedLabel[];
  /** Names of the source's built-in labels (matched to ours by name). */
  builtinLabelNames: string[];
  appleProfiles: ImportedAppleProfile[];
  windowsProfiles: ImportedWindowsProfile[];
  declarations: ImportedDeclaration[];
}

export interface ImportedDeviceSet {
  device: ImportedDevice;
  users: ImportedUser[];
  enrollments: ImportedEnrollment[];
  associations: ImportedAssociation[];
  /** Absent when the device never turned MDM on (no enabled device-channel enrollment). */
  host?: ImportedHost;
}

/** Secrets the devices depend on, as PEM. */
export interface ImportedServerAssets {
  apns?: { certPem: string; keyPem: string };
  /** CAs that issued the devices' identity certificates (the key when known). */
  scepCas: { certPem: string; keyPem?: string }[];
}

/** Something the source holds that the import leaves behind, with how many. */
export interface NotCarried {
  what: string;
  count: number;
  why: string;
}

/** A source database of another MDM, read in batches ordered by device id. */
export interface ImportSource {
  readonly kind: 'nanomdm' | 'fleet';
  /** Names the source for resumption (kind, host, database; never credentials). */
  readonly key: string;
  /** Throws ImportError when the source's tables are not the expected schema. */
  checkSchema(): Promise<void>;
  /** Throws ImportError when a secret cannot be read (e.g. a wrong private key). */
  serverAssets(): Promise<ImportedServerAssets>;
  teamNames(): Promise<string[]>;
  /** Labels and profiles (none for sources that have no such thing). */
  definitions(): Promise<ImportedDefinitions>;
  countDevices(): Promise<number>;
  devicesAfter(cursor: string, limit: number): Promise<ImportedDeviceSet[]>;
  notCarried(): Promise<NotCarried[]>;
  close(): Promise<void>;
}
