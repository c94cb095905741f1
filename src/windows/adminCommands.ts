import { badRequest } from '../http/errors.js';
import type {
  CommandResultRow,
  CommandRowFilter,
  MdmHost,
  PlatformCommands,
  RunCommandResult,
} from '../mdm/platform.js';
import type { WindowsCommandAdminStore } from './adminStore.js';
import type { WindowsCommandService } from './commands.js';
import { redactSyncml } from './redact.js';

const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/;

/** A base64 SyncML payload or result with its secrets redacted (null: unreadable, withheld). */
function redactBase64Syncml(b64: string): string | null {
  const xml = redactSyncml(Buffer.from(b64, 'base64').toString('utf8'));
  return xml === null ? null : Buffer.from(xml, 'utf8').toString('base64');
}

/**
 * Windows' part of the admin commands API: the payload is one SyncML `<Exec>` queued for the hosts'
 * Windows enrollments (PCs fetch it at their next session); results are SyncML with secrets redacted.
 */
export class WindowsAdminCommands implements PlatformCommands {
  constructor(
    private readonly commands: WindowsCommandService,
    private readonly store: WindowsCommandAdminStore,
  ) {}

  async run(hosts: MdmHost[], command: string): Promise<RunCommandResult> {
    const compact = command.replace(/\s+/g, '');
    if (!compact || compact.length % 4 !== 0 || !base64Pattern.test(compact)) {
      throw badRequest('command must be base64-encoded SyncML', 'command');
    }
    const xml = Buffer.from(compact, 'base64').toString('utf8');
    return this.commands.enqueueRaw(
      hosts.map((h) => h.uuid),
      xml,
      { onlyExec: true },
    );
  }

  listRows(f: CommandRowFilter) {
    return this.store.listRows(f);
  }

  async results(commandUuid: string): Promise<CommandResultRow[] | undefined> {
    const rows = await this.commands.resultsIfAny(commandUuid);
    if (!rows) return undefined;
    const hosts = await this.store.hostsByUuid([...new Set(rows.map((r) => r.host_uuid))]);
    return rows.map((r) => ({
      host_uuid: r.host_uuid,
      team_id: hosts.get(r.host_uuid)?.team_id ?? null,
      json: (showSecrets: boolean) => {
        const out = { ...r, hostname: hosts.get(r.host_uuid)?.hostname ?? '' };
        if (showSecrets) return out;
        return {
          ...out,
          payload: redactBase64Syncml(r.payload) ?? '',
          result: redactBase64Syncml(r.result) ?? '',
        };
      },
    }));
  }
}
