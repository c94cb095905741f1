import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { dbNow } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { DeletedHost, HostEventListener } from '../../hosts/events.js';
import type { DepAssignmentStore, PlaceholderHost } from './assignmentStore.js';
import { defaultTeamFor } from './devices.js';
import { joinUrl, mdmPath, type DepProfileService } from './profiles.js';

const applePlatforms = new Set(['darwin', 'ios', 'ipados']);

/**
 * Fleet's RestoreMDMApplePendingDEPHost: a host the admin deletes while ABM still assigns the device
 * to this server (a live host_dep_assignments row) comes back at once as a pending placeholder with
 * the same id, UUID, serial, model and platform, in its token's default team for the platform, so
 * it still shows as pending and re-enrolls through ADE.
 */
export class DeletedDepHostRestorer implements HostEventListener {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly assignments: DepAssignmentStore,
    private readonly profiles: DepProfileService,
    private readonly logger: Logger,
  ) {}

  async hostsDeleted(hosts: DeletedHost[]): Promise<void> {
    const apple = hosts.filter((h) => applePlatforms.has(h.platform) && h.hardware_serial);
    if (apple.length === 0) return;
    const live = await this.assignments.liveAssignments(apple.map((h) => h.id));
    if (live.length === 0) return;
    const byId = new Map(apple.map((h) => [h.id, h]));
    const restore: PlaceholderHost[] = live.map((a) => {
      const h = byId.get(a.host_id)!;
      return {
        id: h.id,
        uuid: h.uuid,
        hardware_serial: h.hardware_serial!,
        hardware_model: h.hardware_model ?? '',
        platform: h.platform,
        team_id: defaultTeamFor(
          { macos: a.macos_default_team_id, ios: a.ios_default_team_id, ipados: a.ipados_default_team_id },
          h.platform,
        ),
      };
    });
    const mdmServerUrl = joinUrl(await this.profiles.mdmUrl(), mdmPath);
    const now = dbNow();
    await this.db.transaction().execute(async (trx) => {
      await this.assignments.insertPlaceholders(restore, now, trx);
      const mdmId = await this.assignments.mdmSolutionId('Fleet', mdmServerUrl, trx);
      const ids = restore.map((r) => r.id!);
      await this.assignments.insertPendingMdm(ids, mdmServerUrl, mdmId, trx);
      await this.assignments.insertBuiltinMemberships(
        restore.map((r) => ({ id: r.id!, platform: r.platform })),
        now,
        trx,
      );
    });
    this.logger.info(
      { host_ids: restore.map((r) => r.id) },
      'deleted hosts still assigned in ABM restored as pending',
    );
  }
}
