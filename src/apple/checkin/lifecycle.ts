import type { Logger } from 'pino';
import { dbNow } from '../../db/dialect.js';
import type { ActivityService } from '../../admin/activityService.js';
import type { HostRow, HostStore } from '../../hosts/store.js';
import type { AppleMdmEvents } from '../events.js';
import type { MdmVitals } from '../facts/store.js';
import { parsePlistDict, type PlistValue } from '../plist/parse.js';
import type { HostMdmStateStore } from './hostMdmStore.js';
import {
  enrollmentTypes,
  platformFromProductName,
  type AuthenticateMessage,
  type CheckOutMessage,
  type CommandReport,
  type TokenUpdateMessage,
} from './messages.js';
import type { CheckinHooks, MdmRequest } from './service.js';
import type { EnrollmentStore } from './store.js';

/** Fleet's name for its own MDM in host_mdm. */
export const mdmName = 'Fleet';

const osName: Record<string, string> = { darwin: 'macOS', ios: 'iOS', ipados: 'iPadOS' };

/**
 * What the lifecycle asks the ADE area about a device that turns MDM on: whether its host is
 * assigned to this server in ABM (then it was installed from ADE, as Fleet records it), and the
 * adoption of a pending ADE host (created by the DEP sync, no UUID yet) found by serial.
 */
export interface DepEnrollmentPort {
  isDepAssigned(hostId: number): Promise<boolean>;
  adoptPlaceholder(hostId: number, uuid: string): Promise<void>;
}

/** Where the DeviceInformation vitals beyond name, model and OS go (the Apple facts store). */
export interface MdmVitalsPort {
  applyMdmVitals(hostId: number, vitals: MdmVitals): Promise<void>;
}

/** Fleet's host_mdm_commands type of a refetch DeviceInformation in flight. */
const refetchDeviceCommandType = 'REFETCH-DEVICE-';

/** A MAC address as DeviceInformation reports WiFiMAC (anything else is not stored). */
const macAddress = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function num(v: PlistValue | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** How Fleet names a host in activities: computer name, else hostname, serial, UUID. */
export function displayName(h: HostRow): string {
  return h.computer_name || h.hostname || h.hardware_serial || h.uuid;
}

function str(v: PlistValue | undefined): string | undefined {
  return typeof v === 'string' && v ? v : undefined;
}

/**
 * Third link: what Fleet does on top of the protocol — hosts and host_mdm (turn on at the first
 * TokenUpdate after Authenticate, turn off at CheckOut), host vitals from DeviceInformation, and
 * the events other areas listen to. Runs after the core has stored the message.
 */
export class FleetLifecycleHooks implements CheckinHooks {
  constructor(
    private readonly enrollments: EnrollmentStore,
    private readonly hosts: HostStore,
    private readonly hostMdm: HostMdmStateStore,
    private readonly events: AppleMdmEvents,
    /** The server's public URL (app config), for host_mdm.server_url. */
    private readonly serverUrl: () => Promise<string>,
    private readonly logger?: Logger,
    /** The audit log: mdm_enrolled at turn-on, mdm_unenrolled at CheckOut (written by the server, no user). */
    private readonly activities?: Pick<ActivityService, 'record'>,
    /** ADE: DEP assignment and pending-host adoption (without it no host counts as installed from ADE). */
    private readonly dep?: DepEnrollmentPort,
    /** Disk space, MAC address and detail time from DeviceInformation (without it only name, model, OS). */
    private readonly vitals?: MdmVitalsPort,
  ) {}

  private async mdmServerUrl(): Promise<string> {
    return `${(await this.serverUrl()).replace(/\/$/, '')}/mdm/apple/mdm`;
  }

  async authenticate(r: MdmRequest, _m: AuthenticateMessage): Promise<void> {
    const kind = r.notes.authenticateKind;
    if (kind !== 'first' && kind !== 'reenrollment') return;
    // A fresh enrollment resets lock/wipe state of a host we already know.
    const host = await this.hosts.findByUuid(r.enrollment.deviceId);
    if (host) await this.hostMdm.deleteActions(host.id);
  }

  async tokenUpdate(r: MdmRequest, _m: TokenUpdateMessage): Promise<void> {
    const e = r.enrollment;
    if (r.notes.importedEnrollment) return this.adoptImported(r);
    // A SCEP identity renewal re-runs Authenticate + TokenUpdate without resetting the tally, so
    // it never turns MDM on again (its completion is recorded at Authenticate, src/apple/renewal).
    const turnOn =
      r.notes.tokenUpdateTally === 1 &&
      r.notes.enrollmentEnabled === true &&
      (e.type === enrollmentTypes.device || e.type === enrollmentTypes.userEnrollmentDevice);
    if (!turnOn) return;
    await this.turnOn(r);
  }

  /**
   * The first TokenUpdate of a device imported from another MDM: its host (made by the import) now
   * reports to this server. None of a new enrollment's side effects (activity, events, host reset).
   */
  private async adoptImported(r: MdmRequest): Promise<void> {
    const host = await this.hosts.findByUuid(r.enrollment.deviceId);
    if (!host) return;
    const current = await this.hosts.getHostMdm(host.id);
    await this.hosts.upsertHostMdm(host.id, {
      enrolled: true,
      server_url: await this.mdmServerUrl(),
      installed_from_dep: Boolean(current?.installed_from_dep),
      is_personal_enrollment: Boolean(current?.is_personal_enrollment),
      mdm_name: mdmName,
    });
  }

  /** MDM on: create or match the host (by UDID, then serial), host_mdm enrolled, last_enrolled_at. */
  private async turnOn(r: MdmRequest): Promise<void> {
    const e = r.enrollment;
    const device = await this.enrollments.getDevice(e.deviceId);
    if (!device) return;
    let auth: Record<string, PlistValue> = {};
    try {
      auth = parsePlistDict(device.authenticate);
    } catch {
      // Stored by us after validation; an unreadable one only costs the vitals.
    }
    const personal = e.type === enrollmentTypes.userEnrollmentDevice || r.params.byod === '1';
    const platform = device.platform || platformFromProductName(str(auth.ProductName));
    const serial = device.serial_number ?? (personal ? e.deviceId : undefined);
    const deviceName = str(auth.DeviceName);
    const model = platform === 'darwin' ? (str(auth.Model) ?? str(auth.ProductName)) : str(auth.ProductName);
    const osVersion = str(auth.OSVersion)
      ? `${osName[platform] ?? 'macOS'} ${str(auth.OSVersion)}`
      : undefined;
    const host = await this.hosts.findByUuidOrSerial(e.deviceId, serial);
    let hostId: number;
    if (!host) {
      hostId = await this.hosts.create({
        uuid: e.deviceId,
        hardware_serial: serial ?? '',
        platform,
        hostname: deviceName ?? '',
        computer_name: deviceName ?? '',
        hardware_model: model ?? '',
        os_version: osVersion ?? '',
      });
    } else {
      hostId = host.id;
      // A pending ADE host found by serial becomes this device (Fleet's upsert sets the UUID).
      if (!host.uuid) await this.dep?.adoptPlaceholder(hostId, e.deviceId);
      const vitals: Record<string, string> = { platform };
      if (serial) vitals.hardware_serial = serial;
      if (model) vitals.hardware_model = model;
      if (osVersion && !host.os_version) vitals.os_version = osVersion;
      if (deviceName && !host.computer_name) vitals.computer_name = deviceName;
      await this.hosts.updateVitals(hostId, vitals);
    }
    // Fleet: a device assigned to this server in ABM turned MDM on through ADE.
    const fromDep = !personal && this.dep ? await this.dep.isDepAssigned(hostId) : false;
    const enrollRef = r.params.enroll_reference;
    await this.hosts.upsertHostMdm(hostId, {
      enrolled: true,
      server_url: await this.mdmServerUrl(),
      installed_from_dep: fromDep,
      is_personal_enrollment: personal,
      mdm_name: mdmName,
      // The end user's IdP account from the ServerURL (`enroll_reference`), as Fleet keeps it.
      ...(enrollRef ? { fleet_enroll_ref: enrollRef } : {}),
    });
    await this.hosts.setLastEnrolledAt(hostId, dbNow());
    const enrolledHost = await this.hosts.getById(hostId);
    await this.activities?.record(
      null,
      'mdm_enrolled',
      {
        host_serial: enrolledHost?.hardware_serial ?? serial ?? '',
        host_display_name: enrolledHost ? displayName(enrolledHost) : (deviceName ?? e.deviceId),
        installed_from_dep: fromDep,
        mdm_platform: 'apple',
      },
      { hostIds: [hostId] },
    );
    await this.events.emitEnrolled({ hostId, hostUuid: e.deviceId, enrollmentId: e.id, platform });
  }

  /** MDM off: host_mdm no longer enrolled (the core has disabled the enrollment). */
  async checkOut(r: MdmRequest, _m: CheckOutMessage): Promise<void> {
    const e = r.enrollment;
    if (e.type !== enrollmentTypes.device && e.type !== enrollmentTypes.userEnrollmentDevice) return;
    const host = await this.hosts.findByUuid(e.deviceId);
    if (host) {
      const before = await this.hosts.getHostMdm(host.id);
      await this.activities?.record(
        null,
        'mdm_unenrolled',
        {
          host_serial: host.hardware_serial,
          host_display_name: displayName(host),
          installed_from_dep: before?.installed_from_dep ?? false,
          mdm_platform: 'apple',
        },
        { hostIds: [host.id] },
      );
      await this.hosts.upsertHostMdm(host.id, {
        enrolled: false,
        server_url: '',
        installed_from_dep: false,
        is_personal_enrollment: false,
        mdm_name: mdmName,
      });
    }
    await this.events.emitCheckedOut({ hostId: host?.id ?? null, hostUuid: e.deviceId, enrollmentId: e.id });
  }

  async commandAndReportResults(r: MdmRequest, report: CommandReport): Promise<void> {
    if (report.status === 'Idle') {
      // A Mac seen after the admin took its unlock PIN has been unlocked (Fleet's rule).
      await this.hostMdm.clearUnlockedMacLock(r.enrollment.deviceId);
      return;
    }
    const requestType = r.notes.reportedRequestType;
    if (!report.commandUuid || !requestType || r.notes.reportDropped) return;
    const result = report.dict;
    if (report.status === 'Acknowledged' && requestType === 'DeviceInformation') {
      await this.applyDeviceInformation(r, result);
    } else if (
      requestType === 'DeviceInformation' &&
      (report.status === 'Error' || report.status === 'CommandFormatError')
    ) {
      // A refused refetch no longer counts as in flight: the refetcher may ask again.
      const host = await this.hosts.findByUuid(r.enrollment.deviceId);
      if (host) await this.hostMdm.clearCommand(host.id, refetchDeviceCommandType);
    }
    if (report.status === 'Acknowledged' && requestType === 'DisableLostMode') {
      await this.hostMdm.clearLostModeLock(r.enrollment.deviceId, false);
    }
    await this.events.emitCommandResult({
      enrollmentId: r.enrollment.id,
      hostUuid: r.enrollment.deviceId,
      commandUuid: report.commandUuid,
      requestType,
      status: report.status,
      raw: r.raw,
      result,
    });
  }

  /**
   * DeviceInformation answers update the host row: name, model, OS version, serial; for a host
   * without osquery also what Fleet's iPhone/iPad refetch writes: disk space (GB, and the share
   * available), the Wi-Fi MAC as primary MAC, and the detail time that makes the host fresh. A Mac
   * with osquery keeps those from osquery (its detail time schedules osquery's own refresh).
   */
  private async applyDeviceInformation(r: MdmRequest, result: Record<string, PlistValue>): Promise<void> {
    const q = result.QueryResponses;
    if (!q || typeof q !== 'object' || Array.isArray(q) || Buffer.isBuffer(q) || q instanceof Date) return;
    const host = await this.hosts.findByUuid(r.enrollment.deviceId);
    if (!host) return;
    const qr = q as Record<string, PlistValue>;
    const platform = host.platform || 'darwin';
    const vitals: Record<string, string> = {};
    const name = str(qr.DeviceName);
    if (name) vitals.computer_name = name;
    const hostname = str(qr.HostName) ?? name;
    if (hostname) vitals.hostname = hostname;
    const model = str(qr.ProductName) ?? str(qr.Model);
    if (model) vitals.hardware_model = model;
    const os = str(qr.OSVersion);
    if (os) vitals.os_version = `${osName[platform] ?? 'macOS'} ${os}`;
    const serial = str(qr.SerialNumber);
    if (serial) vitals.hardware_serial = serial;
    if (Object.keys(vitals).length) await this.hosts.updateVitals(host.id, vitals);
    if (!host.osquery_host_id && this.vitals) {
      const mdmVitals: MdmVitals = { detailUpdatedAt: dbNow() };
      const mac = str(qr.WiFiMAC);
      if (mac && macAddress.test(mac)) mdmVitals.primaryMac = mac;
      const total = num(qr.DeviceCapacity);
      const available = num(qr.AvailableDeviceCapacity);
      if (total !== undefined && available !== undefined && total > 0 && available <= total) {
        mdmVitals.gigsTotalDiskSpace = total;
        mdmVitals.gigsDiskSpaceAvailable = available;
        mdmVitals.percentDiskSpaceAvailable = (100 * available) / total;
      }
      await this.vitals.applyMdmVitals(host.id, mdmVitals);
    }
    // A host with osquery finishes its refetch when osquery reports its details (as Fleet does);
    // clearing the flag here would stop osquery from ever being asked.
    if (!host.osquery_host_id) await this.hosts.setRefetchRequested(host.id, false);
    await this.hostMdm.clearCommand(host.id, refetchDeviceCommandType);
    // An iPhone or iPad reporting Lost Mode off after an unlock was asked for is unlocked.
    if (qr.IsMDMLostModeEnabled === false && platform !== 'darwin') {
      await this.hostMdm.clearLostModeLock(r.enrollment.deviceId, true);
    }
    this.logger?.debug({ hostId: host.id }, 'host vitals updated from DeviceInformation');
  }
}
