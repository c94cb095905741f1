import { cmsVerifyAttached } from '../../crypto/cms.js';
import { parsePlistDict, type PlistValue } from '../../apple/plist/parse.js';

type Dict = Record<string, PlistValue>;

/** The PayloadIdentifier of the profile the server sends to turn FileVault on and escrow its key. */
export const fileVaultProfileIdentifier = 'com.fleetdm.fleet.mdm.filevault';

/** What a Mac reads from an installed FileVault profile. */
export interface FileVaultProfileSettings {
  /** `com.apple.MCX.FileVault2` Enable = On: FileVault is turned on at the next login. */
  enforcesFileVault: boolean;
  /** The DER certificate the PRK is encrypted to (the escrow payload's certificate), if any. */
  escrowCertificate?: Buffer;
}

const asBuffer = (v: PlistValue | undefined): Buffer | undefined => {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string' && v.trim()) return Buffer.from(v.replace(/\s+/g, ''), 'base64');
  return undefined;
};

/**
 * Reads a (possibly CMS-signed) FileVault profile as macOS applies it: FDERecoveryKeyEscrow points
 * at a certificate payload by its PayloadUUID (`EncryptCertPayloadUUID`); when it does not, the
 * profile's `com.apple.security.pkcs1` payload is taken.
 */
export function readFileVaultProfile(payload: Buffer): FileVaultProfileSettings {
  const xml = payload[0] === 0x30 ? cmsVerifyAttached(payload).content : payload;
  const profile = parsePlistDict(xml);
  const payloads = ((profile.PayloadContent ?? []) as Dict[]).filter((p) => typeof p === 'object');
  const fileVault = payloads.find((p) => p.PayloadType === 'com.apple.MCX.FileVault2');
  const escrow = payloads.find((p) => p.PayloadType === 'com.apple.security.FDERecoveryKeyEscrow');
  const byUuid = escrow?.EncryptCertPayloadUUID
    ? payloads.find((p) => p.PayloadUUID === escrow.EncryptCertPayloadUUID)
    : undefined;
  const certPayload = byUuid ?? payloads.find((p) => p.PayloadType === 'com.apple.security.pkcs1');
  return {
    enforcesFileVault: fileVault !== undefined && String(fileVault.Enable ?? '') === 'On',
    escrowCertificate: escrow ? asBuffer(certPayload?.PayloadContent) : undefined,
  };
}
