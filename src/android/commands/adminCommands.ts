import { toApiTime } from '../../db/dialect.js';
import { invalid } from '../../http/errors.js';
import type {
  CommandResultRow,
  CommandRowFilter,
  PlatformCommands,
  RunCommandResult,
} from '../../mdm/platform.js';
import type { AndroidCommandStore } from './store.js';

const statusName = (s: string) =>
  s === 'acknowledged' ? 'Acknowledged' : s === 'error' ? 'Error' : 'Pending';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/**
 * Android's part of the admin commands API: its commands (lock, wipe, unenroll) are listed and
 * their results read; raw commands are refused, as Fleet refuses them for Android hosts.
 */
export class AndroidAdminCommands implements PlatformCommands {
  constructor(private readonly store: AndroidCommandStore) {}

  async run(): Promise<RunCommandResult> {
    throw invalid('Invalid platform. You can only run MDM commands on Windows or Apple hosts.', 'host_uuids');
  }

  listRows(f: CommandRowFilter) {
    return this.store.listRows(f);
  }

  /** payload: the request as sent to Google (JSON, base64); result: Google's error, if any. */
  async results(commandUuid: string): Promise<CommandResultRow[] | undefined> {
    const rows = await this.store.byCommandUuid(commandUuid);
    if (rows.length === 0) return undefined;
    const hosts = await this.store.hostsByUuid([...new Set(rows.map((r) => r.host_uuid))]);
    return rows.map((r) => ({
      host_uuid: r.host_uuid,
      team_id: hosts.get(r.host_uuid)?.team_id ?? null,
      // Android commands carry no secrets, so callers see the same whatever their role.
      json: () => ({
        host_uuid: r.host_uuid,
        command_uuid: r.command_uuid,
        status: statusName(r.status),
        updated_at: toApiTime(r.updated_at),
        request_type: r.command_type,
        hostname: hosts.get(r.host_uuid)?.hostname ?? '',
        payload: b64(r.request_payload),
        result:
          r.status === 'error'
            ? b64(JSON.stringify({ error: { code: r.error_code, message: r.error_message } }))
            : null,
      }),
    }));
  }
}
