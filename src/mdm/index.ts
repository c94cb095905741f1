import type { Kysely } from 'kysely';
import type { ActivityService } from '../admin/activityService.js';
import type { DB } from '../db/schema.js';
import type { HostEvents } from '../hosts/events.js';
import { HostActionStore } from './commands/hostActionStore.js';
import { HostActionService, type HostLookup } from './commands/hostActions.js';
import { CommandService } from './commands/service.js';
import { CommandStore } from './commands/store.js';
import { MdmHostDetailProvider, type DiskEncryptionHostDetailSource } from './hostDetail.js';
import type { Platform } from './platform.js';
import { ProfileService } from './profiles/service.js';
import { ProfileScopeStore } from './profiles/store.js';
import type { ProfileVariableChecker } from './variables/uploadChecks.js';

/**
 * The platform-neutral MDM core over the given platform adapters: the commands API and host
 * actions, configuration profiles (upload, scope, batch, status; each platform's manager loop as
 * a cron job), and the MDM part of host detail. Scope changes mark hosts pending on every platform.
 */
export function createMdm(deps: {
  db: Kysely<DB>;
  platforms: readonly Platform[];
  activities: ActivityService;
  hosts: HostLookup;
  hostEvents: HostEvents;
  /** The disk-encryption fields of host detail (FileVault / BitLocker status, key availability). */
  diskEncryption?: DiskEncryptionHostDetailSource;
  /** Upload checks and records of `$FLEET_VAR_*` / `$FLEET_SECRET_*` (src/mdm/variables). */
  profileVariables?: ProfileVariableChecker;
}) {
  const { db, platforms } = deps;
  const actionStore = new HostActionStore(db);
  const commands = new CommandService(new CommandStore(db), platforms, deps.activities);
  const hostActions = new HostActionService(actionStore, deps.hosts, platforms, deps.activities);
  const profiles = new ProfileService(
    new ProfileScopeStore(db),
    platforms,
    deps.activities,
    deps.profileVariables,
  );
  const hostDetail = new MdmHostDetailProvider(profiles, hostActions, platforms, deps.diskEncryption);

  // One listener per platform, so one platform's failure does not keep the others from reacting.
  for (const p of platforms) {
    deps.hostEvents.add({
      hostsTransferred: (hostIds) => p.profiles.markPending({ hostIds }),
      labelMembershipChanged: (_labelIds, hostIds) => p.profiles.markPending({ hostIds }),
      hostsDeleted: (hosts) => p.profiles.forgetHosts(hosts.map((h) => h.uuid)),
    });
  }
  deps.hostEvents.add({ hostsDeleted: (hosts) => actionStore.deleteForHosts(hosts.map((h) => h.id)) });

  /** Each platform's profile manager loop, as the cron job that runs it. */
  const profileManagerJobs = platforms.map((p) => ({
    name: p.profiles.manager.job,
    run: p.profiles.manager.tick,
  }));
  return { commands, hostActions, profiles, hostDetail, profileManagerJobs };
}
