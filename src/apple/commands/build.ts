import { randomUUID } from 'node:crypto';
import * as plist from 'plist';

/**
 * Builds a command plist `{CommandUUID, Command: {RequestType, ...fields}}` as the device expects
 * it. Numbers that must be integers should be integral; Buffers become <data>.
 */
export function buildCommandPlist(
  requestType: string,
  fields: Record<string, unknown>,
  commandUuid: string = randomUUID().toUpperCase(),
): { commandUuid: string; plist: Buffer } {
  const body = { CommandUUID: commandUuid, Command: { ...fields, RequestType: requestType } };
  return { commandUuid, plist: Buffer.from(plist.build(body as unknown as plist.PlistValue), 'utf8') };
}

/** Builds any plist document (responses to check-ins). */
export function buildPlist(value: Record<string, unknown>): Buffer {
  return Buffer.from(plist.build(value as unknown as plist.PlistValue), 'utf8');
}
