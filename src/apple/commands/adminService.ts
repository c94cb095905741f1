import { randomUUID } from 'node:crypto';
import * as plist from 'plist';
import type { ActivityService } from '../../admin/activityService.js';
import type { Viewer } from '../../admin/authService.js';
import { canLockWipeHost, isAllowed, visibleTeamIds } from '../../admin/roles.js';
import { toApiTime } from '../../db/dialect.js';
import { badRequest, forbidden, HttpError, notFound } from '../../http/errors.js';
import { parsePlistDict, type PlistValue } from '../plist/parse.js';
import { appleMdmNotConfigured, type ApnsCertificateService } from '../push/certificates.js';
import type { ApplePushService } from '../push/service.js';
import { redactSyncml } from '../../windows/redact.js';
import type { AppleCommandQueue } from './queue.js';
import { redactApplePlist } from './redact.js';
import type {
  AppleCommandAdminStore,
  CommandListFilter,
  CommandListRow,
  CommandTargetHost,
} from './adminStore.js';

/** What the admin commands API needs from the Windows area (SyncML commands). */
export interface WindowsCommands {
  enqueueRaw(
    hostUuids: string[],
    syncmlXml: string,
    opts: { onlyExec?: boolean },
  ): Promise<{ command_uuid: string; request_type: string; platform: string }>;
  results(commandUuid: string): Promise<
    {
      host_uuid: string;
      command_uuid: string;
      status: string;
      updated_at: string | null;
      request_type: string;
      payload: string;
      result: string;
    }[]
  >;
}

export const applePlatforms = ['darwin', 'ios', 'ipados'];

/** A command plist an admin sent, checked and ready to queue. */
export interface ParsedAdminCommand {
  commandUuid: string;
  requestType: string;
  plist: Buffer;
}

const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Checks an admin's base64 command plist: an XML plist dict with `Command.RequestType`; keeps the
 * given `CommandUUID` or adds one (then the plist is re-encoded). Throws 400 with the reason.
 */
export function parseAdminCommand(commandB64: string): ParsedAdminCommand {
  const compact = commandB64.replace(/\s+/g, '');
  if (!compact || compact.length % 4 !== 0 || !base64Pattern.test(compact)) {
    throw badRequest('command must be a base64-encoded plist', 'command');
  }
  const raw = Buffer.from(compact, 'base64');
  let dict: Record<string, PlistValue>;
  try {
    dict = parsePlistDict(raw);
  } catch (err) {
    throw badRequest(`unable to decode plist command: ${(err as Error).message}`, 'command');
  }
  const command = dict.Command;
  if (
    typeof command !== 'object' ||
    command === null ||
    Array.isArray(command) ||
    Buffer.isBuffer(command) ||
    command instanceof Date
  ) {
    throw badRequest('the plist has no Command dictionary', 'command');
  }
  const requestType = (command as Record<string, PlistValue>).RequestType;
  if (typeof requestType !== 'string' || requestType.trim() === '') {
    throw badRequest('the plist has no Command.RequestType', 'command');
  }
  if (requestType.length > 63) throw badRequest('Command.RequestType is too long', 'command');
  const given = dict.CommandUUID;
  if (given !== undefined) {
    if (typeof given !== 'string' || given.trim() === '' || given.length > 127) {
      throw badRequest('CommandUUID must be a non-empty string of at most 127 characters', 'command');
    }
    return { commandUuid: given, requestType, plist: raw };
  }
  const commandUuid = randomUUID().toUpperCase();
  const rebuilt = Buffer.from(
    plist.build({ ...dict, CommandUUID: commandUuid } as unknown as plist.PlistValue),
    'utf8',
  );
  return { commandUuid, requestType, plist: rebuilt };
}

/** Maps Fleet's `command_status` filter values onto Apple's statuses. */
const statusFilterValues: Record<string, string> = {
  pending: 'Pending',
  acknowledged: 'Acknowledged',
  error: 'Error',
  notnow: 'NotNow',
  commandformaterror: 'CommandFormatError',
  failed: 'Error',
  ran: 'Acknowledged',
};

export function parseStatusFilter(value: string | undefined): string[] | undefined {
  if (!value) return undefined;
  const out = new Set<string>();
  for (const part of value.split(',')) {
    const key = part
      .trim()
      .toLowerCase()
      .replace(/[^a-z]/g, '');
    const mapped = statusFilterValues[key];
    if (!mapped) throw badRequest(`unknown command_status "${part.trim()}"`, 'command_status');
    out.add(mapped);
    if (key === 'failed') out.add('CommandFormatError');
  }
  return [...out];
}

/** A base64 SyncML payload or result with its secrets redacted (null: unreadable, withheld). */
function redactBase64Syncml(b64: string): string | null {
  const xml = redactSyncml(Buffer.from(b64, 'base64').toString('utf8'));
  return xml === null ? null : Buffer.from(xml, 'utf8').toString('base64');
}

/** The fields a command row has in both `GET /commands` and `GET /commands/results`. */
function commandJson(r: Omit<CommandListRow, 'team_id' | 'platform'>) {
  return {
    host_uuid: r.host_uuid,
    command_uuid: r.command_uuid,
    status: r.status,
    updated_at: toApiTime(r.updated_at),
    request_type: r.request_type,
    hostname: r.hostname,
  };
}

/**
 * The admin commands API: run a raw command on hosts, list commands, read results. Works on the
 * Apple queue (device-channel enrollments) and wakes devices through APNs.
 */
export class AppleCommandAdminService {
  constructor(
    private readonly store: AppleCommandAdminStore,
    private readonly queue: () => Pick<AppleCommandQueue, 'enqueue'>,
    private readonly push: Pick<ApplePushService, 'pushEnrollments'>,
    private readonly certificates: Pick<ApnsCertificateService, 'current'>,
    private readonly activities: ActivityService,
    private readonly windows?: WindowsCommands,
  ) {}

  async run(
    viewer: Viewer,
    input: { command: string; host_uuids: string[] },
  ): Promise<{ command_uuid: string; request_type: string; platform: string }> {
    const uuids = [...new Set(input.host_uuids)];
    if (uuids.length === 0) throw badRequest('host_uuids must name at least one host', 'host_uuids');
    const hosts = (await this.store.targetHosts(uuids)).sort((a, b) => a.id - b.id);
    const found = new Set(hosts.map((h) => h.uuid));
    const missing = uuids.filter((u) => !found.has(u));
    if (missing.length) {
      throw new HttpError(404, 'Resource Not Found', [
        { name: 'host_uuids', reason: `no host with UUID ${missing.slice(0, 5).join(', ')}` },
      ]);
    }
    for (const h of hosts) {
      if (!isAllowed(viewer.principal, 'mdm_command', 'write', h.team_id)) throw forbidden();
    }
    const apple = hosts.filter((h) => applePlatforms.includes(h.platform));
    const windows = hosts.filter((h) => h.platform === 'windows');
    if (windows.length === hosts.length && this.windows) return this.runWindows(viewer, hosts, input.command);
    if (apple.length !== hosts.length) {
      throw badRequest(
        'all hosts must be of one platform family (Apple or Windows) and that platform must be MDM-enrolled',
        'host_uuids',
      );
    }
    const cmd = parseAdminCommand(input.command);
    const notEnrolled = hosts.filter((h) => !h.mdm_enrolled || !h.enrollment_id);
    if (notEnrolled.length) {
      throw badRequest(`host ${notEnrolled[0].uuid} is not enrolled in MDM`, 'host_uuids');
    }
    if (!(await this.certificates.current())) throw appleMdmNotConfigured();

    const enrollmentIds = hosts.map((h) => h.enrollment_id!);
    await this.queue().enqueue(enrollmentIds, {
      commandUuid: cmd.commandUuid,
      requestType: cmd.requestType,
      plist: cmd.plist,
    });
    await this.activities.record(
      viewer,
      'ran_mdm_command',
      { host_ids: hosts.map((h) => h.id), command_type: cmd.requestType, command_uuid: cmd.commandUuid },
      { hostIds: hosts.map((h) => h.id) },
    );
    // A failed push is not the admin's error: the command waits and the re-push cron retries.
    await this.push.pushEnrollments(enrollmentIds);
    return { command_uuid: cmd.commandUuid, request_type: cmd.requestType, platform: 'darwin' };
  }

  /** Windows hosts: the payload is one SyncML <Exec>; the Windows area queues it. */
  private async runWindows(viewer: Viewer, hosts: CommandTargetHost[], commandB64: string) {
    const compact = commandB64.replace(/\s+/g, '');
    if (!compact || compact.length % 4 !== 0 || !base64Pattern.test(compact)) {
      throw badRequest('command must be base64-encoded SyncML', 'command');
    }
    const xml = Buffer.from(compact, 'base64').toString('utf8');
    const res = await this.windows!.enqueueRaw(
      hosts.map((h) => h.uuid),
      xml,
      { onlyExec: true },
    );
    await this.activities.record(
      viewer,
      'ran_mdm_command',
      { host_ids: hosts.map((h) => h.id), command_type: res.request_type, command_uuid: res.command_uuid },
      { hostIds: hosts.map((h) => h.id) },
    );
    return res;
  }

  async list(viewer: Viewer, f: Omit<CommandListFilter, 'visibleTeams'>) {
    const rows = await this.store.listCommands({
      ...f,
      visibleTeams: visibleTeamIds(viewer.principal, 'mdm_command_result'),
    });
    return rows.map((r) => ({ ...commandJson(r), platform: r.platform }));
  }

  async results(viewer: Viewer, commandUuid: string) {
    if (!(await this.store.commandExists(commandUuid))) {
      if (this.windows) return this.windowsResults(viewer, commandUuid);
      throw notFound('Command');
    }
    const rows = await this.store.commandResults(commandUuid);
    const visible = rows.filter((r) => isAllowed(viewer.principal, 'mdm_command_result', 'read', r.team_id));
    if (rows.length > 0 && visible.length === 0) throw forbidden();
    return visible.map((r) => {
      // Lock PINs, passcodes and passwords are shown only to callers who may lock or wipe the host.
      const full = canLockWipeHost(viewer.principal, r.team_id);
      const payload = full ? r.payload : redactApplePlist(r.payload);
      const result = r.result && !full ? redactApplePlist(r.result) : r.result;
      return {
        ...commandJson(r),
        payload: payload ? payload.toString('base64') : null,
        result: result ? result.toString('base64') : null,
      };
    });
  }

  private async windowsResults(viewer: Viewer, commandUuid: string) {
    const rows = await this.windows!.results(commandUuid);
    const hosts = new Map(
      (await this.store.targetHosts([...new Set(rows.map((r) => r.host_uuid))])).map((h) => [h.uuid, h]),
    );
    const visible = rows.filter((r) =>
      isAllowed(viewer.principal, 'mdm_command_result', 'read', hosts.get(r.host_uuid)?.team_id ?? null),
    );
    if (rows.length > 0 && visible.length === 0) throw forbidden();
    return visible.map((r) => {
      const out = { ...r, hostname: hosts.get(r.host_uuid)?.hostname ?? '' };
      if (canLockWipeHost(viewer.principal, hosts.get(r.host_uuid)?.team_id ?? null)) return out;
      return {
        ...out,
        payload: redactBase64Syncml(r.payload) ?? '',
        result: redactBase64Syncml(r.result) ?? '',
      };
    });
  }
}
