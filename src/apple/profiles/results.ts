import type { Kysely } from 'kysely';
import { dbNow, fromDbTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { HostStatusStore } from './hostStatusStore.js';

export interface CommandResult {
  enrollmentId: string;
  hostUuid: string;
  commandUuid: string;
  requestType: string;
  status: string;
  result: Record<string, unknown>;
}

/** Did this answer come over a user channel (`UDID:UserID`) rather than the device channel? */
const isUserChannel = (r: { enrollmentId: string; hostUuid: string }) => r.enrollmentId !== r.hostUuid;

/** The device's ErrorChain as Fleet shows it: "Domain (code): description", one per line. */
export function formatErrorChain(result: Record<string, unknown>): string {
  const chain = Array.isArray(result.ErrorChain) ? (result.ErrorChain as Record<string, unknown>[]) : [];
  const lines = chain.map((e) => {
    const desc = e.USEnglishDescription ?? e.LocalizedDescription ?? '';
    return `${String(e.ErrorDomain ?? 'Error')} (${String(e.ErrorCode ?? '')}): ${String(desc)}`;
  });
  return lines.length ? lines.join('\n') : `The device answered ${String(result.Status ?? 'Error')}.`;
}

/**
 * Turns Apple command results into profile status changes. Every update is a compare-and-set on
 * (host, command UUID[, status]), so an answer to a superseded command changes nothing.
 */
export class ProfileResultHandler {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly statuses: HostStatusStore,
    private readonly opts: { maxRetries: number; verifyGraceSeconds: number },
  ) {}

  async handle(r: CommandResult): Promise<void> {
    switch (r.requestType) {
      case 'InstallProfile':
        return this.installResult(r);
      case 'RemoveProfile':
        return this.removeResult(r);
      case 'ProfileList':
        return this.profileListResult(r);
      case 'DeclarativeManagement':
        return this.declarativeManagementResult(r);
      default:
    }
  }

  private async platformOf(hostUuid: string): Promise<string> {
    const row = await this.db
      .selectFrom('hosts')
      .select('platform')
      .where('uuid', '=', hostUuid)
      .executeTakeFirst();
    return row?.platform ?? '';
  }

  private async installResult(r: CommandResult): Promise<void> {
    const now = dbNow();
    if (r.status === 'Acknowledged') {
      // iOS and iPadOS have no agent to double-check, so an acknowledged install is verified (as
      // Fleet shows it); their ProfileList is then asked at the verification interval.
      const platform = await this.platformOf(r.hostUuid);
      const mobile = platform === 'ios' || platform === 'ipados';
      const changed = await this.statuses.setProfileStatusByCommand(
        r.hostUuid,
        r.commandUuid,
        'install',
        ['pending'],
        { status: mobile ? 'verified' : 'verifying', detail: null },
        now,
      );
      if (mobile && changed > 0) await this.statuses.startCheckClock(r.hostUuid, now);
      return;
    }
    if (r.status !== 'Error' && r.status !== 'CommandFormatError') return; // NotNow: the device retries later
    const detail = formatErrorChain(r.result);
    const rows = await this.statuses.profileRowByCommand(r.hostUuid, r.commandUuid);
    for (const row of rows) {
      if (row.operation_type !== 'install' || row.status !== 'pending') continue;
      const retries = Number(row.retries);
      const fields =
        retries < this.opts.maxRetries
          ? { status: null, retries: retries + 1, detail }
          : { status: 'failed', detail };
      await this.statuses.setProfileRowCas(
        r.hostUuid,
        row.profile_uuid,
        { status: 'pending', command_uuid: r.commandUuid },
        fields,
        now,
      );
    }
  }

  private async removeResult(r: CommandResult): Promise<void> {
    if (r.status === 'Acknowledged') {
      await this.statuses.deleteProfileRowsByCommand(r.hostUuid, r.commandUuid, 'remove');
      return;
    }
    if (r.status !== 'Error' && r.status !== 'CommandFormatError') return;
    const rows = await this.statuses.profileRowByCommand(r.hostUuid, r.commandUuid);
    for (const row of rows) {
      if (row.operation_type !== 'remove') continue;
      if (Number(row.ignore_error) === 1) {
        await this.statuses.deleteProfileRowsByCommand(r.hostUuid, r.commandUuid, 'remove');
      } else {
        await this.statuses.setProfileStatusByCommand(
          r.hostUuid,
          r.commandUuid,
          'remove',
          ['pending'],
          { status: 'failed', detail: `Failed to remove: ${formatErrorChain(r.result)}` },
          dbNow(),
        );
      }
    }
  }

  /** Agentless verification: the device's ProfileList answer to a check we asked for. */
  private async profileListResult(r: CommandResult): Promise<void> {
    if (r.status !== 'Acknowledged') return;
    const check = await this.statuses.checkFor(r.hostUuid, r.commandUuid);
    if (!check) return; // not a verification we asked for
    const installed = new Map<string, string>();
    const list = Array.isArray(r.result.ProfileList)
      ? (r.result.ProfileList as Record<string, unknown>[])
      : [];
    for (const p of list) {
      if (typeof p.PayloadIdentifier === 'string')
        installed.set(p.PayloadIdentifier, String(p.PayloadUUID ?? ''));
    }
    // The device channel lists device profiles, a user channel that user's (where user-scope
    // profiles are installed): each answer settles the rows of its own scope.
    const scope = isUserChannel(r) ? 'User' : 'System';
    await this.verifyInstalled(r.hostUuid, installed, fromDbTime(check.requested_at)!.getTime(), scope);
    await this.statuses.markCheckAnswered(r.hostUuid, r.commandUuid, dbNow());
  }

  /**
   * Compares what is installed on a host with its install rows; the ProfileList answer and the
   * osquery `macos_profiles` check both end here. `installed` maps each installed identifier to
   * its PayloadUUID ('' when the source does not report one: then presence is enough). Present →
   * verified; missing (or an older version) for a row acknowledged more than the grace period
   * before `observedAtMs` (when the list was taken) → re-sent, or failed once retries are exhausted.
   * Only rows of `scope` are judged: a device-wide list (osquery, the device channel) says nothing
   * about user-scope profiles, which a user channel's list covers.
   */
  async verifyInstalled(
    hostUuid: string,
    installed: ReadonlyMap<string, string>,
    observedAtMs: number,
    scope: 'System' | 'User' = 'System',
  ): Promise<void> {
    const now = dbNow();
    const cutoff = observedAtMs - this.opts.verifyGraceSeconds * 1000;
    const rows = await this.statuses.installRowsForVerification(hostUuid);
    for (const row of rows) {
      if ((row.scope === 'User' ? 'User' : 'System') !== scope) continue;
      if (row.status !== 'verifying' && row.status !== 'verified' && row.status !== 'failed') continue;
      const seen = installed.get(row.profile_identifier);
      const sameVersion = seen !== undefined && (!row.payload_uuid || !seen || seen === row.payload_uuid);
      const expect = { status: row.status, command_uuid: row.command_uuid };
      if (sameVersion) {
        if (row.status !== 'verified') {
          await this.statuses.setProfileRowCas(
            hostUuid,
            row.profile_uuid,
            expect,
            { status: 'verified', detail: null },
            now,
          );
        }
        continue;
      }
      if (row.status === 'failed') continue;
      if (fromDbTime(row.updated_at)!.getTime() > cutoff) continue; // still within the grace period
      const retries = Number(row.retries);
      const detail = 'The profile was acknowledged but is no longer installed on the host.';
      const fields =
        retries < this.opts.maxRetries
          ? { status: null, retries: retries + 1, detail }
          : { status: 'failed', detail };
      await this.statuses.setProfileRowCas(hostUuid, row.profile_uuid, expect, fields, now);
    }
  }

  /** The device took the sync command: pending declarations wait for its status report. */
  private async declarativeManagementResult(r: CommandResult): Promise<void> {
    const now = dbNow();
    if (r.status === 'Acknowledged') {
      await this.db
        .updateTable('host_mdm_apple_declarations')
        .set({ status: 'verifying', updated_at: now })
        .where('host_uuid', '=', r.hostUuid)
        .where('operation_type', '=', 'install')
        .where('status', '=', 'pending')
        .execute();
    } else if (r.status === 'Error' || r.status === 'CommandFormatError') {
      await this.db
        .updateTable('host_mdm_apple_declarations')
        .set({
          status: 'failed',
          detail: `${formatErrorChain(r.result)} Make sure the host is on macOS 13+, iOS 17+, iPadOS 17+.`,
          updated_at: now,
        })
        .where('host_uuid', '=', r.hostUuid)
        .where('operation_type', '=', 'install')
        .where('status', '=', 'pending')
        .execute();
    }
  }
}
