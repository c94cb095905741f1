import type { ActivityService } from '../../admin/activityService.js';
import type { Viewer } from '../../admin/authService.js';
import { canLockWipeHost, isAllowed, visibleTeamIds } from '../../admin/roles.js';
import { toApiTime } from '../../db/dialect.js';
import { badRequest, forbidden, HttpError, notFound } from '../../http/errors.js';
import type { CommandStatus, Platform, RunCommandResult } from '../platform.js';
import type { CommandListOrder, CommandStore } from './store.js';

export interface CommandListFilter extends CommandListOrder {
  /** Only this platform family's commands (Fleet's older `/mdm/apple/commands`); absent: every family. */
  family?: string;
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

  /** `family`: only hosts of this platform family (Fleet's older `/mdm/apple/enqueue`). */
  async run(
    viewer: Viewer,
    input: { command: string; host_uuids: string[] },
    family?: string,
  ): Promise<RunCommandResult> {
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
    const candidates = this.platforms.filter((p) => family === undefined || p.family === family);
    const platform = candidates.find((p) => hosts.every((h) => p.hostPlatforms.includes(h.platform)));
    if (!platform) {
      throw badRequest(
        `all hosts must be of one platform family (${candidates.map((p) => p.label).join(' or ')}) and that platform must be MDM-enrolled`,
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

  /** One page of the list and `count`, the number of rows on every page. */
  async list(viewer: Viewer, f: CommandListFilter) {
    const rowFilter = {
      hostConditions: this.store.hostConditions({
        visibleTeams: visibleTeamIds(viewer.principal, 'mdm_command_result'),
        hostIdentifier: f.hostIdentifier,
      }),
      requestType: f.requestType,
      statuses: f.statuses,
    };
    const platforms = this.platforms.filter((p) => f.family === undefined || p.family === f.family);
    const parts = () => platforms.flatMap((p) => p.commands.listRows(rowFilter));
    const [rows, count] = await Promise.all([this.store.list(parts(), f), this.store.count(parts())]);
    const results = rows.map((r) => ({
      host_uuid: r.host_uuid,
      command_uuid: r.command_uuid,
      status: r.status,
      updated_at: toApiTime(r.updated_at),
      request_type: r.request_type,
      hostname: r.hostname,
      platform: r.platform,
    }));
    return { results, count };
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
