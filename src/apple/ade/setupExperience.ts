import type { Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfigService } from '../../appconfig/service.js';
import { dbNow, fromDbTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { TeamStore } from '../../teams/store.js';
import { buildCommandPlist } from '../commands/build.js';
import type { AppleCommandResultEvent, AppleEnrolledEvent } from '../events.js';
import { parsePlistDict } from '../plist/parse.js';
import type { AdeStore, SetupHost } from './store.js';

/** A team's (or, for No team, the global) `mdm.macos_setup` settings the setup experience reads. */
export interface MacosSetupSettings {
  endUserAuthentication: boolean;
  releaseDeviceManually: boolean;
  lockEndUserInfo: boolean;
}

export interface SetupExperienceDeps {
  store: AdeStore;
  teams: Pick<TeamStore, 'getById'>;
  appConfig: Pick<AppConfigService, 'get'>;
  bootstrap: { installOn(hostUuid: string, teamId: number | null): Promise<string | null> };
  queue: {
    enqueue(
      ids: string[],
      cmd: { commandUuid: string; requestType: string; plist: Buffer },
      trx?: Transaction<DB>,
    ): Promise<void>;
  };
  push: { pushEnrollments(ids: string[]): Promise<unknown> };
  /** A held device is released anyway this long after it enrolled. */
  releaseTimeoutSeconds: number;
  logger?: Logger;
}

const finalStatuses = new Set(['Acknowledged', 'Error', 'CommandFormatError']);

/** Did the device's last TokenUpdate say it waits in Setup Assistant (AwaitingConfiguration)? */
export function awaitingConfiguration(tokenUpdate: string | null): boolean {
  if (!tokenUpdate) return false;
  try {
    return parsePlistDict(tokenUpdate).AwaitingConfiguration === true;
  } catch {
    return false;
  }
}

/**
 * The ADE setup experience, Fleet's post-DEP-enrollment work: when an ADE device turns MDM on it is
 * held in Setup Assistant (host_mdm_apple_awaiting_configuration) while its team's profiles (queued
 * by the profile manager), the bootstrap package (InstallEnterpriseApplication, Macs) and the
 * AccountConfiguration from the end user's IdP account reach it; the release job then sends
 * DeviceConfigured once nothing is pending, or after the timeout whatever is left, unless the team
 * releases devices by hand (`enable_release_device_manually`).
 */
export class SetupExperienceService {
  constructor(private readonly deps: SetupExperienceDeps) {}

  async settings(teamId: number | null): Promise<MacosSetupSettings> {
    let s: Record<string, unknown> | undefined;
    if (teamId !== null) {
      const team = await this.deps.teams.getById(teamId);
      s = ((team?.config.mdm ?? {}) as Record<string, unknown>).macos_setup as Record<string, unknown>;
    } else {
      s = (await this.deps.appConfig.get()).mdm.macos_setup as unknown as Record<string, unknown>;
    }
    return {
      endUserAuthentication: s?.enable_end_user_authentication === true,
      releaseDeviceManually: s?.enable_release_device_manually === true,
      lockEndUserInfo: s?.lock_end_user_info === true,
    };
  }

  /** A new enrollment (first TokenUpdate): starts the setup experience of ADE devices. */
  async onEnrolled(e: AppleEnrolledEvent): Promise<void> {
    const host = await this.deps.store.setupHost(e.hostId);
    // Fleet: devices assigned to this server in ABM, or installed from ADE.
    if (!host || (!host.depAssigned && !host.installedFromDep)) return;
    await this.start(host, e.hostUuid);
  }

  private async start(host: SetupHost, hostUuid: string): Promise<void> {
    const { store, logger } = this.deps;
    const settings = await this.settings(host.teamId);
    const awaiting = awaitingConfiguration(host.tokenUpdate);
    // OS 26 ABM migration: the device is already set up; no bootstrap package (Fleet's rule).
    const migrating = host.migrationDeadline !== null && !host.migrationCompleted;
    if (migrating) await store.markMigrationCompleted(host.id);

    let bootstrapCommandUuid: string | null = null;
    if (host.platform === 'darwin' && !migrating) {
      bootstrapCommandUuid = await this.deps.bootstrap.installOn(hostUuid, host.teamId);
    }

    let accountCommandUuid: string | null = null;
    const account = host.fleetEnrollRef
      ? await store.idpAccount(host.fleetEnrollRef)
      : await store.idpAccountOfHost(hostUuid);
    if (account && host.fleetEnrollRef) await store.linkIdpAccount(hostUuid, account.uuid);
    if (account && host.platform === 'darwin' && settings.endUserAuthentication) {
      const cmd = buildCommandPlist('AccountConfiguration', {
        PrimaryAccountFullName: account.fullname,
        PrimaryAccountUserName: account.username,
        LockPrimaryAccountInfo: settings.lockEndUserInfo,
      });
      await this.deps.queue.enqueue([hostUuid], {
        commandUuid: cmd.commandUuid,
        requestType: 'AccountConfiguration',
        plist: cmd.plist,
      });
      accountCommandUuid = cmd.commandUuid;
    }

    await store.startHold({
      hostUuid,
      awaiting,
      teamId: host.teamId,
      platform: host.platform,
      bootstrapCommandUuid,
      accountCommandUuid,
      manualRelease: settings.releaseDeviceManually,
    });
    logger?.info(
      {
        host_uuid: hostUuid,
        awaiting_configuration: awaiting,
        bootstrap_package: bootstrapCommandUuid !== null,
        account_configuration: accountCommandUuid !== null,
        manual_release: settings.releaseDeviceManually,
      },
      'ADE device enrolled; setup experience started',
    );
    if (bootstrapCommandUuid || accountCommandUuid) await this.deps.push.pushEnrollments([hostUuid]);
  }

  /** DeviceConfigured answered (sent by the release job or by an admin): the device left the hold. */
  async onCommandResult(r: AppleCommandResultEvent): Promise<void> {
    if (r.requestType !== 'DeviceConfigured' || !finalStatuses.has(r.status)) return;
    await this.deps.store.markConfigured(r.hostUuid);
  }

  /**
   * The release job: DeviceConfigured for every held device whose profiles and enrollment commands
   * have settled, and for every device still held after the timeout (logged: it leaves Setup
   * Assistant without all of its setup). Marking and queueing happen in one transaction, guarded so
   * two processes never release the same device twice.
   */
  async releaseDevices(opts: { limit?: number } = {}): Promise<{ released: number; timedOut: number }> {
    const { store, logger } = this.deps;
    const timeoutMs = this.deps.releaseTimeoutSeconds * 1000;
    const cutoff = dbNow(-timeoutMs);
    const rows = await store.heldDevices(cutoff, opts.limit ?? 500);
    const pushed: string[] = [];
    let timedOut = 0;
    for (const r of rows) {
      const reason = r.settled ? 'completed' : 'timeout';
      const cmd = buildCommandPlist('DeviceConfigured', {});
      const done = await store.db.transaction().execute(async (trx) => {
        if (!(await store.markReleased(r.hostUuid, cmd.commandUuid, reason, trx))) return false;
        await this.deps.queue.enqueue(
          [r.hostUuid],
          { commandUuid: cmd.commandUuid, requestType: 'DeviceConfigured', plist: cmd.plist },
          trx,
        );
        return true;
      });
      if (!done) continue;
      pushed.push(r.hostUuid);
      if (reason === 'timeout') {
        timedOut++;
        const started = fromDbTime(r.startedAt)?.getTime() ?? Date.now();
        logger?.warn(
          {
            host_uuid: r.hostUuid,
            waited_seconds: Math.round((Date.now() - started) / 1000),
            timeout_seconds: this.deps.releaseTimeoutSeconds,
          },
          'ADE device released after the setup timeout; profiles or enrollment commands were still pending',
        );
      } else {
        logger?.info(
          { host_uuid: r.hostUuid },
          'ADE device released: profiles and enrollment commands settled',
        );
      }
    }
    if (pushed.length) await this.deps.push.pushEnrollments(pushed);
    return { released: pushed.length, timedOut };
  }

  async forgetHosts(hostUuids: string[]): Promise<void> {
    await this.deps.store.forgetHosts(hostUuids);
  }
}
