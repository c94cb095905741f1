import { parseSignedData } from '../../crypto/cms.js';
import { parsePlistDict, type PlistValue } from '../plist/parse.js';

/**
 * Apple's MachineInfo: what Setup Assistant sends to the ADE profile's `url` (CMS-signed plist in
 * the POST body) or to a `configuration_web_url` page (`x-apple-aspen-deviceinfo` header, base64
 * of the same CMS message). Fleet's field names.
 */
export interface MachineInfo {
  udid: string;
  serial: string;
  product: string;
  /** The build (e.g. `23E224`): Apple's key is VERSION. */
  version: string;
  osVersion: string;
  language: string;
  imei: string;
  meid: string;
  mdmCanRequestSoftwareUpdate: boolean;
  softwareUpdateDeviceId: string;
}

export class MachineInfoError extends Error {}

/** Largest signed MachineInfo read (Fleet reads at most 10 KiB of the body). */
export const maxMachineInfoBytes = 10 * 1024;

function str(d: Record<string, PlistValue>, k: string): string {
  const v = d[k];
  return typeof v === 'string' ? v : '';
}

/**
 * The MachineInfo inside a CMS SignedData message. As Fleet does, Apple's signature is not
 * verified (the Apple device CA chain varies by device); the content must be a plist dictionary.
 */
export function parseMachineInfoCms(der: Buffer): MachineInfo {
  let content: Buffer | undefined;
  try {
    content = parseSignedData(der).content;
  } catch (err) {
    throw new MachineInfoError(`not a CMS SignedData message: ${(err as Error).message}`);
  }
  if (!content || content.length === 0) throw new MachineInfoError('the signed message carries no content');
  let d: Record<string, PlistValue>;
  try {
    d = parsePlistDict(content);
  } catch (err) {
    throw new MachineInfoError(`the signed content is not a plist dictionary: ${(err as Error).message}`);
  }
  return {
    udid: str(d, 'UDID'),
    serial: str(d, 'SERIAL'),
    product: str(d, 'PRODUCT'),
    version: str(d, 'VERSION'),
    osVersion: str(d, 'OS_VERSION'),
    language: str(d, 'LANGUAGE'),
    imei: str(d, 'IMEI'),
    meid: str(d, 'MEID'),
    mdmCanRequestSoftwareUpdate: d.MDM_CAN_REQUEST_SOFTWARE_UPDATE === true,
    softwareUpdateDeviceId: str(d, 'SOFTWARE_UPDATE_DEVICE_ID'),
  };
}

/** The base64 form (`x-apple-aspen-deviceinfo` header, `deviceinfo` query). */
export function parseDeviceInfoParam(value: string): MachineInfo {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) throw new MachineInfoError('deviceinfo is not base64');
  const der = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (der.length === 0 || der.length > 4 * maxMachineInfoBytes) {
    throw new MachineInfoError('deviceinfo has an impossible length');
  }
  return parseMachineInfoCms(der);
}
