import type { Logger } from 'pino';
import { dbNow, fromDbTime } from '../../db/dialect.js';
import type { SavedAnswers } from '../answers.js';
import { commandTargets, isAdmxValue, readAnswers, valuesMatch, type CommandAnswers } from './commands.js';
import { readBackItems } from './readBack.js';
import type { HostWindowsProfileRow, WindowsProfileStore } from './store.js';
import { isUserLocUri, profileItems } from './validate.js';

/** Delete answers that mean "gone": 2xx, 404 not found, 405 not deletable, 500 (Windows' answer for non-deletable nodes). */
const removedCodes = new Set(['404', '405', '500']);
const ok = (code: string) => code.startsWith('2');

/** What a host read back for one LocURI: the SyncML status code and, for 2xx, the value. */
export interface ReadBack {
  code: string;
  data?: string;
}

export interface WindowsProfileResultOptions {
  /** Re-sends after the first attempt before a profile is marked failed (Fleet: 1). */
  maxRetries: number;
  /** A read-back mismatch this soon after the device acknowledged the install is not held against it. */
  verifyGraceSeconds: number;
}

/**
 * Turns the device's answers into profile status. Install: all 2xx → verifying; otherwise re-sent
 * while retries remain, then failed with "{LocURI}: status {code}" per failing command. Removal:
 * 2xx/404/405/500 → row gone; otherwise failed. Read-back (Get): values equal (normalised) →
 * verified; a mismatch outside the grace period → re-sent once, then failed. Every update is a
 * compare-and-set on the row's command and status, so late answers change nothing.
 */
export class WindowsProfileResults {
  constructor(
    private readonly store: WindowsProfileStore,
    private readonly opts: WindowsProfileResultOptions,
    private readonly logger?: Logger,
  ) {}

  /** Listener for the SyncML session (and the cron's repair sweep). */
  async handle(a: SavedAnswers): Promise<void> {
    if (!a.hostUuid || a.results.length === 0) return;
    const byCommand = new Map(a.results.map((r) => [r.commandUuid, r.rawResult]));
    const rows = await this.store.rowsByCommands(a.hostUuid, [...byCommand.keys()]);
    const raw = await this.store.rawCommands([...byCommand.keys()]);
    for (const row of rows) {
      if (row.status !== 'pending') continue;
      const answers = readAnswers(byCommand.get(row.command_uuid) ?? '');
      if (answers.statuses.length === 0) continue;
      const rawCommand = raw.get(row.command_uuid) ?? '';
      const targets = commandTargets(rawCommand);
      if (row.operation_type === 'install') await this.settleInstall(row, answers, targets, rawCommand);
      else if (row.operation_type === 'remove')
        await this.settleRemove(row, answers, targets, a.enrollmentId);
    }
    for (const [commandUuid, rawResult] of byCommand) {
      const check = await this.store.checkFor(a.hostUuid, commandUuid);
      if (check && !check.answered_at)
        await this.settleVerification(
          a.hostUuid,
          commandUuid,
          raw.get(commandUuid) ?? '',
          readAnswers(rawResult),
        );
    }
  }

  /** The cron's repair pass: settles pending rows whose answers are stored but were not applied. */
  async sweep(limit = 500): Promise<number> {
    const rows = await this.store.answeredPendingRows(limit);
    for (const r of rows) {
      await this.handle({
        enrollmentId: r.enrollment_id,
        hostUuid: r.host_uuid,
        results: [{ commandUuid: r.command_uuid, rawResult: r.raw_result, statusCode: '' }],
      });
    }
    return rows.length;
  }

  private async settleInstall(
    row: HostWindowsProfileRow,
    a: CommandAnswers,
    targets: ReturnType<typeof commandTargets>,
    rawCommand: string,
  ) {
    const now = dbNow();
    const failing = a.statuses.filter((s) => !ok(s.code));
    if (failing.length === 0) {
      // Nothing to read back (user-scoped, SCEP, only secrets): acknowledged is verified, as Fleet does.
      const verified = readBackItems(profileItems(rawCommand)).length === 0;
      await this.store.setRowCas(row, { status: verified ? 'verified' : 'verifying', detail: null }, now);
      return;
    }
    // An Atomic that failed because of a child lists the child; the Atomic's own 507 only when alone.
    const nested = failing.filter((s) => targets.get(s.cmdRef)?.verb !== 'Atomic' && s.code !== '216');
    const shown = nested.length ? nested : failing;
    const detail = shown
      .map((s) => `${targets.get(s.cmdRef)?.locUris.join(', ') || s.cmd || s.cmdRef}: status ${s.code}`)
      .join(', ');
    if (Number(row.retries) < this.opts.maxRetries) {
      await this.store.setRowCas(row, { status: null, detail, retries: Number(row.retries) + 1 }, now);
    } else {
      await this.store.setRowCas(row, { status: 'failed', detail }, now);
    }
  }

  private async settleRemove(
    row: HostWindowsProfileRow,
    a: CommandAnswers,
    targets: ReturnType<typeof commandTargets>,
    enrollmentId: number,
  ) {
    // A ./User/ node answered "not found" when no user is signed in says nothing about the user's
    // settings: the removal waits (status NULL) and is sent again once a user signs in.
    const userMiss = a.statuses.some(
      (s) => removedCodes.has(s.code) && (targets.get(s.cmdRef)?.locUris ?? []).some(isUserLocUri),
    );
    if (userMiss && !(await this.store.signedInEnrollments([enrollmentId])).has(enrollmentId)) {
      await this.store.setRowCas(row, { status: null, detail: null }, dbNow());
      return;
    }
    const failing = a.statuses.filter((s) => !ok(s.code) && !removedCodes.has(s.code));
    if (failing.length === 0 || Number(row.ignore_error) === 1) {
      await this.store.deleteRowCas(row);
      return;
    }
    const detail = `Failed to remove: ${failing.map((s) => `${targets.get(s.cmdRef)?.locUris.join(', ') || s.cmdRef}: status ${s.code}`).join(', ')}`;
    await this.store.setRowCas(row, { status: 'failed', detail }, dbNow());
  }

  /** The answer to a read-back Get we queued: settles the check, then compares the values. */
  private async settleVerification(
    hostUuid: string,
    commandUuid: string,
    rawCommand: string,
    a: CommandAnswers,
  ) {
    await this.store.markCheckAnswered(hostUuid, commandUuid, dbNow());
    const targets = commandTargets(rawCommand);
    const read = new Map<string, ReadBack>();
    for (const s of a.statuses) {
      const uri = targets.get(s.cmdRef)?.locUris[0];
      if (uri) read.set(uri, { code: s.code, data: a.results.get(s.cmdRef)?.[0]?.data });
    }
    await this.verifyReadBack(hostUuid, read);
  }

  /**
   * The LocURIs a read-back of the host covers: the readBackItems of its verifying and verified
   * profiles (current versions, as the host received them), once each.
   */
  async readBackLocUris(hostUuid: string): Promise<string[]> {
    const uris = new Set<string>();
    for (const row of await this.store.currentRowsToVerify(hostUuid)) {
      for (const it of readBackItems(profileItems(row.syncml))) uris.add(it.locUri);
    }
    return [...uris];
  }

  /**
   * Compares what the host read back (status and value per LocURI) with what each verifying /
   * verified profile sets; the SyncML Get answer and osquery's `mdm_bridge` check both end here. A
   * profile whose LocURIs were not all read (it became verifying later) waits for the next read.
   */
  async verifyReadBack(hostUuid: string, read: ReadonlyMap<string, ReadBack>): Promise<void> {
    const now = dbNow();
    for (const row of await this.store.currentRowsToVerify(hostUuid)) {
      const items = readBackItems(profileItems(row.syncml));
      if (items.length === 0 || items.some((it) => !read.has(it.locUri))) continue;
      const problems: string[] = [];
      for (const it of items) {
        const got = read.get(it.locUri) as ReadBack;
        if (!ok(got.code)) {
          // Windows may answer 404 for an ADMX-backed policy it applied; Fleet accepts that.
          if (got.code === '404' && isAdmxValue(it.data ?? '')) continue;
          problems.push(`${it.locUri}: status ${got.code}`);
        } else if (
          it.format !== 'node' &&
          it.data !== undefined &&
          !valuesMatch(it.data, got.data ?? '', it.format)
        ) {
          problems.push(`${it.locUri}: expected "${it.data.trim()}", found "${(got.data ?? '').trim()}"`);
        }
      }
      if (problems.length === 0) {
        if (row.status !== 'verified')
          await this.store.setRowCas(row, { status: 'verified', detail: null }, now);
        continue;
      }
      const since = Date.now() - (fromDbTime(row.updated_at)?.getTime() ?? 0);
      if (row.status === 'verifying' && since < this.opts.verifyGraceSeconds * 1000) continue;
      const detail = `The settings read back from the host differ from the profile: ${problems.join(', ')}`;
      if (Number(row.retries) < this.opts.maxRetries) {
        await this.store.setRowCas(row, { status: null, detail, retries: Number(row.retries) + 1 }, now);
      } else {
        await this.store.setRowCas(row, { status: 'failed', detail }, now);
      }
      this.logger?.info({ hostUuid, profileUuid: row.profile_uuid }, 'windows profile verification mismatch');
    }
  }
}
