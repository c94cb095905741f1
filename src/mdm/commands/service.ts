import type { ActivityService } from '../../admin/activityService.js';
import type { Viewer } from '../../admin/authService.js';
import { canLockWipeHost, isAllowed, visibleTeamIds } from '../../admin/roles.js';
import { toApiTime } from '../../db/dialect.js';
import { badRequest, forbidden, HttpError, notFound } from '../../http/errors.js';
import type { CommandStatus, Platform, RunCommandResult } from '../platform.js';
import type { CommandListOrder, CommandStore } from './store.js';

export interface CommandListFilter extends CommandListOrder {
  hostIdentifier?: string;
  requestType?: string;
  statuses?: CommandStatus[];
}

/**
 * The admin commands API for every platform: run a raw command on hosts (all of one platform
 * family), list commands (one order, one paging across platforms), read results. Permissions,
 * host lookup and activities are here; each platform's adapter parses, queues and reads its own.
 */
export class CommandService {
  constructor(
    private readonly store: CommandStore,
    private readonly platforms: readonly Platform[],
    private readonly activities: ActivityService,
  ) {}

  async run(viewer: Viewer, input: { command: string; host_uuids: string[] }): Promise<RunCommandResult> {
    const uuids = [...new Set(input.host_uuids)];
    if (uuids.length === 0) throw badRequest('host_uuids must name at least one host', 'host_uuids');
    const hosts = (await this.store.hostsByUuid(uuids)).sort((a, b) => a.id - b.id);
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
    const platform = this.platforms.find((p) => hosts.every((h) => p.hostPlatforms.includes(h.platform)));
    if (!platform) {
      throw badRequest(
        `all hosts must be of one platform family (${this.platforms.map((p) => p.label).join(' or ')}) and that platform must be MDM-enrolled`,
        'host_uuids',
      );
    }
    const res = await platform.commands.run(hosts, input.command);
    await this.activities.record(
      viewer,
      'ran_mdm_command',
      { host_ids: hosts.map((h) => h.id), command_type: res.request_type, command_uuid: res.command_uuid },
      { hostIds: hosts.map((h) => h.id) },
    );
    return res;
  }

  async list(viewer: Viewer, f: CommandListFilter) {
    const rowFilter = {
      hostConditions: this.store.hostConditions({
        visibleTeams: visibleTeamIds(viewer.principal, 'mdm_command_result'),
        hostIdentifier: f.hostIdentifier,
      }),
      requestType: f.requestType,
      statuses: f.statuses,
    };
    const rows = await this.store.list(
      this.platforms.flatMap((p) => p.commands.listRows(rowFilter)),
      f,
    );
    return rows.map((r) => ({
      host_uuid: r.host_uuid,
      command_uuid: r.command_uuid,
      status: r.status,
      updated_at: toApiTime(r.updated_at),
      request_type: r.request_type,
      hostname: r.hostname,
      platform: r.platform,
    }));
  }

  /** Each host's result of one command; secrets shown only to callers who may lock and wipe the host. */
  async results(viewer: Viewer, commandUuid: string) {
    for (const p of this.platforms) {
      const rows = await p.commands.results(commandUuid);
      if (!rows) continue;
      const visible = rows.filter((r) =>
        isAllowed(viewer.principal, 'mdm_command_result', 'read', r.team_id),
      );
      if (rows.length > 0 && visible.length === 0) throw forbidden();
      return visible.map((r) => r.json(canLockWipeHost(viewer.principal, r.team_id)));
    }
    throw notFound('Command');
  }
}
