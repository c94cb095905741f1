/**
 * Shapes and helpers of the host detail page: the host's profiles, commands, activities, lock
 * answers and escrowed key, as the admin API returns them. Server types are imported type-only.
 */
import type { HostProfileJson, RunCommandResult } from '../../../mdm/platform.js';
import type { DeviceStatus, PendingAction } from '../../../mdm/commands/lockState.js';
import type { CommandService } from '../../../mdm/commands/service.js';
import type { HostService } from '../../../hosts/service.js';
import type { HostDetail, Json, PageMeta } from './shapes.js';

export type { DeviceStatus, PendingAction, RunCommandResult };

/** A host's entry of `mdm.profiles` (any platform). */
export type HostProfile = HostProfileJson;

/** `GET /hosts/:id/mdm`. */
export type HostMdmInfo = Json<Awaited<ReturnType<HostService['mdmInfo']>>>;

/**
 * The `mdm` object of `GET /hosts/:id`: the typed base the hosts area builds, plus the fields other
 * areas add (lock state, profiles, disk encryption), which the server types only as a record.
 */
export type HostDetailMdm = HostDetail['mdm'] & {
  device_status: DeviceStatus;
  pending_action: PendingAction;
  profiles: HostProfile[] | null;
  encryption_key_available?: boolean;
  os_settings?: { disk_encryption?: { status: string | null; detail: string } };
};

export interface HostDetailResponse {
  host: Omit<HostDetail, 'mdm'> & { mdm: HostDetailMdm };
}

/** One row of `GET /commands`. */
export type CommandListItem = Json<Awaited<ReturnType<CommandService['list']>>['results'][number]>;

export interface CommandListResponse {
  results: CommandListItem[] | null;
  meta: PageMeta;
  count: number;
}

/**
 * One host's row of `GET /commands/results`. Apple and Windows build it in their adapters (typed
 * there as a record); these are the fields both send. `payload`/`result` are base64 (plist/SyncML).
 */
export interface CommandResult {
  host_uuid: string;
  command_uuid: string;
  status: string;
  updated_at: string | null;
  request_type: string;
  hostname?: string;
  payload: string | null;
  result: string | null;
}

export interface CommandResultsResponse {
  results: CommandResult[];
}

/** Fleet's activity object (`GET /hosts/:id/activities`). */
export interface Activity {
  id: number;
  created_at: string;
  actor_full_name: string | null;
  actor_id: number | null;
  actor_email: string | null;
  type: string;
  fleet_initiated: boolean;
  details: Record<string, unknown>;
}

export interface ActivitiesResponse {
  activities: Activity[];
  meta: PageMeta;
}

/** `POST /hosts/:id/lock?view_pin=true`: the PIN a Mac asks for to unlock (empty for other platforms). */
export interface LockResponse {
  unlock_pin: string;
}

/** `POST /hosts/:id/unlock`: a Mac's PIN (200); other platforms answer 204 (no body). */
export interface UnlockResponse {
  host_id: number;
  unlock_pin: string;
}

export interface EncryptionKeyResponse {
  host_id: number;
  encryption_key: { key: string; updated_at: string };
}

/** Apple platforms as `hosts.platform` names them. */
export const applePlatforms = ['darwin', 'ios', 'ipados'];

export function isApple(platform: string): boolean {
  return applePlatforms.includes(platform);
}

/** Base64 of UTF-8 text (the API takes commands as base64). */
export function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** UTF-8 text of base64 (command payloads and results); undefined when it is not base64. */
export function fromBase64(b64: string): string | undefined {
  try {
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The raw command that restarts a host, base64 for `POST /commands/run`: Apple's RestartDevice
 * plist, or a SyncML Exec of Windows' RebootNow node. undefined for platforms without one.
 */
export function restartCommand(platform: string): string | undefined {
  if (isApple(platform)) {
    const id = newCommandUuid();
    return toBase64(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>CommandUUID</key>
  <string>${id}</string>
  <key>Command</key>
  <dict>
    <key>RequestType</key>
    <string>RestartDevice</string>
  </dict>
</dict>
</plist>`);
  }
  if (platform === 'windows') {
    // The server gives the command its CmdID and command UUID.
    return toBase64(`<Exec><Item><Target><LocURI>${windowsRebootUri}</LocURI></Target></Item></Exec>`);
  }
  return undefined;
}

export const windowsRebootUri = './Device/Vendor/MSFT/Reboot/RebootNow';

/**
 * A random (v4) UUID for a new command. crypto.randomUUID needs a secure context, which a console
 * served over plain http on a LAN address is not; getRandomValues works everywhere.
 */
export function newCommandUuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toUpperCase();
}
