import type { Kysely } from 'kysely';
import type { ActivityService } from '../admin/activityService.js';
import type { Viewer } from '../admin/authService.js';
import { isAllowed, visibleTeamIds } from '../admin/roles.js';
import type { DB } from '../db/schema.js';
import { forbidden, notFound } from '../http/errors.js';
import type { LabelStore } from '../labels/store.js';
import type { TeamStore } from '../teams/store.js';
import type { HostEvents } from './events.js';
import { hostLabelJson } from '../labels/labelJson.js';
import { hostJson, hostMdmJson } from './hostJson.js';
import {
  enrollmentStatusText,
  type HostFilter,
  type HostMdmRow,
  type HostRow,
  type HostStore,
} from './store.js';

/**
 * The fields of the host detail `mdm` object that other areas own (profiles, lock and wipe state,
 * enrollment conflicts): the MDM core implements it.
 */
export interface MdmHostDetail {
  forHost(host: HostRow, mdm: HostMdmRow | undefined): Promise<Record<string, unknown>>;
}

export type HostListFilter = Omit<HostFilter, 'visibleTeams'>;

/** Host list, detail, delete and transfer, with team scoping for team users. */
export class HostService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: HostStore,
    private readonly labels: LabelStore,
    private readonly teams: TeamStore,
    private readonly activities: ActivityService,
    private readonly events: HostEvents,
    private readonly mdmDetail: MdmHostDetail,
  ) {}

  /** The filter narrowed to what the viewer may see; asking for a team outside it is a 403. */
  scopedFilter(viewer: Viewer, f: HostListFilter): HostFilter {
    const p = viewer.principal;
    if (!isAllowed(p, 'host', 'read', f.teamId)) throw forbidden();
    return { ...f, visibleTeams: visibleTeamIds(p, 'host') };
  }

  list(
    viewer: Viewer,
    f: HostListFilter,
    opts: { limit?: number; offset?: number; orderKey?: string; desc?: boolean },
  ) {
    return this.store.list(this.scopedFilter(viewer, f), opts);
  }

  count(viewer: Viewer, f: HostListFilter) {
    return this.store.count(this.scopedFilter(viewer, f));
  }

  /** `GET /hosts/summary/mdm`: enrollment states and MDM solutions of the hosts the viewer may see. */
  async mdmSummary(viewer: Viewer, f: Pick<HostListFilter, 'teamId' | 'platform'>) {
    const { statuses, solutions } = await this.store.mdmSummary(this.scopedFilter(viewer, f));
    const total = Object.values(statuses).reduce((a, b) => a + b, 0);
    return {
      counts_updated_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      mobile_device_management_enrollment_status: {
        enrolled_manual_hosts_count: statuses.manual,
        enrolled_automated_hosts_count: statuses.automatic,
        enrolled_personal_hosts_count: statuses.personal,
        pending_hosts_count: statuses.pending,
        unenrolled_hosts_count: statuses.unenrolled,
        hosts_count: total,
      },
      mobile_device_management_solution: solutions,
    };
  }

  /** `GET /hosts/:id/mdm`: Fleet's MDM object for one host; 404 when it has none (or is a server). */
  async mdmInfo(host: HostRow) {
    const m = await this.store.getHostMdm(host.id);
    if (!m || m.is_server) throw notFound('HostMDM');
    return {
      enrollment_status: enrollmentStatusText(m),
      server_url: m.server_url,
      name: m.mdm_name,
      ...(m.mdm_id !== null ? { id: m.mdm_id } : {}),
    };
  }

  /**
   * Fleet adds the MDM solution an `mdm_id` filter names to host lists, as
   * `mobile_device_management_solution` (left out when there is no such solution).
   */
  async mdmSolutionJson(f: HostListFilter) {
    if (f.mdmId === undefined) return {};
    const s = await this.store.getMdmSolution(f.mdmId);
    return s ? { mobile_device_management_solution: s } : {};
  }

  /** Loads a host the viewer may act on; 404 when it does not exist, 403 when it is outside the viewer's teams. */
  async require(viewer: Viewer, id: number, action: 'read' | 'write' = 'read'): Promise<HostRow> {
    const host = await this.store.getById(id);
    if (!host) {
      if (!isAllowed(viewer.principal, 'host', action)) throw forbidden();
      throw notFound('Host');
    }
    if (!isAllowed(viewer.principal, 'host', action, host.team_id)) throw forbidden();
    return host;
  }

  async requireByIdentifier(viewer: Viewer, identifier: string): Promise<HostRow> {
    const host = await this.store.findByIdentifier(identifier);
    if (!host) {
      if (!isAllowed(viewer.principal, 'host', 'read')) throw forbidden();
      throw notFound('Host');
    }
    if (!isAllowed(viewer.principal, 'host', 'read', host.team_id)) throw forbidden();
    return host;
  }

  /** `GET /hosts/:id`: the host with its labels and `mdm` object. */
  async detail(host: HostRow) {
    const [mdmRow, labels] = await Promise.all([
      this.store.getHostMdm(host.id),
      this.labels.labelsForHost(host.id),
    ]);
    const mdm = { ...hostMdmJson(mdmRow), ...(await this.mdmDetail.forHost(host, mdmRow)) };
    // Fleet leaves disk_encryption_enabled out until the host has reported it.
    const encryption =
      host.disk_encryption_enabled === null ? {} : { disk_encryption_enabled: host.disk_encryption_enabled };
    return { ...hostJson(host), ...encryption, labels: labels.map(hostLabelJson), mdm };
  }

  /** Deletes hosts (all must exist and be writable by the viewer), then tells other areas. */
  async delete(viewer: Viewer, ids: number[]): Promise<void> {
    const unique = [...new Set(ids)];
    const hosts = await this.store.getByIds(unique);
    if (hosts.length !== unique.length) {
      if (!isAllowed(viewer.principal, 'host', 'write')) throw forbidden();
      throw notFound('Host');
    }
    for (const h of hosts) if (!isAllowed(viewer.principal, 'host', 'write', h.team_id)) throw forbidden();
    const deleted = await this.db.transaction().execute(async (trx) => {
      const rows = await this.store.deleteByIds(unique, trx);
      for (const h of hosts) {
        await this.activities.record(
          viewer,
          'deleted_host',
          {
            host_id: h.id,
            host_display_name: hostJson(h).display_name,
            host_serial: h.hardware_serial,
            triggered_by: 'manual',
          },
          { trx, hostIds: [h.id] },
        );
      }
      return rows;
    });
    await this.events.emitHostsDeleted(deleted);
  }

  /**
   * `POST /hosts/delete` with `filters` (Fleet's delete by filter): deletes every host the viewer
   * sees that matches, each of which the viewer must be allowed to write (else 403, nothing goes).
   */
  async deleteMatching(viewer: Viewer, f: HostListFilter): Promise<void> {
    const ids = await this.store.listIds(this.scopedFilter(viewer, f));
    if (ids.length) await this.delete(viewer, ids);
  }

  /** Moves hosts to a team (null = No team); the viewer must be allowed in both teams. */
  async transfer(viewer: Viewer, teamId: number | null, ids: number[]): Promise<void> {
    const unique = [...new Set(ids)];
    if (!isAllowed(viewer.principal, 'host', 'write', teamId)) throw forbidden();
    const team = teamId === null ? undefined : await this.teams.getById(teamId);
    if (teamId !== null && !team) throw notFound('Team');
    const hosts = await this.store.getByIds(unique);
    if (hosts.length !== unique.length) throw notFound('Host');
    for (const h of hosts) if (!isAllowed(viewer.principal, 'host', 'write', h.team_id)) throw forbidden();
    await this.db.transaction().execute(async (trx) => {
      await this.store.transfer(unique, teamId, trx);
      await this.activities.record(
        viewer,
        'transferred_hosts',
        {
          team_id: teamId,
          team_name: team?.name ?? null,
          host_ids: unique,
          host_display_names: hosts.map((h) => hostJson(h).display_name),
        },
        { trx, hostIds: unique },
      );
    });
    await this.events.emitHostsTransferred(unique, teamId);
  }
}
