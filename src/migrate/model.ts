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
  countDevices(): Promise<number>;
  devicesAfter(cursor: string, limit: number): Promise<ImportedDeviceSet[]>;
  notCarried(): Promise<NotCarried[]>;
  close(): Promise<void>;
}
