import type { Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService } from '../../admin/activityService.js';
import type { AmapiDevice } from '../../clients/amapi/types.js';
import type { DB } from '../../db/schema.js';
import type { HostEvents } from '../../hosts/events.js';
import type { AndroidDeviceEvents } from './events.js';
import {
  deviceFacts,
  displayNameOf,
  enrollmentTokenData,
  hostUuidOf,
  isDeleted,
  parseDeviceName,
  UnusableDevice,
  type DeviceFacts,
} from './deviceFields.js';
import { androidAppsSource, appListChecksum, type SoftwareInventoryStore } from './softwareStore.js';
import type { AndroidDeviceStore, AndroidHostRow } from './store.js';

export type DeviceNotificationType = 'ENROLLMENT' | 'STATUS_REPORT';

/**
 * `apply` met a status report that (re)enrolls the host (unknown or unenrolled) without the
 * enrollment facts: the caller prepares again with them and runs the transaction again.
 */
export class NeedsEnrollmentFacts extends Error {
  constructor() {
    super('the status report enrolls the host: prepare it with its enrollment facts');
  }
}

/** A device notification read and checked outside the transaction (Google's data, our lookups). */
export type PreparedDevice =
  | {
      kind: 'deleted';
      deviceName: string;
      deviceId: string;
      hostUuid: string | undefined;
      displayName: string;
    }
  | {
      kind: DeviceNotificationType;
      device: AmapiDevice;
      facts: DeviceFacts;
      idpUuid: string;
      /**
       * What (re)enrolling the host needs: the secret's team (undefined when the secret is unknown)
       * and the server URL. Read only for ENROLLMENT or when `apply` asks (NeedsEnrollmentFacts):
       * a status report of an enrolled host, nearly every message, does without both queries.
       */
      enrollment?: { team: { teamId: number | null } | undefined; serverUrl: string };
    };

/** What applying a notification did, and what to tell others once it has committed. */
export interface AppliedDevice {
  outcome: 'enrolled' | 'updated' | 'unenrolled' | 'unknown_host' | 'stale';
  hostId?: number;
  afterCommit(): Promise<void>;
}

/** The team lookup of an enrollment token's secret. */
export interface SecretTeams {
  teamForSecret(secret: string): Promise<{ teamId: number | null } | undefined>;
}

/**
 * Android hosts from ENROLLMENT and STATUS_REPORT notifications (Device resources): creates or
 * updates the host (identity, vitals, team, host_mdm, android_devices, software), unenrolls it when
 * the device was DELETED, and tells the profiles part what happened. `prepare` reads and checks
 * outside any transaction (a refused device throws UnusableDevice); `apply` writes inside the
 * transaction of the Pub/Sub message.
 */
export class AndroidDeviceService {
  constructor(
    private readonly deps: {
      store: AndroidDeviceStore;
      software: SoftwareInventoryStore;
      secrets: SecretTeams;
      serverUrl: () => Promise<string>;
      activities: ActivityService;
      hostEvents: Pick<HostEvents, 'emitHostsTransferred'>;
      deviceEvents: AndroidDeviceEvents;
      /** The device's wipe / unenroll requests are done once it reports DELETED. */
      settleDeletes(trx: Transaction<DB>, hostUuid: string): Promise<number>;
      logger: Logger;
    },
  ) {}

  async prepare(
    kind: DeviceNotificationType,
    device: AmapiDevice,
    opts: { enrollmentFacts?: boolean } = {},
  ): Promise<PreparedDevice> {
    if (isDeleted(device)) {
      const ids = parseDeviceName(device.name);
      if (!ids) throw new UnusableDevice('the device name is not enterprises/{id}/devices/{id}');
      const hw =
        device.hardwareInfo && typeof device.hardwareInfo === 'object' ? device.hardwareInfo : undefined;
      const usableHw = hw && (hw.enterpriseSpecificId || hw.serialNumber);
      return {
        kind: 'deleted',
        deviceName: device.name,
        deviceId: ids.deviceId,
        hostUuid: usableHw ? hostUuidOf(hw) : undefined,
        displayName: hw ? displayNameOf(hw) : '',
      };
    }
    const facts = deviceFacts(device);
    const token = enrollmentTokenData(device);
    return {
      kind,
      device,
      facts,
      idpUuid: token.idpUuid,
      // Read before the transaction: on SQLite its one connection belongs to the transaction.
      ...(kind === 'ENROLLMENT' || opts.enrollmentFacts
        ? {
            enrollment: {
              team: await this.deps.secrets.teamForSecret(token.enrollSecret),
              serverUrl: await this.deps.serverUrl(),
            },
          }
        : {}),
    };
  }

  async apply(trx: Transaction<DB>, p: PreparedDevice): Promise<AppliedDevice> {
    if (p.kind === 'deleted') return this.applyDeleted(trx, p);
    const { store } = this.deps;
    const f = p.facts;
    const host = await store.hostByUuidForUpdate(trx, f.host.uuid);
    // A STATUS_REPORT for a host we do not know (its ENROLLMENT lost, or the host deleted here
    // while the device stayed managed) enrolls it.
    const enrolling = p.kind === 'ENROLLMENT' || !host;
    if (!enrolling && host && this.isStale(host, f)) {
      return { outcome: 'stale', hostId: host.id, afterCommit: async () => {} };
    }
    const needsFacts = enrolling || !host?.enrolled;
    if (needsFacts && !p.enrollment) throw new NeedsEnrollmentFacts();
    const team = p.enrollment?.team;
    if (enrolling && !team) {
      // Never guess a team: an unknown (or rotated) secret must not put the device anywhere.
      throw new UnusableDevice('the enrollment token names an unknown enroll secret');
    }
    const teamId = enrolling ? (team?.teamId ?? null) : (host?.team_id ?? null);
    let hostId: number;
    if (host) {
      hostId = host.id;
      await store.updateHost(trx, host, f, enrolling ? { teamId } : undefined);
    } else {
      hostId = await store.createHost(trx, f, teamId);
    }
    if (needsFacts && p.enrollment)
      await store.setEnrolled(trx, hostId, p.enrollment.serverUrl, f.isPersonal);
    // Like Fleet, an empty or absent list of application reports leaves the inventory as it was;
    // a list equal to the last one written (most reports) costs nothing.
    const appsChecksum = f.apps?.length ? appListChecksum(androidAppsSource, f.apps) : undefined;
    const writeApps = appsChecksum !== undefined && appsChecksum !== host?.software_checksum;
    // Rows of an earlier enrollment of this device only need replacing when it (re)enrolls.
    await store.upsertDevice(trx, hostId, f, {
      replaceOthers: enrolling || host?.device_id !== f.deviceId,
      softwareChecksum: writeApps ? appsChecksum : undefined,
    });
    let idpLinked = false;
    if (enrolling && p.idpUuid) idpLinked = await store.linkIdpAccount(trx, f.host.uuid, p.idpUuid);
    if (writeApps && f.apps)
      await this.deps.software.replaceHostSoftware(trx, hostId, androidAppsSource, f.apps);
    if (p.kind === 'STATUS_REPORT' && host?.unlock_pending) await store.clearUnlockedLock(trx, hostId);

    const transferred = enrolling && host !== undefined && host.team_id !== teamId;
    const log = this.deps.logger;
    return {
      outcome: enrolling ? 'enrolled' : 'updated',
      hostId,
      afterCommit: async () => {
        log.info(
          {
            host_id: hostId,
            device: f.deviceName,
            enrolled: enrolling,
            created: !host,
            team_id: teamId,
            idp_linked: idpLinked,
          },
          enrolling ? 'android: host enrolled' : 'android: status report applied',
        );
        if (transferred) await this.deps.hostEvents.emitHostsTransferred([hostId], teamId);
        await this.notify('enrolled', () =>
          enrolling
            ? this.deps.deviceEvents.emitEnrolled({
                hostId,
                hostUuid: f.host.uuid,
                teamId,
                deviceName: f.deviceName,
              })
            : Promise.resolve(),
        );
        if (p.kind === 'STATUS_REPORT') {
          await this.notify('status report', () =>
            this.deps.deviceEvents.emitStatusReport({
              hostId,
              hostUuid: f.host.uuid,
              device: p.device,
              appliedPolicyVersion: f.appliedPolicyVersion,
            }),
          );
        }
      },
    };
  }

  /** A report older than the one already applied (Pub/Sub does not keep order) changes nothing. */
  private isStale(host: AndroidHostRow, f: DeviceFacts): boolean {
    if (!host.last_status_report_time || !f.lastStatusReportTime) return false;
    const stored = new Date(`${host.last_status_report_time.replace(' ', 'T')}Z`).getTime();
    return f.lastStatusReportTime.getTime() < stored;
  }

  /** Listeners run after the commit; their failure is logged, the notification stays handled. */
  private async notify(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.deps.logger.error({ err, event: what }, 'android: device event listener failed');
    }
  }

  private async applyDeleted(
    trx: Transaction<DB>,
    p: Extract<PreparedDevice, { kind: 'deleted' }>,
  ): Promise<AppliedDevice> {
    const { store } = this.deps;
    const host =
      (await store.hostByDeviceId(trx, p.deviceId)) ??
      (p.hostUuid ? await store.hostByUuidForUpdate(trx, p.hostUuid) : undefined);
    if (!host) return { outcome: 'unknown_host', afterCommit: async () => {} };
    // The row found by UUID may belong to an earlier device of the same hardware: only the
    // device we know as this host's (or a host with no device row) is unenrolled.
    if (host.device_id && host.device_id !== p.deviceId) {
      return { outcome: 'unknown_host', afterCommit: async () => {} };
    }
    const wasEnrolled = await store.setUnenrolled(trx, host.id);
    const settled = await this.deps.settleDeletes(trx, host.uuid);
    if (wasEnrolled) {
      await this.deps.activities.record(
        null,
        'mdm_unenrolled',
        {
          // Fleet leaves the serial out for Android (personal devices report none or a made-up one).
          host_serial: '',
          host_display_name: p.displayName || host.computer_name || host.hostname,
          installed_from_dep: false,
          platform: 'android',
        },
        { hostIds: [host.id], trx },
      );
    }
    const log = this.deps.logger;
    return {
      outcome: 'unenrolled',
      hostId: host.id,
      afterCommit: async () => {
        log.info(
          { host_id: host.id, device: p.deviceName, was_enrolled: wasEnrolled, settled },
          'android: device deleted',
        );
        if (wasEnrolled) {
          await this.notify('unenrolled', () =>
            this.deps.deviceEvents.emitUnenrolled({ hostId: host.id, hostUuid: host.uuid }),
          );
        }
      },
    };
  }
}
