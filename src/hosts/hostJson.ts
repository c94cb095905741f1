import { toApiTime } from '../db/dialect.js';
import { enrollmentStatusText, hostSeenAt, hostStatusAt, type HostMdmRow, type HostRow } from './store.js';

/** Fleet's host object as lists show it. */
export function hostJson(h: HostRow) {
  return {
    id: h.id,
    created_at: toApiTime(h.created_at),
    updated_at: toApiTime(h.updated_at),
    uuid: h.uuid,
    hardware_serial: h.hardware_serial,
    hardware_model: h.hardware_model,
    platform: h.platform,
    os_version: h.os_version,
    hostname: h.hostname,
    computer_name: h.computer_name,
    display_name: h.computer_name || h.hostname || h.hardware_serial || h.uuid,
    team_id: h.team_id,
    team_name: h.team_name,
    fleet_id: h.team_id,
    fleet_name: h.team_name,
    last_enrolled_at: toApiTime(h.last_enrolled_at),
    detail_updated_at: toApiTime(h.detail_updated_at),
    label_updated_at: toApiTime(h.label_updated_at),
    // When the host was last seen: the agent's last request, else the time the `status` windows
    // start from (see hostSeenAt).
    seen_time: toApiTime(new Date(hostSeenAt(h))),
    // Fleet sends the zero time for a host that never reported its uptime.
    last_restarted_at: toApiTime(h.last_restarted_at) ?? '0001-01-01T00:00:00Z',
    // Vitals osquery reports (detail queries), with Fleet's names and units (uptime in nanoseconds).
    osquery_version: h.osquery_version,
    build: h.build,
    platform_like: h.platform_like,
    code_name: h.code_name,
    uptime: h.uptime,
    memory: h.memory,
    cpu_type: h.cpu_type,
    cpu_subtype: h.cpu_subtype,
    cpu_brand: h.cpu_brand,
    cpu_physical_cores: h.cpu_physical_cores,
    cpu_logical_cores: h.cpu_logical_cores,
    hardware_vendor: h.hardware_vendor,
    hardware_version: h.hardware_version,
    public_ip: h.public_ip,
    primary_ip: h.primary_ip,
    primary_mac: h.primary_mac,
    distributed_interval: h.distributed_interval,
    config_tls_refresh: h.config_tls_refresh,
    logger_tls_period: h.logger_tls_period,
    refetch_requested: h.refetch_requested,
    // Same windows as the `status` list filter (see hostStatusAt).
    status: hostStatusAt(h),
    // Fleet's HostResponse: display_text is the hostname (display_name falls back further).
    display_text: h.hostname,
    // Fleet shows 0 for a host that has not reported its disks.
    gigs_disk_space_available: h.gigs_disk_space_available ?? 0,
    percent_disk_space_available: h.percent_disk_space_available ?? 0,
    gigs_total_disk_space: h.gigs_total_disk_space ?? 0,
    mdm: hostListMdmJson(h.mdm, h.encryption_key_available),
  };
}

/** The `mdm` object of a host in lists (`GET /hosts`): what Fleet's list query joins in. */
export function hostListMdmJson(m: HostMdmRow | undefined, encryptionKeyAvailable = false) {
  return {
    encryption_key_available: encryptionKeyAvailable,
    enrollment_status: enrollmentStatusText(m),
    dep_profile_error: m?.dep_profile_error ?? false,
    server_url: m?.server_url || null,
    name: m?.mdm_name || null,
    connected_to_fleet: Boolean(m?.enrolled && !m.is_server),
  };
}

/** The `mdm` object of `GET /hosts/:id`; other areas add to it (profiles, disk encryption, actions). */
export function hostMdmJson(m: HostMdmRow | undefined) {
  return {
    ...hostListMdmJson(m),
    id: m?.mdm_id ?? null,
    // Lock/wipe state: Apple's host actions replace these for hosts they have locked or wiped.
    device_status: 'unlocked',
    pending_action: '',
    macos_settings: { disk_encryption: null, action_required: null },
    macos_setup: { bootstrap_package_status: '', detail: '', bootstrap_package_name: '' },
    os_settings: { disk_encryption: { status: null, detail: '' } },
    profiles: null as unknown[] | null,
  };
}
