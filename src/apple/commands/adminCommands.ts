import { randomUUID } from 'node:crypto';
import * as plist from 'plist';
import { toApiTime } from '../../db/dialect.js';
import { badRequest } from '../../http/errors.js';
import type {
  CommandResultRow,
  CommandRowFilter,
  MdmHost,
  PlatformCommands,
  RunCommandResult,
} from '../../mdm/platform.js';
import { parsePlistDict, type PlistValue } from '../plist/parse.js';
import { appleMdmNotConfigured, type ApnsCertificateService } from '../push/certificates.js';
import type { ApplePushService } from '../push/service.js';
import type { AppleCommandAdminStore } from './adminStore.js';
import type { AppleCommandQueue } from './queue.js';
import { redactApplePlist } from './redact.js';

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

/**
 * Apple's part of the admin commands API: raw plist commands on the Apple queue (device-channel
 * enrollments), devices woken through APNs, results as raw plists with secrets redacted.
 */
export class AppleAdminCommands implements PlatformCommands {
  constructor(
    private readonly store: AppleCommandAdminStore,
    private readonly queue: Pick<AppleCommandQueue, 'enqueue'>,
    private readonly push: Pick<ApplePushService, 'pushEnrollments'>,
    private readonly certificates: Pick<ApnsCertificateService, 'current'>,
  ) {}

  async run(hosts: MdmHost[], command: string): Promise<RunCommandResult> {
    const cmd = parseAdminCommand(command);
    const enrollments = await this.store.enrollmentsOf(hosts.map((h) => h.uuid));
    const notEnrolled = hosts.filter((h) => {
      const e = enrollments.get(h.uuid);
      return !e?.mdm_enrolled || !e.enrollment_id;
    });
    if (notEnrolled.length) {
      throw badRequest(`host ${notEnrolled[0].uuid} is not enrolled in MDM`, 'host_uuids');
    }
    if (!(await this.certificates.current())) throw appleMdmNotConfigured();

    const enrollmentIds = hosts.map((h) => enrollments.get(h.uuid)!.enrollment_id!);
    await this.queue.enqueue(enrollmentIds, {
      commandUuid: cmd.commandUuid,
      requestType: cmd.requestType,
      plist: cmd.plist,
    });
    // A failed push is not the admin's error: the command waits and the re-push cron retries.
    await this.push.pushEnrollments(enrollmentIds);
    return { command_uuid: cmd.commandUuid, request_type: cmd.requestType, platform: 'darwin' };
  }

  listRows(f: CommandRowFilter) {
    return [this.store.listRows(f)];
  }

  async results(commandUuid: string): Promise<CommandResultRow[] | undefined> {
    if (!(await this.store.commandExists(commandUuid))) return undefined;
    const rows = await this.store.commandResults(commandUuid);
    return rows.map((r) => ({
      host_uuid: r.host_uuid,
      team_id: r.team_id,
      json: (showSecrets: boolean) => {
        // Lock PINs, passcodes and passwords are shown only to callers who may lock or wipe the host.
        const payload = showSecrets ? r.payload : redactApplePlist(r.payload);
        const result = r.result && !showSecrets ? redactApplePlist(r.result) : r.result;
        return {
          host_uuid: r.host_uuid,
          command_uuid: r.command_uuid,
          status: r.status,
          updated_at: toApiTime(r.updated_at),
          request_type: r.request_type,
          hostname: r.hostname,
          payload: payload ? payload.toString('base64') : null,
          result: result ? result.toString('base64') : null,
        };
      },
    }));
  }
}
